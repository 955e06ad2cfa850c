"""The statistics the claims share: predictions read back from an evaluation, bootstrap intervals
over problems and seeds with difficulty levels weighted equally, and per-problem changes in pass@k
between a base and a post-trained arm."""
import json
import math
import os
import warnings

import numpy as np

from metrics import pass_at_k


def load_predictions(eval_dir, split="id", task="addition"):
    """{problem key: record} of one split and task of an evaluation. A perturbed prompt (the
    format split) shares its problem's key with the other perturbations of that problem, so its
    key also names the perturbation: each prompt keeps its own record."""
    out = {}
    with open(os.path.join(eval_dir, "predictions.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r["split"] == split and r["task"] == task:
                perturbation = r.get("perturbation") or {}
                key = r["key"] + "".join(f"|{k}={v}" for k, v in sorted(perturbation.items()))
                out[key] = r
    return out


def stratified_bootstrap(strata, resamples=2000, seed=0):
    """Weighted mean of per-problem values over strata, and its 95% interval.

    strata: list of (weight, values); the statistic is sum(weight * mean(values)). Problems are
    resampled within each stratum (a seed, or a seed and a difficulty level), so every stratum
    keeps its weight: levels count equally however many problems each has."""
    rng = np.random.default_rng(seed)
    strata = [(w, np.asarray(v, dtype=float)) for w, v in strata if len(v)]
    if not strata:
        return float("nan"), (float("nan"), float("nan"))
    total = sum(w for w, _ in strata)
    point = sum(w * v.mean() for w, v in strata) / total
    draws = np.zeros(resamples)
    for w, v in strata:
        draws += w * v[rng.integers(0, len(v), size=(resamples, len(v)))].mean(1)
    draws /= total
    return float(point), (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)))


def hierarchical_bootstrap(effects, levels=None, resamples=2000, seed=0):
    """The pooled effect over seeds and its 95% interval, with seed-to-seed variance in it.

    effects: {seed: {problem key: effect}}; every seed is evaluated on the same test problems, so
    a problem shared by seeds is resampled jointly (one draw of problems serves every seed).
    Each draw resamples the seeds with replacement, then the problems (within their difficulty
    level when `levels` {key: level} is given, every level weighted equally); the statistic is
    the mean over the drawn seeds of each seed's mean effect on the drawn problems. An effect
    measured only where something happened (a right answer written, say) leaves each seed its own
    problems: a seed's mean is over those of its problems a draw holds, levels it lacks left out."""
    seeds = [s for s, e in effects.items() if e]
    keys = sorted(set().union(*(effects[s] for s in seeds)))
    if not keys:
        return float("nan"), (float("nan"), float("nan"))
    table = np.array([[effects[s].get(k, np.nan) for k in keys] for s in seeds], dtype=float)  # (seeds, problems)
    strata = {}
    for i, k in enumerate(keys):
        strata.setdefault(levels[k] if levels else None, []).append(i)
    strata = [np.array(v) for _, v in sorted(strata.items(), key=lambda kv: str(kv[0]))]

    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():  # a seed with none of a draw's problems: a nan, left out of the means
        warnings.simplefilter("ignore", RuntimeWarning)
        # per_seed[s, b]: seed s's level-balanced mean effect on draw b of the problems
        per_seed = np.nanmean([np.nanmean(table[:, cols[rng.integers(0, len(cols), (resamples, len(cols)))]], -1)
                               for cols in strata], axis=0)
        drawn_seeds = rng.integers(0, len(seeds), (len(seeds), resamples))
        draws = np.nanmean(np.take_along_axis(per_seed, drawn_seeds, axis=0), 0)
        point = float(np.nanmean(np.nanmean([np.nanmean(table[:, cols], 1) for cols in strata], axis=0)))
    draws = draws[~np.isnan(draws)]
    if not len(draws):
        return point, (float("nan"), float("nan"))
    return point, (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)))


def sign_test(agreeing, seeds):
    """One-sided sign test: the chance of at least `agreeing` of `seeds` seeds showing the
    predicted sign if each were a fair coin (10 of 10: 0.001; 9 of 10: 0.011; 8 of 10: 0.055)."""
    return sum(math.comb(seeds, i) for i in range(agreeing, seeds + 1)) / 2 ** seeds


def level_groups(keys, records, values):
    """{level: the values of that level's problems}, levels in order."""
    levels = {}
    for k, v in zip(keys, values):
        levels.setdefault(records[k]["level"], []).append(v)
    return dict(sorted(levels.items()))


