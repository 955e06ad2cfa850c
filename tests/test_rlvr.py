"""GRPO: advantages, the loss on a fixed batch, and a tiny run end to end."""
import dataclasses
import json
import os

import pytest
import torch

import lab
import pretrain
import rlvr
from data import CharTokenizer
from model import GPT, GPTConfig


def small_policy(seed=0):
    torch.manual_seed(seed)
    tok = CharTokenizer()
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=2, n_embd=32)), tok


def fixed_batch(tok):
    """Two prompts, two completions each; in each group the first is rewarded, the second not."""
    prompts = ["12+34\n", "5+7\n"]
    completions = [["column\n2+4+0=06\n1+3+0=04\nans 46", "direct\nans 19"],
                   ["chunk\n05+07+0=012\nans 12", "column\n5+7+0=11\nans 11"]]
    prompt_ids, completion_ids = [], []
    for p, group in zip(prompts, completions):
        for c in group:
            prompt_ids.append([tok.bos_id, *tok.encode(p)])
            completion_ids.append(tok.encode(c))
    x, y = lab.completion_rows(tok, prompt_ids, completion_ids, [True] * 4, "cpu")
    rewards = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    return x, y, rewards


def sequence_logprobs(model, x, y):
    with torch.no_grad():
        logp, _ = rlvr.token_logprobs(model, x, y)
    return logp.sum(1)


def test_advantages_are_centred_per_group_and_zero_for_a_constant_group():
    rewards = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    for scale in (True, False):
        adv = rlvr.group_advantages(rewards, scale)
        assert torch.all(adv[0] == 0) and torch.all(adv[2] == 0)
        assert adv[1].sum().abs() < 1e-6 and adv[1, 1] > 0 > adv[1, 0]
    # GRPO divides by the group std, Dr. GRPO does not
    assert rlvr.group_advantages(rewards, False)[1, 1] == pytest.approx(0.75)
    assert rlvr.group_advantages(rewards, True)[1, 1] == pytest.approx(0.75 / 0.5, rel=1e-3)


def test_targets_are_the_completion_and_eos_only():
    tok = CharTokenizer()
    x, y = lab.completion_rows(tok, [[tok.bos_id, *tok.encode("1+2\n")]], [tok.encode("direct\nans 3")],
                               [True], "cpu")
    targets = [t for t in y[0].tolist() if t != -1]
    assert targets == tok.encode("direct\nans 3") + [tok.eos_id]
    # a truncated completion has no EOS target
    _, y = lab.completion_rows(tok, [[tok.bos_id, *tok.encode("1+2\n")]], [tok.encode("direct\nan")],
                               [False], "cpu")
    assert [t for t in y[0].tolist() if t != -1] == tok.encode("direct\nan")


def test_one_update_raises_rewarded_samples_against_their_group():
    policy, tok = small_policy()
    x, y, rewards = fixed_batch(tok)
    config = dataclasses.replace(rlvr.RLConfig(), lr=1e-3)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=0.0)
    before = sequence_logprobs(policy, x, y)
    adv = rlvr.group_advantages(rewards, config.scale_std).view(-1)
    rlvr.policy_update(policy, None, optimizer, x, y, adv, config, (y != -1).sum().item(), "cpu")
    after = sequence_logprobs(policy, x, y)
    rewarded = rewards.view(-1) == 1
    assert torch.all(after[rewarded] > before[rewarded])
    # within each group the rewarded completion gains on the unrewarded one (the two can share
    # tokens, so the unrewarded one need not fall on its own)
    gap = lambda lp: lp.view(2, 2)[:, 0] - lp.view(2, 2)[:, 1]
    assert torch.all(gap(after) > gap(before))


def test_zero_variance_groups_contribute_no_gradient():
    policy, tok = small_policy()
    x, y, _ = fixed_batch(tok)
    config = rlvr.RLConfig()
    mask = (y != -1).float()

    def gradient(adv, rows):
        policy.zero_grad()
        logp, _ = rlvr.token_logprobs(policy, x[rows], y[rows])
        loss, _, _ = rlvr.grpo_loss(logp, logp.detach(), None, adv, mask[rows], config, mask.sum())
        loss.backward()
        return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in policy.parameters()]

    # every group constant: no gradient at all
    zero = gradient(torch.zeros(4), slice(None))
    assert all(torch.all(g == 0) for g in zero)
    # a batch with a zero-variance group gives the same gradient as the batch without it
    adv = torch.tensor([1.0, -1.0, 0.0, 0.0])
    with_group = gradient(adv, slice(None))
    without = gradient(adv[:2], slice(0, 2))
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(with_group, without))
    assert any(g.abs().sum() > 0 for g in with_group)


