"""The rules of the three mechanisms (C10-C12) on hand-made logs, weights and predictions: for each,
data on which the claim must hold, data on which it must not, and a control that shows the effect
(which must make the claim fail)."""
import json

import pytest
import torch

from study import rules
from study.claims import claim_c10, claim_c11, claim_c12, entropy_phases, quarters

SEEDS = range(6)  # enough for the sign test to decide (6 of 6: p = 0.016)
CONTROL_SHOWS = "not reproduced: the negative control shows the effect, so the rule does not measure it"


def test_every_mechanism_has_rules_and_a_control_judged_on_them():
    for claim in ("C10", "C11", "C12"):
        names = {r.name for r in rules.RULES if r.claim == claim}
        assert len(names) == 2 and set(rules.CONTROLS[claim][1]) <= names


# ---------------------------------------------------------------- C10: two phases of entropy

def log(execution, plan):
    """A per-step RL log from two lists of entropies (None: a step with no update)."""
    return [{"step": i + 1, "entropy_execution": e, "entropy_plan": p} for i, (e, p) in enumerate(zip(execution, plan))]


def falling(n, start=1.0, end=0.4):
    return [start + (end - start) * i / (n - 1) for i in range(n)]


def test_quarters_leave_out_steps_without_a_value():
    assert quarters(log([1, 2, None, 4, 5, 6, 7, 8], [0] * 8), "entropy_execution") == [1.5, 4.0, 5.5, 7.5]
    assert entropy_phases(log([None] * 4, [1.0] * 4))[1] == [pytest.approx(float("nan"), nan_ok=True)] * 4


def test_c10_holds_when_execution_settles_and_the_plan_rises_later():
    # execution falls over the run; the plan falls, then rises in the second half
    plan = falling(50, 0.8, 0.2) + falling(50, 0.2, 0.9)
    runs = {s: log(falling(100), plan) for s in SEEDS}
    flat = {s: log([0.7 + 0.01 * (i % 3) for i in range(30)], [0.5] * 30) for s in SEEDS}  # the coin flip
    assert claim_c10(runs, flat).verdict == "reproduced"
    # a plan entropy that keeps falling (the format collapse): the second rule fails
    assert claim_c10({s: log(falling(100), falling(100, 0.8, 0.0)) for s in SEEDS}, flat).verdict == "not reproduced"
    # an execution entropy that rises: the first rule fails
    assert claim_c10({s: log(falling(100, 0.4, 1.0), plan) for s in SEEDS}, flat).verdict == "not reproduced"
    # the coin flip settles the execution just as well: the rule does not measure the reward's work
    assert claim_c10(runs, {s: log(falling(30), [0.5] * 30) for s in SEEDS}).verdict == CONTROL_SHOWS


# ---------------------------------------------------------------- C11: recurring updates

def weights(tmp_path, name, changed, seed=0, base=None):
    """A checkpoint whose weights are `base`'s (or fresh ones) plus a change at `changed`, a boolean
    mask over one tensor of 4,000 entries (1% of them: 40), and a tiny noise everywhere."""
    g = torch.Generator().manual_seed(seed)
    w0 = base if base is not None else torch.randn(4000, generator=g)
    w = w0 + 1e-4 * torch.randn(4000, generator=g) + changed.float()
    path = tmp_path / f"{name}.pt"
    torch.save({"model": {"w": w}}, path)
    return path, w0


def entries(start, count=40):
    mask = torch.zeros(4000, dtype=torch.bool)
    mask[start:start + count] = True
    return mask


def c11_runs(tmp_path, rl_same=True, sft_same=False, shared_position=False):
    """Per seed: a base, two RL runs (the same 40 entries, or other ones), two SFT runs. Every seed's
    RL runs change the entries at `seed * 100`, or all of them the first 40 (`shared_position`)."""
    runs = {}
    for s in SEEDS:
        base_path, w0 = weights(tmp_path, f"base{s}", entries(0, 0), seed=100 + s)
        where = 0 if shared_position else 1000 + s * 100
        rl_a, _ = weights(tmp_path, f"rl{s}a", entries(where), seed=s, base=w0)
        rl_b, _ = weights(tmp_path, f"rl{s}b", entries(where if rl_same else where + 50), seed=s + 10, base=w0)
        sft_a, _ = weights(tmp_path, f"sft{s}a", entries(3000), seed=s + 20, base=w0)
        sft_b, _ = weights(tmp_path, f"sft{s}b", entries(3000 if sft_same else 3500), seed=s + 30, base=w0)
        runs[s] = (base_path, rl_a, rl_b, sft_a, sft_b)
    return runs


