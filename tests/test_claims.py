"""The claims' arithmetic on hand-made predictions: arms evaluated with different sample counts
are compared on the same number of samples."""
import json

import pytest

from study import claims, stats


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


SEEDS = range(6)  # enough for the sign test to decide (6 of 6: p = 0.016)


def write_arm(path, problems, task="addition"):
    """problems: {key: (split, level, number right of 4 samples)} -> an evaluation directory."""
    path.mkdir(parents=True)
    with open(path / "predictions.jsonl", "w") as f:
        for key, (split, level, right) in problems.items():
            f.write(json.dumps({"key": key, "prompt": key, "split": split, "task": task, "level": level,
                                "correct": [1] * right + [0] * (4 - right), "completions": ["ans 1"] * 4,
                                "well_formed": [True] * 4, "format": ["direct"] * 4, "steps_required": [0] * 4,
                                "steps_correct": [0] * 4, "steps_written": [0] * 4}) + "\n")
    return str(path)


def arms_of(tmp_path, rates, splits=None):
    """rates: {arm: {key: (level, right of 4)}} -> {arm: eval dir}; keys named in `splits` are
    in that split (default: id)."""
    splits = splits or {}
    return {arm: write_arm(tmp_path / arm.replace(" ", "").replace(">", ""),
                           {key: (splits.get(key, "id"), level, right) for key, (level, right) in problems.items()})
            for arm, problems in rates.items()}


def held_rules(claim):
    """{rule name: held} read back from a claim's rules table."""
    rows = [line.split(" | ") for line in claim.lines if line.startswith("| ") and " of 6 | " in line]
    return {cells[0][2:]: cells[5] == "**yes**" for cells in rows}


def write_counts(path, problems):
    """problems: {key: (split, level, right, samples)} -> an evaluation directory."""
    path.mkdir(parents=True)
    with open(path / "predictions.jsonl", "w") as f:
        for key, (split, level, right, n) in problems.items():
            f.write(json.dumps({"key": key, "prompt": key, "split": split, "task": "addition", "level": level,
                                "correct": [1] * right + [0] * (n - right)}) + "\n")
    return str(path)


def c4_arms(tmp_path, seed, patterns_long=0, patterns_top=0, new_top=8, new_long=3):
    """Levels 1-2 pretrained (2 the hardest, 16 samples a problem), 3-4 the longer held-out ones
    (4 samples). The base solves level 1 in 2 of 4, level 2's problems in 1 of 16 (its reach at
    k = 4: a quarter) and nothing longer. The patterns-only arm raises level 1 and solves
    `patterns_top` of 16 at level 2 and `patterns_long` of 4 on the longer ones; the new arm
    `new_top` of 16 at level 2 and `new_long` of 4 on the longer ones."""
    def arm(level1, top, long):
        return {"a": ("id", 1, level1, 4), "b": ("id", 1, level1, 4), **{f"t{i}": ("id", 2, top, 16) for i in range(4)},
                "L1": ("length", 3, long, 4), "L2": ("length", 4, long, 4)}
    return {name: write_counts(tmp_path / f"{seed}-{name}", problems) for name, problems in
            {"base": arm(2, 1, 0), "patterns": arm(4, patterns_top, patterns_long),
             "new": arm(4, new_top, new_long)}.items()}


def test_c4_holds_when_new_knowledge_brings_capability_and_patterns_only_narrows(tmp_path):
    c4 = claims.claim_c4({s: c4_arms(tmp_path, s) for s in SEEDS}, top_level=2)
    assert c4.verdict == "reproduced" and all(held_rules(c4).values()) and len(held_rules(c4)) == 3
    assert "at k = 4" in "\n".join(c4.lines)


def test_c4_fails_when_patterns_only_reaches_the_longer_problems_as_far(tmp_path):
    c4 = claims.claim_c4({s: c4_arms(tmp_path, s, patterns_long=3) for s in SEEDS}, top_level=2)
    held = held_rules(c4)
    assert c4.verdict == "not reproduced" and not held["new knowledge raises capability"]
    assert held["patterns-only distillation lowers pass@k on the hardest level"]


def test_c4_fails_when_patterns_only_keeps_the_hardest_level(tmp_path):
    c4 = claims.claim_c4({s: c4_arms(tmp_path, s, patterns_top=8) for s in SEEDS}, top_level=2)
    held = held_rules(c4)
    assert c4.verdict == "not reproduced" and not held["patterns-only distillation lowers pass@k on the hardest level"]


