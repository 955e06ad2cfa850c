"""The study's estimators: the hierarchical bootstrap over seeds and problems, and the sign test."""
import numpy as np
import pytest

from study.stats import hierarchical_bootstrap, sign_test, stratified_bootstrap


def effects_for(seed_shifts, problems=60, noise=0.2, seed=0):
    """{seed: {problem: effect}}: a common per-problem effect plus each seed's own shift."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0.1, noise, problems)
    return {s: {f"p{i}": common[i] + shift for i in range(problems)} for s, shift in enumerate(seed_shifts)}


def test_sign_test_matches_the_binomial_tail():
    assert sign_test(10, 10) == pytest.approx(0.000977, abs=1e-6)
    assert sign_test(9, 10) == pytest.approx(0.0107, abs=1e-4)
    assert sign_test(8, 10) == pytest.approx(0.0547, abs=1e-4)
    assert sign_test(0, 10) == 1.0 and sign_test(5, 10) > 0.5


def test_seeds_that_disagree_widen_the_pooled_interval():
    agree = hierarchical_bootstrap(effects_for([0.0] * 10))
    disagree = hierarchical_bootstrap(effects_for([0.3, -0.3] * 5))
    width = lambda r: r[1][1] - r[1][0]
    assert agree[0] == pytest.approx(disagree[0])  # same mean effect
    assert width(disagree) > 2 * width(agree)      # seed-to-seed variance is in the interval
    assert disagree[1][0] < disagree[0] < disagree[1][1]


def test_identical_seeds_add_no_variance_because_shared_problems_are_resampled_jointly():
    one = effects_for([0.0])
    ten = {s: one[0] for s in range(10)}
    point, (low, high) = hierarchical_bootstrap(ten, seed=1)
    alone = stratified_bootstrap([(1.0, list(one[0].values()))], seed=1)
    assert point == pytest.approx(alone[0])
    assert high - low == pytest.approx(alone[1][1] - alone[1][0], rel=0.15)


def test_levels_are_weighted_equally_however_many_problems_each_has():
    effects = {0: {**{f"easy{i}": 0.0 for i in range(90)}, **{f"hard{i}": 1.0 for i in range(10)}}}
    levels = {k: k.rstrip("0123456789") for k in effects[0]}
    assert hierarchical_bootstrap(effects, levels)[0] == pytest.approx(0.5)
    assert hierarchical_bootstrap(effects)[0] == pytest.approx(0.1)


def test_seeds_with_problems_of_their_own_are_pooled_not_dropped():
    # C12's effects exist only where a seed wrote a right answer: on ten seeds no problem may have
    # one on every seed. Each seed then keeps its own problems (it was nan, from an empty overlap).
    rng = np.random.default_rng(0)
    effects = {s: {f"p{s * 7 + i}": 0.1 * s + rng.normal(0, 0.01) for i in range(10)} for s in range(10)}
    point, (low, high) = hierarchical_bootstrap(effects)
    assert point == pytest.approx(np.mean([np.mean(list(e.values())) for e in effects.values()]))
    assert low < point < high and high - low < 0.6
    assert np.isnan(hierarchical_bootstrap({0: {}, 1: {}})[0])


def test_a_seed_missing_some_problems_is_averaged_over_the_ones_it_has():
    full = effects_for([0.0, 0.2])
    partial = {0: full[0], 1: {k: v for k, v in full[1].items() if k not in ("p0", "p1", "p2")}}
    own = [np.mean(list(e.values())) for e in partial.values()]
    assert hierarchical_bootstrap(partial)[0] == pytest.approx(np.mean(own))
    assert hierarchical_bootstrap({0: full[0], 1: {}})[0] == pytest.approx(own[0])  # an empty seed adds nothing


def test_power_is_high_for_a_clear_effect_and_low_for_none():
    from study.stats import power
    clear = {s: (-0.3 + 0.01 * s, (-0.4 + 0.01 * s, -0.2 + 0.01 * s)) for s in range(10)}
    holds, excluded, mu, tau, se = power(clear, seeds=10)
    assert holds > 0.95 and excluded > 0.9 and mu == pytest.approx(-0.255) and se == pytest.approx(0.2 / 3.92)
    none = {s: ((-1) ** s * 0.05, ((-1) ** s * 0.05 - 0.1, (-1) ** s * 0.05 + 0.1)) for s in range(10)}
    assert power(none, seeds=10)[0] < 0.05 and power(none, seeds=10)[1] < 0.01
    # more problems shrink the problem noise: a marginal effect becomes confirmable
    marginal = {s: (-0.1, (-0.25, 0.05)) for s in range(10)}
    assert power(marginal, 10, (32, 32))[1] < power(marginal, 10, (32, 128))[1]