def by_level(keys, records, values):
    """[(1, values of level L)] for each level: strata that weight levels equally."""
    return [(1.0, v) for v in level_groups(keys, records, values).values()]


def fmt_ci(point, ci, digits=3):
    return f"{point:+.{digits}f} [{ci[0]:+.{digits}f}, {ci[1]:+.{digits}f}]"


def load_splits(eval_dir, splits=("id",)):
    """{problem key: record} of the addition problems of several splits of an evaluation."""
    return {k: r for split in splits for k, r in load_predictions(eval_dir, split).items()}


def sample_count(*eval_dirs, splits=("id",)):
    """The smallest number of samples per problem among the evaluations: arms compared at one n."""
    return min(len(r["correct"]) for d in eval_dirs for r in load_splits(d, splits).values())


def arm_changes(base_dir, arm_dir, n=None, splits=("id",)):
    """Level-balanced strata of per-problem pass@1 and pass@n changes, base -> arm (addition of
    the splits), from the first n samples of each (default: as many as both have)."""
    base, post = load_splits(base_dir, splits), load_splits(arm_dir, splits)
    keys = [k for k in base if k in post]
    n = n or min(len(d[k]["correct"]) for d in (base, post) for k in keys)
    p = lambda r, k: pass_at_k(n, sum(r["correct"][:n]), k)
    return (by_level(keys, base, [p(post[k], 1) - p(base[k], 1) for k in keys]),
            by_level(keys, base, [p(post[k], n) - p(base[k], n) for k in keys]), n)


def level_balanced_pass(eval_dir, n=None, splits=("id",)):
    """Level-balanced pass@1 and pass@n of one evaluation (addition of the splits), with the mean
    pass@1 of each level: ((pass@1, interval), (pass@n, interval), n, {level: pass@1})."""
    recs = load_splits(eval_dir, splits)
    n = n or min(len(r["correct"]) for r in recs.values())
    keys = list(recs)
    one = level_groups(keys, recs, [pass_at_k(n, sum(recs[k]["correct"][:n]), 1) for k in keys])
    all_ = by_level(keys, recs, [pass_at_k(n, sum(recs[k]["correct"][:n]), n) for k in keys])
    return (stratified_bootstrap([(1.0, v) for v in one.values()]), stratified_bootstrap(all_), n,
            {level: float(np.mean(v)) for level, v in one.items()})


def power(per_seed, seeds=10, problems=None, excluding=7, alpha=0.05, sims=20000, seed=0):
    """How likely a run on `seeds` new seeds is to confirm a "below 0" rule, if the effect these
    seeds measured is real: a normal model fitted to them, simulated.

    per_seed: {seed: (estimate, (low, high))}, each seed's estimate over its `n` problems with its
    95% interval (problems resampled). The model: a seed's true effect ~ N(mu, tau^2) (mu: the
    mean estimate; tau^2: their variance less the mean squared standard error, at least 0), its
    estimate = true effect + N(0, se^2), se = the mean standard error scaled to `problems` (None:
    as measured). Returns (P(the rule holds: every simulated seed's estimate counted by a one-sided
    sign test at `alpha` and the pooled interval below 0), P(at least `excluding` seeds whose own
    interval lies below 0), mu, tau, se)."""
    est = np.array([e for e, _ in per_seed.values()], dtype=float)
    se_now = np.array([(hi - lo) / 3.92 for _, (lo, hi) in per_seed.values()], dtype=float)
    mu = float(est.mean())
    tau = float(np.sqrt(max(est.var(ddof=1) - np.mean(se_now ** 2), 0.0))) if len(est) > 1 else 0.0
    se = float(np.sqrt(np.mean(se_now ** 2)))
    if problems:
        se *= math.sqrt(problems[0] / problems[1])  # problems = (measured count, planned count)
    rng = np.random.default_rng(seed)
    draws = rng.normal(mu, tau, (sims, seeds)) + rng.normal(0, se, (sims, seeds))
    need = next(a for a in range(seeds + 1) if sign_test(a, seeds) <= alpha) if sign_test(seeds, seeds) <= alpha else None
    below = (draws < 0).sum(1)
    pooled_high = draws.mean(1) + 1.96 * draws.std(1, ddof=1) / math.sqrt(seeds)
    holds = float(np.mean((below >= need) & (pooled_high < 0))) if need is not None else 0.0
    excluded = float(np.mean(((draws + 1.96 * se) < 0).sum(1) >= excluding))
    return holds, excluded, mu, tau, se
