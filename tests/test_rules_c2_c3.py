"""The headline rules (C1-C3) on hand-made predictions and logs: for each, data on which the claim
must hold, and data on which it must not, its negative control among them."""
import json

import pytest

from study import rules
from study.rules import claim_c1, claim_c2, claim_c3, judge, rule_named

SEEDS = range(6)  # enough for the sign test to decide (6 of 6: p = 0.016)


# ---------------------------------------------------------------- the statistic

def test_a_rule_holds_only_when_the_pooled_interval_and_the_sign_test_agree():
    rule = rule_named("C1", "pass@1 rises where RL trains")
    keys = [f"p{i}" for i in range(20)]
    rising = {s: {k: 0.2 + 0.01 * (i % 5) for i, k in enumerate(keys)} for s in SEEDS}
    assert judge(rule, rising).held
    # one seed rising a lot, the others falling a little: the mean is above 0 but the seeds disagree
    split = {s: {k: (2.0 if s == 0 else -0.05) + 0.01 * (i % 5) for i, k in enumerate(keys)} for s in SEEDS}
    judged = judge(rule, split)
    assert judged.pooled[0] > 0 and judged.agreeing == 1 and not judged.held
    # the same effect on too few seeds for the sign test: not held, whatever the interval says
    few = judge(rule, {s: rising[s] for s in range(3)})
    assert few.interval_held and not few.held


def test_a_control_that_shows_the_effect_makes_the_claim_fail():
    rule = rule_named("C1", "pass@1 rises where RL trains")
    keys = [f"p{i}" for i in range(10)]
    rising = {s: {k: 0.3 + 0.01 * (i % 3) for i, k in enumerate(keys)} for s in SEEDS}
    judged = [judge(rule, rising)]
    assert rules.headline_verdict(judged, []) == "reproduced"
    assert rules.headline_verdict(judged, [judge(rule, rising)]).startswith("not reproduced: the negative control")
    assert rules.headline_verdict([judge(rule, {0: rising[0]})], []) == "indicative (1 seed): held"



def test_the_rules_table_reads_a_run_with_too_few_seeds_from_its_intervals():
    rule = rule_named("C1", "pass@1 rises where RL trains")
    keys = [f"p{i}" for i in range(20)]
    rising = {k: 0.2 + 0.01 * (i % 5) for i, k in enumerate(keys)}
    noisy = {k: (0.6 if i % 2 else -0.5) for i, k in enumerate(keys)}  # mean above 0, interval across it
    one = rules.rule_lines([judge(rule, {0: rising})], [], "none")
    assert "| **yes** (interval only) |" in one[2] and not any("✗" in line for line in one)
    lines = rules.rule_lines([judge(rule, {0: noisy})], [judge(rule, {0: rising})], "a control")
    assert lines[2].count("(interval only)") == 2 and "| no (interval only) |" in lines[2]
    assert lines[2].endswith("| **yes** (interval only) |")  # the control, read the same way
    falling = {k: -v for k, v in rising.items()}
    many = rules.rule_lines([judge(rule, {s: (rising if s else falling) for s in SEEDS})], [], "none")
    assert "interval only" not in many[2] and many[-1].startswith("✗")  # seed 0 is on the wrong side

def test_every_headline_claim_has_rules_and_a_control():
    for claim in rules.HEADLINE:
        names = {r.name for r in rules.RULES if r.claim == claim}
        assert names and set(rules.CONTROLS[claim][1]) <= names
    assert all(r.direction in "<>" for r in rules.RULES)


# ---------------------------------------------------------------- C1

def write_eval(path, problems):
    """problems: {key: (level, [correct flags])} -> an evaluation directory."""
    path.mkdir()
    with open(path / "predictions.jsonl", "w") as f:
        for key, (level, correct) in problems.items():
            f.write(json.dumps({"key": key, "split": "id", "task": "addition", "level": level, "prompt": key,
                                "correct": correct, "format": ["column"] * len(correct)}) + "\n")
    return str(path)


def c1_problems(easy, hard, n=64):
    solved = lambda c: [1] * c + [0] * (n - c)
    return {**{f"e{i}": (1, solved(easy + i)) for i in range(4)},
            **{f"h{i}": (2, solved(hard + (i % 2 if hard else 0))) for i in range(4)}}


def c1_dirs(tmp_path, rl, control):
    out = {}
    for s in SEEDS:
        base = write_eval(tmp_path / f"base{s}", c1_problems(30, 3))   # level 2 solved rarely
        out[s] = (base, write_eval(tmp_path / f"rl{s}", c1_problems(*rl)),
                  write_eval(tmp_path / f"coin{s}", c1_problems(*control)))
    return ({s: (b, r) for s, (b, r, _) in out.items()}, {s: (b, c) for s, (b, _, c) in out.items()})


def test_c1_holds_when_rl_sharpens_the_easy_level_and_loses_hard_problems_the_base_solved(tmp_path):
    pairs, control = c1_dirs(tmp_path, rl=(60, 0), control=(30, 3))
    c1 = claim_c1(pairs, 2, control)
    assert c1.verdict == "reproduced" and all(c1.held.values())
    # the 2-digit problems the base solved 3 or 4 times in 64 and RL never: 4 per seed
    assert "RL never did, all seeds: 24;" in "\n".join(c1.lines)
    assert len(rules.lost_problems(*pairs[0])) == 4