def test_c11_holds_when_rl_seeds_change_the_same_weights_and_sft_seeds_do_not(tmp_path):
    found = claim_c11(c11_runs(tmp_path))
    assert found.verdict == "reproduced"
    rl, sft, cross, chance = found.figure[0]
    assert rl == 1.0 and sft == 0.0 and cross == 0.0 and chance == pytest.approx(0.01 / 1.99)


def test_c11_fails_when_rl_seeds_change_other_weights_or_sft_recurs_as_much(tmp_path):
    assert claim_c11(c11_runs(tmp_path, rl_same=False)).verdict == "not reproduced"
    assert claim_c11(c11_runs(tmp_path, sft_same=True)).verdict == "not reproduced"


def test_c11_control_shows_it_when_every_network_changes_the_same_positions(tmp_path):
    # unrelated bases whose RL runs all change the first 40 entries: recurrence by position alone
    assert claim_c11(c11_runs(tmp_path, shared_position=True)).verdict == CONTROL_SHOWS


def test_c11_on_one_seed_has_no_control(tmp_path):
    runs = c11_runs(tmp_path)
    found = claim_c11({0: runs[0]})
    assert found.verdict == "indicative (1 seed): held" and "needs at least two seeds" in "\n".join(found.lines)


# ---------------------------------------------------------------- C12: right answers under the base

def predictions(directory, problems):
    """An evaluation directory: problems {key: (level, completions, correct)}."""
    directory.mkdir()
    with open(directory / "predictions.jsonl", "w") as f:
        for key, (level, completions, correct) in problems.items():
            f.write(json.dumps({"split": "id", "task": "addition", "key": key, "level": level, "prompt": f"q{key}",
                                "perturbation": {}, "completions": completions, "correct": correct}) + "\n")
    return directory


def c12_arms(tmp_path, rl_texts, coin_texts, coin_solves=lambda seed, problem: True):
    """Per seed, a base that writes answer "a" (half of its right answers) and "b"; an RL arm and
    a coin-flip arm that write the given texts, all right (the coin flip's only on the problems
    `coin_solves`). Scores: "a" and "b" are likely under the base, any other text is not."""
    arms, scores = {}, {}
    for s in SEEDS:
        problems = [f"{level}-{i}" for level in (1, 2) for i in range(8)]
        base_texts = ["a", "b"] * 4
        d = {"base": predictions(tmp_path / f"base{s}", {k: (int(k[0]), base_texts, [True] * 8) for k in problems}),
             "RLVR": predictions(tmp_path / f"rl{s}", {k: (int(k[0]), rl_texts, [True] * len(rl_texts)) for k in problems}),
             "coin flip": predictions(tmp_path / f"coin{s}", {k: (int(k[0]), coin_texts,
                                                                [coin_solves(s, k)] * len(coin_texts))
                                                            for k in problems})}
        arms[s] = d
        scores[s] = {(f"q{k}", t): (-0.1 if t in ("a", "b") else -2.0 - 0.1 * (i % 3))
                     for i, k in enumerate(problems) for t in {"a", "b", *rl_texts, *coin_texts}}
    return arms, scores


def test_c12_holds_when_rl_writes_right_answers_the_base_does_not(tmp_path):
    found = claim_c12(*c12_arms(tmp_path, ["c", "c", "a", "d"], ["a", "b", "a", "b"]))
    assert found.verdict == "reproduced"
    assert len(found.figure["RLVR"]) == len(SEEDS) * 16 * 4


def test_c12_fails_when_rl_writes_what_the_base_writes(tmp_path):
    # RL keeps one of the base's own answers: as likely under the base, and nothing new
    assert claim_c12(*c12_arms(tmp_path, ["a", "a", "a", "a"], ["a", "b", "a", "b"])).verdict == "not reproduced"


def test_c12_control_shows_it_when_the_coin_flip_drifts_as_far(tmp_path):
    assert claim_c12(*c12_arms(tmp_path, ["c", "c", "a", "d"], ["e", "e", "f", "b"])).verdict == CONTROL_SHOWS


def test_c12_control_is_judged_when_no_problem_has_a_coin_flip_right_answer_on_every_seed(tmp_path):
    # On the ten confirmation seeds the control read nan: its problems were intersected across
    # seeds. Here each seed's coin flip solves its own quarter of the problems.
    own_quarter = lambda seed, problem: int(problem.split("-")[1]) % 4 == seed % 4
    found = claim_c12(*c12_arms(tmp_path, ["c", "c", "a", "d"], ["e", "e", "f", "b"], own_quarter))
    assert found.verdict == CONTROL_SHOWS and "nan" not in "\n".join(found.lines)
