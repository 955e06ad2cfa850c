import os

import pytest
import torch

import lab
from data import CharTokenizer
from model import (GPT, CheckpointError, GPTConfig, load_checkpoint, model_from_checkpoint,
                   sample, save_checkpoint)

TOK = CharTokenizer()


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=96, n_layer=2, n_head=2, n_embd=32))


def prompts():
    texts = ["123456+654321\n", "1+2\n", "mod7 3+5*2\n", "q>m p>q | p 2\n"]
    return [[TOK.bos_id, *TOK.encode(t)] for t in texts] * 6


# the three ways to decode: the KV cache (dropping stopped rows), the cache with every step's
# shapes fixed (what CUDA graphs need), and re-encoding the whole sequence (the reference)
MODES = {"cache": {}, "fixed shape": {"fixed_shape": True}, "naive": {"use_cache": False}}


@pytest.mark.parametrize("eos_id", [TOK.eos_id, 3, 7])  # 3 and 7: frequent EOS, many early stops
def test_kv_cache_and_fixed_shape_sampling_equal_uncached_sampling_for_the_same_seed(eos_id):
    model = tiny_model()
    runs = {}
    for mode, how in MODES.items():
        g = torch.Generator().manual_seed(5)
        runs[mode] = sample(model, prompts(), 40, eos_id, TOK.pad_id, generator=g, **how)
    for mode in ("cache", "fixed shape"):
        assert runs[mode].completions == runs["naive"].completions
        assert runs[mode].finished == runs["naive"].finished
    # with every EOS id some rows stop early and some run to the budget: the cached sampler drops
    # stopped rows, and the comparison covers rows of both kinds
    assert len(prompts()) // 4 < sum(runs["naive"].finished) < len(prompts())


def recorded_graphs(model, fixed_shape, new_tokens):
    """Compile the forward pass with dynamo, recording each graph it makes, and sample with it."""
    graphs = []

    def record(graph, example_inputs):
        graphs.append(graph)
        return graph.forward
    torch._dynamo.reset()
    model.forward = torch.compile(model.forward, backend=record, fullgraph=True, dynamic=False)
    with torch._dynamo.config.patch(recompile_limit=64):
        out = sample(model, prompts(), new_tokens, 3, TOK.pad_id, generator=torch.Generator().manual_seed(5),
                     fixed_shape=fixed_shape)
    torch._dynamo.reset()
    return graphs, out


def test_one_recorded_decode_step_replays_at_every_position():
    # what a CUDA graph needs: a decode step that takes no value from Python, so the step
    # recorded once gives the right tokens at every position. dynamo records a new graph whenever
    # a value it read from Python changes; fixed-shape decoding must need exactly two graphs
    # (the prefill, and one decode step for all 40 positions) and give eager's tokens
    eager = sample(tiny_model(), prompts(), 40, 3, TOK.pad_id, generator=torch.Generator().manual_seed(5))
    graphs, out = recorded_graphs(tiny_model(), fixed_shape=True, new_tokens=40)
    assert len(graphs) == 2
    assert out.completions == eager.completions and out.finished == eager.finished
    # the control: the dynamic sampler reads its write position from Python and changes shape
    # as rows drop, so each of its steps is a new graph
    graphs, _ = recorded_graphs(tiny_model(), fixed_shape=False, new_tokens=3)
    assert len(graphs) == 3


def test_fixed_shape_decoding_needs_the_cache():
    with pytest.raises(ValueError, match="use_cache"):
        sample(tiny_model(), prompts(), 5, TOK.eos_id, TOK.pad_id, use_cache=False, fixed_shape=True)


def test_left_padding_does_not_change_a_row():
    model = tiny_model(1)
    batch = sample(model, prompts(), 20, TOK.eos_id, TOK.pad_id, temperature=0)
    for i, p in enumerate(prompts()[:4]):
        alone = sample(model, [p], 20, TOK.eos_id, TOK.pad_id, temperature=0)
        assert alone.completions[0] == batch.completions[i]


def test_same_seed_same_samples_other_seed_other_samples():
    model = tiny_model()
    draw = lambda s: sample(model, prompts(), 30, TOK.eos_id, TOK.pad_id,
                            generator=torch.Generator().manual_seed(s)).completions
    assert draw(1) == draw(1) and draw(1) != draw(2)


def test_targets_of_minus_one_carry_no_loss():
    model = tiny_model()
    x = torch.randint(0, TOK.vocab_size, (2, 16))
    y = x.clone()
    y[:, :8] = -1
    _, per_token = model(x, y, loss_reduction="none")
    assert per_token.shape == (2, 16) and torch.all(per_token[:, :8] == 0)
    assert torch.all(per_token[:, 8:] > 0)
    _, mean = model(x, y)
    assert mean.item() == pytest.approx(per_token[:, 8:].mean().item(), rel=1e-5)


def test_checkpoint_round_trip_and_atomic_write(tmp_path):
    model = tiny_model()
    path = tmp_path / "ckpt.pt"
    payload = {"model": model.state_dict(), "model_config": vars(model.config).copy(),
               "tokenizer": TOK.spec()}
    save_checkpoint(str(path), payload)
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temp file left behind
    loaded = model_from_checkpoint(load_checkpoint(str(path), TOK.spec()))
    x = torch.randint(0, TOK.vocab_size, (1, 10))
    assert torch.equal(loaded(x)[0], model(x)[0])


