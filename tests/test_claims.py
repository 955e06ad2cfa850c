"""The claims' arithmetic on hand-made predictions: arms evaluated with different sample counts
are compared on the same number of samples."""
import json

import pytest

from study import rules, stats


def write_eval(path, problems, top=None):
    """problems: {key: (level, [correct flags])} -> an evaluation directory with predictions
    (levels above `top` in the length split)."""
    path.mkdir()
    with open(path / "predictions.jsonl", "w") as f:
        for key, (level, correct) in problems.items():
            split = "length" if top is not None and level > top else "id"
            f.write(json.dumps({"key": key, "split": split, "task": "addition", "level": level,
                                "correct": correct}) + "\n")
    return str(path)


def test_an_arm_with_fewer_samples_is_compared_on_its_own_count(tmp_path):
    # base: 8 samples, the first 4 all wrong and the last 4 all right; arm: 4 samples, all right
    base = write_eval(tmp_path / "base", {"a": (1, [0] * 4 + [1] * 4), "b": (2, [0] * 4 + [1] * 4)})
    arm = write_eval(tmp_path / "arm", {"a": (1, [1] * 4), "b": (2, [1] * 4)})
    assert stats.sample_count(base, arm) == 4
    d1, dn, n = stats.arm_changes(base, arm)
    assert n == 4  # the base's first 4 samples: pass@1 0 and pass@4 0, the arm's 1 and 1
    assert [values for _, values in d1] == [[1.0], [1.0]]
    assert [values for _, values in dn] == [[1.0], [1.0]]
    # levels weigh equally, whatever their problem counts
    assert [w for w, _ in d1] == [1.0, 1.0]


def test_a_common_count_can_be_imposed(tmp_path):
    base = write_eval(tmp_path / "base", {"a": (1, [1, 0, 0, 0])})
    arm = write_eval(tmp_path / "arm", {"a": (1, [1, 1, 0, 0])})
    d1, dn, n = stats.arm_changes(base, arm, n=2)
    assert n == 2
    assert d1[0][1][0] == pytest.approx(1.0 - 0.5)  # pass@1 from the first two samples
    assert dn[0][1][0] == pytest.approx(0.0)        # both solve it within 2 samples


def c5_arms(tmp_path, long_solved):
    """Four arms on levels 1-2 (trained) and 3 (longer); distill -> RLVR solves level 3 in
    `long_solved` of 4 samples."""
    rates = {"base": (2, 0), "distill": (3, 1), "RLVR": (4, 0), "distill -> RLVR": (4, long_solved)}
    return {name: write_eval(tmp_path / name.replace(" ", "").replace(">", ""), {
        "a": (1, [1] * short + [0] * (4 - short)), "b": (2, [1] * short + [0] * (4 - short)),
        "c": (3, [1] * long_ + [0] * (4 - long_))}, top=2) for name, (short, long_) in rates.items()}


def test_c5_counts_the_longer_additions_the_teacher_brings(tmp_path):
    arms = c5_arms(tmp_path, long_solved=2)
    c5 = rules.claim_c5({0: arms}, {}, top_level=2)
    assert c5.held == {0: True}  # best pass@1 over levels 1-3, and pass@4 not below distill's
    row = next(line for line in c5.lines if "| 0 | distill -> RLVR |" in line)
    assert "| 1.000 | 0.500 |" in row  # pass@1 on the trained lengths, then on the longer ones


def test_c5_does_not_hold_when_rl_after_distillation_loses_the_longer_additions(tmp_path):
    arms = c5_arms(tmp_path, long_solved=0)
    c5 = rules.claim_c5({0: arms}, {}, top_level=2)
    # distill -> RLVR ties RLVR on pass@1 at best and loses distillation's level-3 capability
    assert c5.held == {0: False}


