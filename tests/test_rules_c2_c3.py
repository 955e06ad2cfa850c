"""C2's and C3's rules on hand-made logs and metrics: each must hold where the phenomenon is there
and must not hold where it is not (a rule that cannot fail is a broken rule)."""
from study.rules import claim_c2, claim_c3


def steps(shares, n, start=1):
    """RL log lines whose format shares are shares(step)."""
    return [{"step": s, "formats": shares(s)} for s in range(start, start + n)]


def collapse_at(step):
    return lambda s: {"column": 0.95, "chunk": 0.05} if s >= step else {"column": 0.5, "chunk": 0.5}


def even(s):
    return {"column": 0.5, "chunk": 0.5}


def test_c2_holds_when_one_format_takes_over_early_and_the_kl_run_keeps_the_others():
    claim = claim_c2({0: (steps(collapse_at(10), 100), steps(even, 50), 0.3)})
    assert claim.held == {0: True}


def test_c2_does_not_hold_when_unparsed_samples_take_over():
    garbage = lambda s: {"column": 0.03, "chunk": 0.02, "unknown": 0.95} if s >= 2 else even(s)
    claim = claim_c2({0: (steps(garbage, 100), steps(even, 50), 0.3)})
    assert claim.held == {0: False}  # `unknown` is no format: nothing collapsed onto a format


def test_c2_does_not_hold_when_the_collapse_comes_after_the_kl_run_has_ended():
    # beta 0 crosses 90% at step 80; the beta > 0 run has only 50 steps, so "later or never"
    # cannot be told from "not yet"
    late = lambda s: {"column": 0.95, "chunk": 0.05} if s >= 80 else {"column": 0.7, "chunk": 0.3}
    claim = claim_c2({0: (steps(late, 100), steps(even, 50), 0.3)})
    assert claim.held == {0: False}


def metrics(id_acc, shifted, fluent=0.9, axes=("length", "composition", "format")):
    groups = {f"id/{t}/{level}": {"pass_at_k": {"1": id_acc}} for t in ("addition", "modular") for level in (1, 2)}
    for axis in ("id", *axes):
        for t in ("addition", "modular"):
            groups[f"{axis}/{t}"] = {"pass_at_k": {"1": shifted}, "fluent_share_of_wrong": fluent,
                                     "well_formed": fluent, "well_formed_wrong": fluent,
                                     "steps_written_vs_required": 0.5}
    return {"groups": groups}


def test_c3_holds_when_a_near_perfect_student_fails_every_shift_fluently():
    assert claim_c3({0: (metrics(0.97, 0.1), metrics(0.7, 0.1))}).held == {0: True}


def test_c3_does_not_hold_when_the_student_generalises_or_writes_nonsense():
    assert claim_c3({0: (metrics(0.97, 0.9), metrics(0.7, 0.1))}).held == {0: False}
    assert claim_c3({0: (metrics(0.97, 0.1, fluent=0.2), metrics(0.7, 0.1))}).held == {0: False}


def test_c3_does_not_hold_when_a_shifted_axis_was_not_evaluated():
    student = metrics(0.97, 0.1, axes=("length", "format"))
    claim = claim_c3({0: (student, metrics(0.7, 0.1))})
    assert claim.held == {0: False}
    assert any("composition" in line and "not evaluated" in line for line in claim.lines)