def test_c4_control_shows_it_when_the_new_arm_narrows_as_well(tmp_path):
    c4 = claims.claim_c4({s: c4_arms(tmp_path, s, new_top=0) for s in SEEDS}, top_level=2)
    assert c4.verdict.startswith("not reproduced: the negative control shows the effect")


def c5_arms(tmp_path, long_solved):
    """Four arms on levels 1-2 (trained) and 3 (longer); distill -> RLVR solves level 3 in
    `long_solved` of 4 samples."""
    rates = {"base": (2, 0), "distill": (3, 1), "RLVR": (4, 0), "distill -> RLVR": (4, long_solved)}
    return arms_of(tmp_path, {arm: {"a": (1, short), "b": (2, short), "c": (3, long_)}
                              for arm, (short, long_) in rates.items()}, splits={"c": "length"})


def test_c5_holds_when_rl_after_distillation_beats_both(tmp_path):
    c5 = claims.claim_c5({s: c5_arms(tmp_path / str(s), long_solved=2) for s in SEEDS}, {}, top_level=2)
    assert c5.verdict == "reproduced" and all(held_rules(c5).values())
    row = next(line for line in c5.lines if line.startswith("| 0 | distill -> RLVR |"))
    assert "| 1.000 | 0.500 |" in row  # pass@1 on the trained lengths, then on the longer ones


def test_c5_fails_when_rl_after_distillation_loses_the_longer_additions(tmp_path):
    c5 = claims.claim_c5({s: c5_arms(tmp_path / str(s), long_solved=0) for s in SEEDS}, {}, top_level=2)
    held = held_rules(c5)
    # it beats distillation on the trained lengths but loses level 3; it only ties RLVR
    assert c5.verdict == "not reproduced" and not held["distill -> RLVR beats RLVR alone"]


def c6_arms(tmp_path, hard_zero_variance, edge_right):
    levels = {"a": 1, "b": 2}
    dirs = arms_of(tmp_path, {arm: {k: (lv, right) for k, lv in levels.items()} for arm, right in
                              (("base", 1), ("uniform", 2), ("easy", 2), ("hard", 1), ("edge", edge_right))})
    metrics = lambda zero: [{"zero_variance_groups": zero, "reward": 0.5}] * 3
    return {arm: (dirs["base"], dirs[arm], metrics(hard_zero_variance if arm == "hard" else 0.2))
            for arm in ("uniform", "easy", "hard", "edge")}


def test_c6_holds_when_edge_data_helps_most_and_hard_data_gives_no_signal(tmp_path):
    c6 = claims.claim_c6({s: c6_arms(tmp_path / str(s), 0.97, edge_right=3) for s in SEEDS}, steps=30)
    assert c6.verdict == "reproduced" and len(held_rules(c6)) == 3


def test_c6_fails_when_the_hard_arm_gets_a_signal_or_edge_data_does_not_help(tmp_path):
    c6 = claims.claim_c6({s: c6_arms(tmp_path / str(s), 0.5, edge_right=3) for s in SEEDS}, steps=30)
    assert c6.verdict == "not reproduced" and not held_rules(c6)["too-hard data gives no learning signal"]
    c6 = claims.claim_c6({s: c6_arms(tmp_path / f"e{s}", 0.97, edge_right=2) for s in SEEDS}, steps=30)
    assert not held_rules(c6)["edge-of-competence data beats uniform data"]


def c7_runs(tmp_path, lengths, rl_changed):
    """A base, an RL checkpoint that changes `rl_changed` of 10 entries, an SFT checkpoint that
    changes 5; RL logs whose completion length goes from lengths[0] to lengths[1]."""
    import torch
    base = torch.zeros(10)
    paths = {}
    for name, changed in (("base", 0), ("rl", rl_changed), ("sft", 5)):
        w = base.clone()
        w[:changed] = 1.0
        paths[name] = str(tmp_path / f"{name}.pt")
        torch.save({"model": {"w": w}}, paths[name])
    metrics = [{"length": lengths[0] if i < 10 else lengths[1], "formats": {"column": 1.0},
                "length_by_format": {"column": lengths[0] if i < 10 else lengths[1]}} for i in range(20)]
    return metrics, paths["base"], paths["rl"], paths["sft"]


def test_c7_holds_when_rl_shortens_chains_with_a_sparser_update(tmp_path):
    c7 = claims.claim_c7({s: c7_runs(tmp_path, (30.0, 25.0 - s), rl_changed=2) for s in SEEDS})
    assert c7.verdict == "reproduced" and len(held_rules(c7)) == 2


