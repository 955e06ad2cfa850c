"""Verifiers against rendered traces of every format and against corrupted ones."""
import random

import pytest

from data import TASKS
from data import addition, chain, compare, modular

LEVELS = range(1, 9)


def problems(task, count=30, seed=0):
    rng = random.Random(seed)
    module = TASKS[task]
    return [module.sample(rng, rng.choice(LEVELS)) for _ in range(count)]


@pytest.mark.parametrize("task", list(TASKS))
def test_every_rendered_format_verifies_as_correct_and_well_formed(task):
    module = TASKS[task]
    for problem in problems(task):
        for fmt in module.FORMATS:
            verdict = module.verify(problem, module.render_completion(problem, fmt))
            assert verdict.correct and verdict.well_formed and verdict.format == fmt
            assert verdict.steps_correct == verdict.steps_required == verdict.steps_written


def test_addition_steps_compute_the_sum():
    rng = random.Random(1)
    for _ in range(300):
        a, b = rng.randrange(10 ** rng.randint(1, 9)), rng.randrange(10 ** rng.randint(1, 9))
        problem = addition.make(a, b)
        for fmt, width in (("column", 1), ("chunk", 2)):
            steps = addition.reference_steps(problem, fmt)
            sums = [s.split("=")[1] for s in steps]
            digits = "".join(s[-width:] for s in reversed(sums))
            carry = sums[-1][0]
            assert int(carry + digits) == a + b


def test_modular_steps_follow_left_to_right_semantics():
    p = modular.make(3, (("+", 5), ("*", 2), ("-", 4)))
    assert p.answer == str(((3 + 5) * 2 - 4) % 7)
    assert modular.reference_steps(p, "steps") == ["3+5=1", "1*2=2", "2-4=5"]
    assert modular.is_composed(p)


def test_chain_follows_the_facts():
    p = chain.make((("q", "m"), ("p", "q"), ("m", "x"), ("k", "z")), "p", 3)
    assert p.answer == "x" and chain.reference_steps(p, "chain") == ["p>q", "q>m", "m>x"]


def test_compare_writes_both_additions_and_their_totals():
    p = compare.make(48, 7, 19, 30)
    assert p.answer == "a" and p.prompt == "48+7?19+30\n"
    assert compare.reference_steps(p, "column") == ["8+7+0=15", "4+0+1=05", "=55",
                                                     "9+0+0=09", "1+3+0=04", "=49"]
    with pytest.raises(ValueError):
        compare.make(1, 2, 2, 1)  # equal sums have no larger one
    rng = random.Random(0)
    for level in range(1, 6):
        for _ in range(50):
            q = compare.sample(rng, level)
            a, b, c, d = q.data
            assert a + b != c + d and q.difficulty == level == max(len(str(n)) for n in q.data)


def test_a_compare_chain_with_a_wrong_sum_can_still_answer_right():
    """What C8 needs: the right answer through a wrong step (a hollow chain)."""
    p = compare.make(4821, 367, 5102, 93)  # 5188 < 5195
    lines = compare.render_completion(p, "column").split("\n")
    lines[5] = "=5189"  # the first total, off by one: still below 5195
    verdict = compare.verify(p, "\n".join(lines))
    assert verdict.correct and verdict.well_formed
    assert verdict.steps_correct == verdict.steps_required - 1


@pytest.mark.parametrize("task", list(TASKS))
def test_a_wrong_final_answer_is_wrong_even_when_the_right_one_appears_earlier(task):
    module = TASKS[task]
    for problem in problems(task, 10):
        text = module.render_completion(problem, module.FORMATS[0])
        wrong = "0" if problem.answer != "0" else "1"
        if task == "chain":
            wrong = "a" if problem.answer != "a" else "b"
        corrupted = text.rsplit("\n", 1)[0] + f"\nans {problem.answer}\nans {wrong}"
        assert not module.verify(problem, corrupted).correct
        assert not module.verify(problem, text + "\n").correct            # answer not on the last line
        assert not module.verify(problem, text + "0").correct             # no prefix credit
        assert not module.verify(problem, f"ans {problem.answer} ").correct


@pytest.mark.parametrize("task", list(TASKS))
def test_a_corrupted_step_is_counted_and_a_malformed_one_breaks_well_formedness(task):
    module = TASKS[task]
    for problem in problems(task, 20, seed=3):
        fmt = module.FORMATS[0]
        lines = module.render_completion(problem, fmt).split("\n")
        if len(lines) < 3:
            continue
        step = lines[1]
        changed = step[:-1] + ("0" if step[-1] != "0" else "1") if task != "chain" else \
            step[:-1] + ("a" if step[-1] != "a" else "b")
        verdict = module.verify(problem, "\n".join([lines[0], changed, *lines[2:]]))
        assert verdict.well_formed and verdict.correct  # the answer line is still right
        assert verdict.steps_correct == verdict.steps_required - 1
        malformed = module.verify(problem, "\n".join([lines[0], "x" + step, *lines[2:]]))
        assert not malformed.well_formed and malformed.correct


def test_unknown_format_and_missing_answer_are_not_well_formed():
    problem = addition.make(12, 34)
    assert addition.verify(problem, "").well_formed is False
    verdict = addition.verify(problem, "columns\n2+4+0=06\nans 46")
    assert verdict.format is None and not verdict.well_formed and verdict.correct
    assert not addition.verify(problem, "column\n2+4+0=06\n1+3+0=04").well_formed
    assert not addition.verify(problem, "direct\n2+4+0=06\nans 46").well_formed