def test_bad_checkpoints_raise_checkpoint_error(tmp_path):
    model = tiny_model()
    good = tmp_path / "good.pt"
    save_checkpoint(str(good), {"model": model.state_dict(), "model_config": vars(model.config).copy(),
                                "tokenizer": TOK.spec()})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:500])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": 1}, foreign)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    for path in (tmp_path / "missing.pt", truncated, foreign, text):
        with pytest.raises(CheckpointError):
            load_checkpoint(str(path), TOK.spec())
    with pytest.raises(CheckpointError, match="another tokenizer"):
        load_checkpoint(str(good), {"kind": "other"})
    wrong_size = load_checkpoint(str(good))
    wrong_size["model_config"]["n_embd"] = 64
    with pytest.raises(CheckpointError):
        model_from_checkpoint(wrong_size)


@pytest.mark.parametrize("mode", MODES)
def test_each_row_stops_at_its_own_budget_and_the_others_are_unchanged(mode):
    model = tiny_model()
    budgets = [3, 40, 7, 40] * 6
    g = lambda: torch.Generator().manual_seed(5)
    own = sample(model, prompts(), budgets, 3, TOK.pad_id, generator=g(), **MODES[mode])
    shared = sample(model, prompts(), 40, 3, TOK.pad_id, generator=g(), **MODES[mode])
    for row, (mine, theirs, budget) in enumerate(zip(own.completions, shared.completions, budgets)):
        assert len(mine) <= budget
        if budget == 40:  # rows with the longest budget see exactly the same draws
            assert mine == theirs and own.finished[row] == shared.finished[row]
        else:  # a shorter row is the shared row cut at its budget (EOS within it: finished)
            cut_at_eos = shared.finished[row] and len(theirs) < budget
            assert mine == (theirs if cut_at_eos else theirs[:budget])
            assert own.finished[row] == cut_at_eos


@pytest.mark.parametrize("mode", ["cache", "fixed shape"])
def test_a_prompt_shared_by_many_rows_is_run_through_the_model_once(mode):
    # prompts() holds 4 distinct prompts, each 6 times: the prefill must see 4 rows, not 24, and
    # the tokens must be those of the reference that runs every row's prompt (the naive sampler)
    model = tiny_model()
    seen = []
    forward = model.forward

    def counting(idx, **kw):
        seen.append(tuple(idx.shape))
        return forward(idx, **kw)
    model.forward = counting
    out = sample(model, prompts(), 12, 3, TOK.pad_id, generator=torch.Generator().manual_seed(5), **MODES[mode])
    P = max(len(p) for p in prompts())
    assert seen[0] == (4, P) and all(shape[1] == 1 for shape in seen[1:])
    model.forward = forward
    naive = sample(model, prompts(), 12, 3, TOK.pad_id, generator=torch.Generator().manual_seed(5), use_cache=False)
    assert out.completions == naive.completions
    # the control: distinct prompts are each run (one row per prompt, none merged)
    seen.clear()
    model.forward = counting
    sample(model, prompts()[:4], 5, 3, TOK.pad_id, generator=torch.Generator().manual_seed(5), **MODES[mode])
    assert seen[0] == (4, P)


@pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="torch without MKL")
def test_mkl_may_not_drop_threads_once_lab_is_imported(capfd):
    """MKL's dynamic mode may run a product on fewer threads than asked, which changes the last
    bits of a gradient between identical runs; lab turns it off. MKL's verbose mode prints the
    mode of each product (Dyn:0 or Dyn:1) on the process's standard output."""
    def mode_of_a_product():
        capfd.readouterr()
        with torch.backends.mkl.verbose(torch.backends.mkl.VERBOSE_ON):
            a = torch.ones(64, 64)
            a @ a
        out = capfd.readouterr().out
        assert "SGEMM" in out
        return "Dyn:0" if "Dyn:0" in out and "Dyn:1" not in out else "Dyn:1"
    lab.fix_mkl_threads(dynamic=True)  # the control: MKL's default, which the check must see
    try:
        assert mode_of_a_product() == "Dyn:1"
    finally:
        lab.fix_mkl_threads()
    assert mode_of_a_product() == "Dyn:0"


def test_a_bf16_cache_samples_nearly_as_fp32():
    """The bf16 cache (an option) rounds keys and values, so a draw near a tie may tip: most
    samples are fp32's. The control: other draws (another seed) fail the same check."""
    model, eos = tiny_model(), TOK.vocab_size + 1  # no EOS: every row runs its whole budget
    def draw(seed=3, **kw):
        return sample(model, prompts(), 30, eos, TOK.pad_id, generator=torch.Generator().manual_seed(seed), **kw)
    def share_equal(a, b):
        return sum(x == y for x, y in zip(a.completions, b.completions)) / len(prompts())
    fp32, bf16 = draw(), draw(cache_dtype=torch.bfloat16)
    assert [c[0] for c in bf16.completions] == [c[0] for c in fp32.completions]  # from the fp32 prefill
    assert share_equal(fp32, bf16) >= 0.75
    assert share_equal(fp32, draw(seed=4, cache_dtype=torch.bfloat16)) < 0.75