def test_hollow_chains_are_right_answers_with_a_wrong_step(tmp_path):
    (tmp_path / "e").mkdir()
    record = {"key": "q", "split": "id", "task": "chain", "level": 2,
              "correct": [True, True, False, True], "format": ["chain", "chain", "chain", "direct"],
              "steps_required": [2, 2, 2, 0], "steps_correct": [2, 1, 0, 0], "steps_written": [2, 2, 2, 0]}
    (tmp_path / "e" / "predictions.jsonl").write_text(json.dumps(record) + "\n")
    q = rules.chain_quality(str(tmp_path / "e"), task="chain")
    # three chains (the direct answer has none); two right answers, one of them through a wrong step
    assert q["chains"] == 3 and q["accuracy"] == pytest.approx(2 / 3)
    assert q["chain_share"] == pytest.approx(3 / 4) and q["all_accuracy"] == pytest.approx(3 / 4)
    assert q["hollow"] == pytest.approx(1 / 2)
    assert q["step_correctness"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert rules.chain_quality(str(tmp_path / "e"))["chains"] == 0  # no addition here


def c8_eval(path, task, correct, steps_correct):
    """One compare-style problem with 4 column chains of 6 steps each."""
    path.mkdir()
    record = {"key": "q", "split": "id", "task": task, "level": 2, "correct": correct,
              "format": ["column"] * 4, "steps_required": [6] * 4, "steps_correct": steps_correct,
              "steps_written": [6] * 4}
    (path / "predictions.jsonl").write_text(json.dumps(record) + "\n")
    return str(path)


def test_c8_is_judged_on_the_task_it_is_given(tmp_path):
    """Distillation: more right answers, more of them hollow; RLVR: every step right."""
    arms = {"base": c8_eval(tmp_path / "b", "compare", [1, 1, 0, 0], [6, 6, 3, 3]),
            "RLVR": c8_eval(tmp_path / "r", "compare", [1, 1, 1, 0], [6, 6, 6, 6]),
            "distill": c8_eval(tmp_path / "d", "compare", [1, 1, 1, 0], [6, 5, 4, 3])}
    assert rules.claim_c8({0: arms}, task="compare").held == {0: True}
    # asked on another task, these predictions hold no chains: nothing can hold
    assert rules.claim_c8({0: arms}, task="chain").held == {0: False}
    assert rules.c8_task({"addition": 0.6, "compare": 0.2, "chain": 0.2}) == "compare"
    assert rules.c8_task({"addition": 0.6, "chain": 0.2}) == "chain"
    assert rules.c8_task({"addition": 1.0}) is None


def test_what_a_run_writes_counts_form_steps_and_a_collapsed_answer(tmp_path):
    """C9's table of what each run writes: a run that answers 7 everywhere shows it."""
    (tmp_path / "e").mkdir()
    common = {"split": "id", "task": "addition", "format": ["column"] * 2, "steps_required": [2, 2],
              "steps_written": [2, 2], "greedy": "", "greedy_correct": False}
    records = [
        {**common, "key": "12+3\n", "prompt": "12+3\n", "level": 2, "correct": [False, False],
         "well_formed": [True, False], "steps_correct": [2, 0],
         "completions": ["column\n2+3+0=05\n1+0+0=01\nans 7", "garbage"]},
        {**common, "key": "101+2\n", "prompt": "101+2\n", "level": 3, "correct": [False, False],
         "well_formed": [True, True], "steps_correct": [1, 1],
         "completions": ["column\n1+2+0=03\nans 7", "column\n1+2+0=03\nans 103"]}]
    (tmp_path / "e" / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    w = rules.what_it_writes(str(tmp_path / "e"))
    assert w["well_formed"] == pytest.approx(3 / 4)
    assert w["step_correctness"] == pytest.approx((1 + 0 + 0.5 + 0.5) / 4)
    assert (w["common"], w["common_share"]) == ("7", pytest.approx(2 / 4))  # the garbage has no answer
    assert w["example"] == ("101+2\n", "column\n1+2+0=03\nans 7")  # the 3-digit problem's first sample
    assert rules.one_line(w["example"][1]) == "`column / 1+2+0=03 / ans 7`"