def test_c7_fails_when_chains_grow_or_rl_changes_more_than_sft(tmp_path):
    c7 = claims.claim_c7({s: c7_runs(tmp_path, (30.0, 31.0 + s), rl_changed=2) for s in SEEDS})
    assert c7.verdict == "not reproduced" and not held_rules(c7)["RL shortens chains"]
    c7 = claims.claim_c7({s: c7_runs(tmp_path, (30.0, 25.0), rl_changed=8) for s in SEEDS})
    assert not held_rules(c7)["the RL update is sparser than SFT's"]


def test_hollow_chains_are_right_answers_with_a_wrong_step(tmp_path):
    (tmp_path / "e").mkdir()
    record = {"key": "q", "split": "id", "task": "chain", "level": 2,
              "correct": [True, True, False, True], "format": ["chain", "chain", "chain", "direct"],
              "steps_required": [2, 2, 2, 0], "steps_correct": [2, 1, 0, 0], "steps_written": [2, 2, 2, 0]}
    (tmp_path / "e" / "predictions.jsonl").write_text(json.dumps(record) + "\n")
    q = claims.chain_quality(str(tmp_path / "e"), task="chain")
    # three chains (the direct answer has none); two right answers, one of them through a wrong step
    assert q["chains"] == 3 and q["accuracy"] == pytest.approx(2 / 3)
    assert q["chain_share"] == pytest.approx(3 / 4) and q["all_accuracy"] == pytest.approx(3 / 4)
    assert q["hollow"] == pytest.approx(1 / 2)
    assert q["step_correctness"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert claims.chain_quality(str(tmp_path / "e"))["chains"] == 0  # no addition here


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
    c8 = claims.claim_c8({s: arms for s in SEEDS}, task="compare")
    assert c8.verdict == "reproduced" and len(held_rules(c8)) == 3
    # asked on another task, these predictions hold no chains: nothing can hold
    assert not any(held_rules(claims.claim_c8({s: arms for s in SEEDS}, task="chain")).values())
    # a student whose right answers are no more hollow than the base's
    arms["distill"] = c8_eval(tmp_path / "d2", "compare", [1, 1, 1, 0], [6, 6, 6, 3])
    c8 = claims.claim_c8({s: arms for s in SEEDS}, task="compare")
    assert c8.verdict == "not reproduced" and not held_rules(c8)["distillation's right answers are more often hollow"]
    assert claims.c8_task({"addition": 0.6, "compare": 0.2, "chain": 0.2}) == "compare"
    assert claims.c8_task({"addition": 0.6, "chain": 0.2}) == "chain"
    assert claims.c8_task({"addition": 1.0}) is None


def c9_arms(tmp_path, random_right):
    levels = {"a": 1, "b": 2, "c": 2}
    return arms_of(tmp_path, {arm: {k: (lv, right) for k, lv in levels.items()} for arm, right in
                              (("base", 0), ("full", 4), ("one problem", 3), ("random reward", random_right),
                               ("format reward", 0))})


def test_c9_holds_when_one_problem_and_a_coin_flip_each_recover_half_the_gain(tmp_path):
    c9 = claims.claim_c9({s: c9_arms(tmp_path / str(s), random_right=3) for s in SEEDS})
    assert c9.verdict == "reproduced" and len(held_rules(c9)) == 3


def test_c9_fails_when_the_coin_flip_recovers_less_than_half(tmp_path):
    # full RLVR: +1.0 pass@1; the coin flip +0.25: a quarter, under half (a ratio would not be needed)
    c9 = claims.claim_c9({s: c9_arms(tmp_path / str(s), random_right=1) for s in SEEDS})
    held = held_rules(c9)
    assert c9.verdict == "not reproduced" and not held["a coin-flip reward recovers half the gain"]
    assert held["one problem recovers half the gain"] and held["full RLVR raises pass@1"]


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
    w = claims.what_it_writes(str(tmp_path / "e"))
    assert w["well_formed"] == pytest.approx(3 / 4)
    assert w["step_correctness"] == pytest.approx((1 + 0 + 0.5 + 0.5) / 4)
    assert (w["common"], w["common_share"]) == ("7", pytest.approx(2 / 4))  # the garbage has no answer
    assert w["example"] == ("101+2\n", "column\n1+2+0=03\nans 7")  # the 3-digit problem's first sample
    assert claims.one_line(w["example"][1]) == "`column / 1+2+0=03 / ans 7`"
