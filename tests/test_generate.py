"""lab.generate: a problem's completion does not depend on which problems share its batch."""
import torch

import lab
from data import CharTokenizer, World, eval_problems
from model import GPT, GPTConfig, sample

TOK = CharTokenizer()


def test_a_short_problem_is_cut_at_its_own_budget_however_the_rows_are_chunked():
    torch.manual_seed(0)  # an untrained model rarely writes EOS, so every row runs to its budget
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=256, n_layer=1, n_head=2, n_embd=16))
    problems = [p for level in (1, 6) for p in eval_problems(World(), "id", 1) if p.task == "addition"
                and p.difficulty == level][:2]
    assert [p.difficulty for p in problems] == [1, 6]
    budgets = [lab.completion_budget(p) for p in problems]
    assert budgets[0] < budgets[1]
    together = lab.generate(model, TOK, problems, 1, temperature=0.0, batch_rows=2, with_ids=True)
    alone = [lab.generate(model, TOK, [p], 1, temperature=0.0, with_ids=True)[0] for p in problems]
    for p, budget, [(text, finished, ids)], [(text_alone, finished_alone, _)] in zip(
            problems, budgets, together, alone):
        assert len(ids) + finished <= budget, f"level {p.difficulty} ran past its budget {budget}"
        assert (text, finished) == (text_alone, finished_alone)


def test_rows_that_each_fit_the_context_are_sampled_together_as_alone():
    """Left padding lines a batch's prompts up to its longest; a row still needs only its own
    prompt and budget to fit the context (positions are per row), so a long prompt with a short
    budget and a short prompt with a long budget share a batch that the padded width exceeds."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=40, n_layer=1, n_head=2, n_embd=16))
    from model import sample
    prompts, budgets = [[5] * 30, [6] * 4], [9, 35]  # 30 + 9 and 4 + 35 fit 40; 30 + 35 does not
    together = sample(model, prompts, budgets, TOK.eos_id, TOK.pad_id, temperature=0.0)
    for r, (p, b) in enumerate(zip(prompts, budgets)):
        alone = sample(model, [p], b, TOK.eos_id, TOK.pad_id, temperature=0.0)
        assert together.completions[r] == alone.completions[0]
    try:  # a row that does not fit alone is still refused, with its numbers
        sample(model, [[5] * 30], 11, TOK.eos_id, TOK.pad_id)
    except ValueError as e:
        assert "30" in str(e) and "11" in str(e) and "40" in str(e)
    else:
        raise AssertionError("a row longer than the context was sampled")


def test_completion_logprob_is_the_mean_token_log_probability_and_ranks_the_models_own_samples_first():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=16))
    pairs = [("12+34\n", "direct\nans 46"), ("5+7\n", "column\n5+7+0=12\nans 12")]
    # by hand: the first pair alone, no padding
    tokens, is_target = lab.example_tokens(TOK, *pairs[0])
    logits, _ = model(torch.tensor([tokens[:-1]]))
    logp = torch.log_softmax(logits[0], -1)[torch.arange(len(tokens) - 1), torch.tensor(tokens[1:])]
    by_hand = logp[torch.tensor(is_target[1:])].mean().item()
    together, alone = lab.completion_logprob(model, TOK, pairs), lab.completion_logprob(model, TOK, pairs, batch_rows=1)
    assert abs(together[0] - by_hand) < 1e-5
    assert all(abs(a - b) < 1e-5 for a, b in zip(together, alone))  # padding beside a longer row changes nothing
    # the model's own greedy completions lie deeper in its distribution than text it did not write
    prompts = ["3+4\n", "81+9\n", "7+77\n"]
    out = sample(model, [[TOK.bos_id, *TOK.encode(p)] for p in prompts], 12, TOK.eos_id, TOK.pad_id,
                 temperature=0.0)
    own = lab.completion_logprob(model, TOK, [(p, TOK.decode(c)) for p, c in zip(prompts, out.completions)])
    other = lab.completion_logprob(model, TOK, [(p, "direct\nans 7") for p in prompts])
    assert all(a > b for a, b in zip(own, other)), (own, other)
