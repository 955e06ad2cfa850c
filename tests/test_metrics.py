"""pass@k, capability bins and intervals against their definitions."""
import math
import random

import numpy as np
import pytest

from metrics import bin_labels, bootstrap_interval, capability_bin, ks_for, pass_at_k


def test_pass_at_k_matches_the_combinatorial_definition():
    rng = random.Random(0)
    for _ in range(2000):  # randomised property check over n, c, k
        n = rng.randint(1, 300)
        c, k = rng.randint(0, n), rng.randint(1, n)
        expected = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-9)


def test_pass_at_k_is_monotone_in_k_and_c_with_exact_ends():
    rng = random.Random(1)
    for _ in range(200):
        n = rng.randint(2, 256)
        c = rng.randint(0, n)
        values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
        assert all(a <= b + 1e-12 for a, b in zip(values, values[1:]))
        assert values[0] == pytest.approx(c / n)
        assert values[-1] == (1.0 if c > 0 else 0.0)
        if c < n:
            assert pass_at_k(n, c, 4 if n >= 4 else 1) <= pass_at_k(n, c + 1, 4 if n >= 4 else 1)


def test_pass_at_k_rejects_impossible_arguments():
    for n, c, k in ((4, 5, 1), (4, 2, 0), (4, 2, 5), (4, -1, 1)):
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_ks_are_powers_of_two_up_to_n():
    assert ks_for(256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert ks_for(24) == [1, 2, 4, 8, 16, 24]


def test_capability_bins_follow_kim_et_al_at_256_and_scale():
    assert [capability_bin(c, 256) for c in (0, 1, 4, 5, 16, 17, 64, 65, 128, 129, 256)] == \
        [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert bin_labels(256) == ["0", "1-4", "5-16", "17-64", "65-128", "129-256"]
    assert [capability_bin(c, 64) for c in (0, 1, 2, 4, 5, 16, 17, 32, 33, 64)] == \
        [0, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_problems():
    rng = np.random.default_rng(0)
    small, large = rng.random(20), rng.random(2000)
    lo_s, hi_s = bootstrap_interval(small)
    lo_l, hi_l = bootstrap_interval(large)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert hi_l - lo_l < hi_s - lo_s


def test_update_overlap_is_one_for_the_same_change_zero_for_disjoint_ones_and_chance_for_independent():
    import torch
    from metrics import update_overlap
    torch.manual_seed(0)
    initial = {"w": torch.zeros(100, 100), "b": torch.zeros(1000)}
    sparse = {name: w.clone() for name, w in initial.items()}
    sparse["w"][:10] = 1.0  # 1,000 of 11,000 entries changed
    assert update_overlap(initial, sparse, {k: 2 * v for k, v in sparse.items()}, fraction=1000 / 11000)[0] == 1.0
    other = {name: w.clone() for name, w in initial.items()}
    other["w"][50:60] = 1.0
    assert update_overlap(initial, sparse, other, fraction=1000 / 11000)[0] == 0.0
    a = {name: torch.randn_like(w) for name, w in initial.items()}
    b = {name: torch.randn_like(w) for name, w in initial.items()}
    jaccard, chance = update_overlap(initial, a, b, fraction=0.1)
    assert chance == pytest.approx(0.1 / 1.9, rel=1e-3)
    assert abs(jaccard - chance) < 0.015