def test_kl_penalty_is_zero_against_itself_and_positive_after_a_change():
    policy, tok = small_policy()
    x, y, _ = fixed_batch(tok)
    config = dataclasses.replace(rlvr.RLConfig(), beta=0.1)
    mask = (y != -1).float()
    logp, _ = rlvr.token_logprobs(policy, x, y)
    _, _, kl = rlvr.grpo_loss(logp, logp.detach(), logp.detach(), torch.zeros(4), mask, config, mask.sum())
    assert kl.item() == pytest.approx(0.0, abs=1e-7)
    other, _ = small_policy(seed=1)
    ref, _ = rlvr.token_logprobs(other, x, y)
    _, _, kl = rlvr.grpo_loss(logp, logp.detach(), ref.detach(), torch.zeros(4), mask, config, mask.sum())
    assert kl.item() > 0


def test_ppo_ratio_is_clipped_on_later_updates():
    policy, tok = small_policy()
    x, y, rewards = fixed_batch(tok)
    config = dataclasses.replace(rlvr.RLConfig(), lr=1e-2, updates=4, clip=0.05)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=0.0)
    adv = rlvr.group_advantages(rewards, True).view(-1)
    out = rlvr.policy_update(policy, None, optimizer, x, y, adv, config, (y != -1).sum().item(), "cpu")
    assert out["clip_frac"] > 0


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    work = tmp_path_factory.mktemp("rl")
    config = dataclasses.replace(pretrain.PRESETS["tiny"], steps=120)
    ckpt = pretrain.train(config, str(work / "base"), quiet=True)
    return work, ckpt


@pytest.mark.slow
def test_a_tiny_rl_run_logs_every_step_and_is_deterministic(tiny_base):
    work, ckpt = tiny_base
    config = dataclasses.replace(rlvr.PRESETS["tiny"], base=ckpt, steps=3)
    runs = []
    for name in ("a", "b"):
        out = str(work / name)
        os.makedirs(out)
        rlvr.train(config, out, quiet=True)
        runs.append([json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))])
        assert {"ckpt.pt", "summary.json", "rl.png", "samples.txt"} <= set(os.listdir(out))
    a, b = runs
    assert [m["step"] for m in a] == [1, 2, 3]
    for m in a:
        assert abs(sum(m["formats"].values()) - 1) < 1e-9
        assert 0 <= m["zero_variance_groups"] <= 1 and 0 <= m["truncated"] <= 1
    strip = lambda ms: [{k: v for k, v in m.items() if k != "seconds"} for m in ms]
    assert strip(a) == strip(b)


