"""The headline rules (C1-C3) on hand-made predictions and logs: for each, data on which the claim
must hold, and data on which it must not, its negative control among them."""
import json

import pytest

from study import claims, rules
from study import judge as judging
from study.claims import claim_c1, claim_c2, claim_c3
from study.judge import judge, rule_named

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
    assert judging.headline_verdict(judged, []) == "reproduced"
    assert judging.headline_verdict(judged, [judge(rule, rising)]).startswith("not reproduced: the negative control")
    assert judging.headline_verdict([judge(rule, {0: rising[0]})], []) == "indicative (1 seed): held"



def test_the_rules_table_reads_a_run_with_too_few_seeds_from_its_intervals():
    rule = rule_named("C1", "pass@1 rises where RL trains")
    keys = [f"p{i}" for i in range(20)]
    rising = {k: 0.2 + 0.01 * (i % 5) for i, k in enumerate(keys)}
    noisy = {k: (0.6 if i % 2 else -0.5) for i, k in enumerate(keys)}  # mean above 0, interval across it
    one = judging.rule_lines([judge(rule, {0: rising})], [], "none")
    assert "| **yes** (interval only) |" in one[2] and not any("✗" in line for line in one)
    lines = judging.rule_lines([judge(rule, {0: noisy})], [judge(rule, {0: rising})], "a control")
    assert lines[2].count("(interval only)") == 2 and "| no (interval only) |" in lines[2]
    assert lines[2].endswith("| **yes** (interval only) |")  # the control, read the same way
    falling = {k: -v for k, v in rising.items()}
    many = judging.rule_lines([judge(rule, {s: (rising if s else falling) for s in SEEDS})], [], "none")
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
    assert len(claims.lost_problems(*pairs[0])) == 4


def test_c1_does_not_hold_when_rl_also_solves_the_hardest_level(tmp_path):
    pairs, control = c1_dirs(tmp_path, rl=(60, 20), control=(30, 3))
    assert claim_c1(pairs, 2, control).verdict == "not reproduced"


def test_c1_fails_when_the_distillation_control_narrows_too(tmp_path):
    # the control is an arm that can narrow: here it does, so the rules do not single out RL
    pairs, control = c1_dirs(tmp_path, rl=(60, 0), control=(60, 0))
    assert claim_c1(pairs, 2, control).verdict.startswith("not reproduced: the negative control")


def test_a_distilled_control_that_brings_the_hardest_level_does_not_show_narrowing(tmp_path):
    # the control raises pass@1 and solves the hard problems more often: it shows no narrowing
    pairs, control = c1_dirs(tmp_path, rl=(60, 0), control=(60, 20))
    c1 = claim_c1(pairs, 2, control)
    assert c1.verdict == "reproduced"
    text = "\n".join(c1.lines)
    assert "| large-k pass@k falls on the hardest level | < 0 |" in text
    assert "lies wholly below 0 (problems resampled, 4 per seed): **6 of 6**" in text


def test_the_damage_reference_and_sharpening_are_shown_not_judged(tmp_path):
    # the coin flip wrecks the model (pass@1 and pass@k both fall); sharpening keeps the hard level
    pairs, control = c1_dirs(tmp_path, rl=(60, 0), control=(60, 20))
    damage = {s: (b, write_eval(tmp_path / f"coin{s}x", c1_problems(5, 0))) for s, (b, _) in pairs.items()}
    sharp = {s: (b, write_eval(tmp_path / f"sharp{s}", c1_problems(45, 3))) for s, (b, _) in pairs.items()}
    c1 = claim_c1(pairs, 2, control, damage=damage, sharpened=({s: 0.5 for s in pairs}, sharp))
    assert c1.verdict == "reproduced"
    text = "\n".join(c1.lines)
    assert "| coin-flip reward (damage reference) | -0.223 " in text
    assert "the base at temperature 0.5" in text
    # RL loses the hard problems that sharpening keeps: RL narrows more, on every seed
    assert "sharpening's, per problem: -0.639" in text and "(below 0 on 6 of 6 seeds)" in text


def test_large_k_pass_at_k_is_read_from_every_sample_of_the_hardest_level(tmp_path):
    # 256 samples at the hardest level, 64 elsewhere: pass@64 of a problem solved 4 times in 256
    base = write_eval(tmp_path / "b", {"e": (1, [1] * 32 + [0] * 32), "h": (2, [1] * 4 + [0] * 252)})
    rl = write_eval(tmp_path / "r", {"e": (1, [1] * 60 + [0] * 4), "h": (2, [0] * 256)})
    effects, _, k = claims.c1_effects({0: (base, rl)}, 2)
    assert k == 64 and claims.c1_k(64) == 16 and claims.c1_k(8) == 2
    hard = effects["large-k pass@k falls on the hardest level"][0]
    assert list(hard) == ["h"] and hard["h"] == pytest.approx(-claims.pass_at_k(256, 4, 64))
    assert effects["pass@1 rises where RL trains"][0]["e"] == pytest.approx(28 / 64)


def test_the_dose_response_follows_the_run_and_its_crossover_moves_left(tmp_path):
    base = {s: write_eval(tmp_path / f"b{s}", c1_problems(30, 6)) for s in SEEDS}
    by_step = {10: (40, 4), 30: (50, 2), 100: (60, 0)}  # sharper on the easy level, fewer hard solves
    steps = {s: {0: base[s], **{t: write_eval(tmp_path / f"s{s}-{t}", c1_problems(*v)) for t, v in by_step.items()}}
             for s in SEEDS}
    rows = claims.dose_response(steps, 2, 16)
    assert [r[0] for r in rows] == [10, 30, 100]
    one, hard = [r[1][0] for r in rows], [r[2][0] for r in rows]
    assert one == sorted(one) and one[0] > 0 and hard == sorted(hard, reverse=True) and hard[-1] < hard[0] < 0
    assert all(r[3] == len(SEEDS) for r in rows)
    cross = [next(iter(r[4].values())) for r in rows]
    assert all(c is not None for c in cross) and cross == sorted(cross, reverse=True)
    # an arm above the base at every k never crosses
    b = claims.load_predictions(base[0])
    assert claims.crossover_k(b, b, 2) is None


def test_the_sharpening_temperature_matches_rls_pass_at_1():
    from study.runs import matching_temperature
    passes = {0.25: 0.80, 0.5: 0.70, 0.75: 0.60, 1.0: 0.50}
    assert matching_temperature(passes, 0.65) == 0.6   # between 0.5 and 0.75, rounded to 0.05
    assert matching_temperature(passes, 0.50) == 1.0   # the base already matches
    assert matching_temperature(passes, 0.95) == 0.25  # out of reach: the sharpest of the grid
    assert matching_temperature(passes, 0.30) == 1.0   # RL below the base: no sharpening matches


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