def test_c1_does_not_hold_when_rl_also_solves_the_hardest_level(tmp_path):
    pairs, control = c1_dirs(tmp_path, rl=(60, 20), control=(30, 3))
    assert claim_c1(pairs, 2, control).verdict == "not reproduced"


def test_c1_fails_when_the_coin_flip_control_narrows_too(tmp_path):
    pairs, control = c1_dirs(tmp_path, rl=(60, 0), control=(60, 0))
    assert claim_c1(pairs, 2, control).verdict.startswith("not reproduced: the negative control")


def test_a_control_that_only_damages_the_model_does_not_show_narrowing(tmp_path):
    # the coin flip wrecks the model: pass@n falls on the hardest level, but pass@1 falls too
    pairs, control = c1_dirs(tmp_path, rl=(60, 0), control=(5, 0))
    c1 = claim_c1(pairs, 2, control)
    assert c1.verdict == "reproduced"
    assert "| pass@n falls on the hardest level | < 0 |" in "\n".join(c1.lines)


# ---------------------------------------------------------------- C2

def steps(shares, n):
    return [{"step": s, "formats": shares(s)} for s in range(1, n + 1)]


def collapse(s):
    x = min(1.0, 0.45 + s / 20)
    return {"column": x, "chunk": (1 - x) * 0.6, "direct": (1 - x) * 0.4}


def even(s):
    return {"column": 0.45, "chunk": 0.35, "direct": 0.2}


def test_c2_holds_when_one_format_takes_over_and_the_kl_run_keeps_the_others():
    c2 = claim_c2({s: (steps(collapse, 60), steps(even, 60)) for s in SEEDS},
                  {s: steps(even, 60) for s in SEEDS}, 0.3)
    assert c2.verdict == "reproduced"


def test_c2_does_not_hold_when_unparsed_samples_take_over():
    garbage = lambda s: {"unknown": 0.95, "column": 0.03, "chunk": 0.02}
    c2 = claim_c2({s: (steps(garbage, 60), steps(even, 60)) for s in SEEDS},
                  {s: steps(even, 60) for s in SEEDS}, 0.3)
    assert c2.verdict == "not reproduced"


def test_c2_does_not_hold_when_the_kl_run_collapses_as_fast():
    c2 = claim_c2({s: (steps(collapse, 60), steps(collapse, 60)) for s in SEEDS},
                  {s: steps(even, 60) for s in SEEDS}, 0.3)
    assert c2.verdict == "not reproduced"


def test_c2_fails_when_the_coin_flip_run_collapses_too():
    c2 = claim_c2({s: (steps(collapse, 60), steps(even, 60)) for s in SEEDS},
                  {s: steps(collapse, 60) for s in SEEDS}, 0.3)
    assert c2.verdict.startswith("not reproduced: the negative control")


# ---------------------------------------------------------------- C3

def write_c3_eval(path, id_acc, shifted, fluent=0.9, splits=("id", "length", "composition", "format"), n=20):
    """An evaluation of addition and modular problems: pass@1 id_acc in distribution and
    `shifted` on the shifted splits, with a share `fluent` of the wrong samples well-formed."""
    path.mkdir()
    with open(path / "predictions.jsonl", "w") as f:
        for split in splits:
            acc = id_acc if split == "id" else shifted
            for task in ("addition", "modular"):
                if split == "composition" and task != "modular":
                    continue
                for i in range(6):
                    right = round(acc * n)
                    wrong_formed = round(fluent * (n - right))
                    pert = {"perturbation": "spaces", "strength": 1 + i % 3} if split == "format" else {}
                    f.write(json.dumps({"key": f"{task}{i}", "split": split, "task": task, "level": 1 + i % 3,
                                        "perturbation": pert, "correct": [1] * right + [0] * (n - right),
                                        "well_formed": [1] * right + [1] * wrong_formed + [0] * (n - right - wrong_formed)}) + "\n")
    return str(path)


def c3_dirs(tmp_path, student, base=(0.7, 0.6)):
    return ({s: write_c3_eval(tmp_path / f"student{s}", *student) for s in SEEDS},
            {s: write_c3_eval(tmp_path / f"base{s}", *base) for s in SEEDS})


def test_c3_holds_when_a_near_perfect_student_fails_every_shift_fluently(tmp_path):
    c3 = claim_c3(*c3_dirs(tmp_path, (0.97, 0.1)))
    assert c3.verdict == "reproduced"


@pytest.mark.parametrize("student", [(0.97, 0.9), (0.97, 0.1, 0.2), (0.6, 0.1)],
                         ids=["generalises", "writes-nonsense", "not-near-perfect"])
def test_c3_does_not_hold_when_the_student_generalises_writes_nonsense_or_is_not_near_perfect(tmp_path, student):
    assert claim_c3(*c3_dirs(tmp_path, student)).verdict == "not reproduced"


def test_c3_does_not_hold_when_a_shifted_axis_was_not_evaluated(tmp_path):
    students = {s: write_c3_eval(tmp_path / f"student{s}", 0.97, 0.1, splits=("id", "length", "format")) for s in SEEDS}
    bases = {s: write_c3_eval(tmp_path / f"base{s}", 0.7, 0.6) for s in SEEDS}
    assert claim_c3(students, bases).verdict == "not reproduced"


def test_c3_fails_when_the_base_shows_the_same_pattern(tmp_path):
    c3 = claim_c3(*c3_dirs(tmp_path, (0.97, 0.1), base=(0.97, 0.1)))
    assert c3.verdict.startswith("not reproduced: the negative control")