@pytest.mark.slow
def test_rl_resume_matches_an_uninterrupted_run(tiny_base):
    work, ckpt = tiny_base
    config = dataclasses.replace(rlvr.PRESETS["tiny"], base=ckpt, steps=4, checkpoint_every=2)
    full = str(work / "full")
    os.makedirs(full)
    rlvr.train(config, full, quiet=True)
    part = str(work / "part")
    os.makedirs(part)
    rlvr.train(dataclasses.replace(config, steps=2), part, quiet=True)  # as if killed after step 2
    # the resumed run must use the same settings as the one it continues
    rlvr.lab.write_json(os.path.join(part, "config.json"), dataclasses.asdict(config))
    rlvr.train(config, part, resume_from=os.path.join(part, "ckpt.pt"), quiet=True)
    a = torch.load(os.path.join(full, "ckpt.pt"), weights_only=True)["model"]
    b = torch.load(os.path.join(part, "ckpt.pt"), weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_steps_reward_pays_only_a_right_answer_reached_through_right_steps():
    from data import compare
    p = compare.make(4821, 367, 5102, 93)
    right = compare.render_completion(p, "column")
    hollow = right.replace("=5188", "=5189")  # a wrong total, the comparison still right
    rng = None  # only the random reward draws
    assert rlvr.reward_of(compare.verify(p, right), True, "steps", rng) == 1.0
    assert rlvr.reward_of(compare.verify(p, hollow), True, "correct", rng) == 1.0
    assert rlvr.reward_of(compare.verify(p, hollow), True, "steps", rng) == 0.0
    assert rlvr.reward_of(compare.verify(p, "direct\nans b"), True, "steps", rng) == 0.0  # no chain
    assert rlvr.reward_of(compare.verify(p, right + "\n=1"), True, "steps", rng) == 0.0  # not the last line
    assert rlvr.reward_of(compare.verify(p, right), False, "steps", rng) == 0.0  # truncated


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_the_loss_scores_each_token_under_the_distribution_the_sampler_drew_it_from(temperature):
    policy, tok = small_policy()
    x, y, _ = fixed_batch(tok)
    with torch.no_grad():
        logp, _ = rlvr.token_logprobs(policy, x, y, temperature)
        sampler = torch.log_softmax(policy(x)[0].float() / temperature, -1)  # what `sample` draws from
    mask = y != -1
    expected = sampler.gather(-1, y.clamp(min=0)[..., None]).squeeze(-1)
    assert torch.allclose(logp[mask], expected[mask], atol=1e-5)
    assert torch.all(logp[~mask] == 0)
    with torch.no_grad():
        untempered, _ = rlvr.token_logprobs(policy, x, y)
    assert not torch.allclose(logp[mask], untempered[mask], atol=1e-3)


def test_the_random_reward_is_a_coin_flip_whatever_the_sample():
    import random
    from data import Verdict
    wrong = Verdict(False, False, None, None, 0, 0, 0)
    right = Verdict(True, True, "column", "3", 1, 1, 1)
    draws = {}
    for name, verdict, finished in (("truncated", wrong, False), ("wrong", wrong, True), ("right", right, True)):
        rng = random.Random(7)
        draws[name] = [rlvr.reward_of(verdict, finished, "random", rng) for _ in range(400)]
    assert draws["truncated"] == draws["wrong"] == draws["right"]  # the same coin, whatever was written
    assert 0.4 < sum(draws["truncated"]) / 400 < 0.6
    # every other reward pays 0 to a truncated sample
    assert all(rlvr.reward_of(right, False, kind, random.Random(0)) == 0 for kind in ("correct", "steps", "format"))


@pytest.mark.slow
def test_a_kept_step_is_the_model_a_run_that_short_ends_with(tiny_base):
    # C1 reads the main run part-way and C2 its first steps as if they were a shorter run: with a
    # constant learning rate, the copy kept at step 3 of a 5-step run is a 3-step run's end
    work, ckpt = tiny_base
    config = dataclasses.replace(rlvr.PRESETS["tiny"], base=ckpt, steps=5, snapshots=[3])
    long, short = str(work / "long"), str(work / "short")
    for out, cfg in ((long, config), (short, dataclasses.replace(config, steps=3, snapshots=[]))):
        os.makedirs(out)
        rlvr.train(cfg, out, quiet=True)
    kept = torch.load(os.path.join(long, "step3.pt"), weights_only=True)
    end = torch.load(os.path.join(short, "ckpt.pt"), weights_only=True)["model"]
    assert kept["finished"] and kept["step"] == 3 and not os.path.exists(os.path.join(short, "step3.pt"))
    assert all(torch.equal(kept["model"][k], end[k]) for k in end)
    first = [json.loads(line) for line in open(os.path.join(long, "metrics.jsonl"))][:3]
    strip = lambda ms: [{k: v for k, v in m.items() if k != "seconds"} for m in ms]
    assert strip(first) == strip([json.loads(line) for line in open(os.path.join(short, "metrics.jsonl"))])


def test_levels_can_be_drawn_as_rare_as_pretraining_drew_them():
    from data.world import World
    world = World()
    counts = {}
    for weights in ("uniform", "pretraining"):
        config = dataclasses.replace(rlvr.PRESETS["default"], level_weights=weights, prompts=2000)
        source = rlvr.ProblemSource(config, world, {"addition": list(range(1, 7))}, "test")
        levels = [p.difficulty for p in source.draw()]
        counts[weights] = {lvl: levels.count(lvl) / len(levels) for lvl in range(1, 7)}
    assert all(abs(v - 1 / 6) < 0.03 for v in counts["uniform"].values())
    w = world.difficulty_weights["addition"]
    assert all(abs(counts["pretraining"][lvl] - w[lvl - 1] / sum(w)) < 0.02 for lvl in range(1, 7))
    assert counts["pretraining"][6] < 0.05  # the hardest level stays rare


def test_the_plan_is_the_completions_first_line_and_the_entropy_splits_exactly():
    policy, tok = small_policy()
    x, y, rewards = fixed_batch(tok)
    plan = rlvr.plan_tokens(y, rlvr.NEWLINE)
    headers = ["column\n", "direct\n", "chunk\n", "column\n"]
    for row, header in enumerate(headers):
        assert y[row][plan[row].bool()].tolist() == tok.encode(header)  # the prompt's newline is not in it
    assert rlvr.plan_tokens(torch.tensor([[-1, -1, 5, 6]]), rlvr.NEWLINE).tolist() == [[0, 0, 1, 1]]  # no newline: all plan
    config = rlvr.RLConfig()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-4, weight_decay=0.0)
    out = rlvr.policy_update(policy, None, optimizer, x, y, rlvr.group_advantages(rewards, True).view(-1),
                             config, (y != -1).sum().item(), "cpu")
    n_plan, n_all = plan.sum().item(), (y != -1).sum().item()
    assert out["entropy_plan"] != pytest.approx(out["entropy_execution"])
    assert (n_plan * out["entropy_plan"] + (n_all - n_plan) * out["entropy_execution"]) / n_all == \
        pytest.approx(out["entropy"], rel=1e-5)
