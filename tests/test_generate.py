"""lab.generate: a problem's completion does not depend on which problems share its batch."""
import torch

import lab
from data import CharTokenizer, World, eval_problems
from model import GPT, GPTConfig

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
