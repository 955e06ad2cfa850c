"""The lab's metric maths, shared by evaluation, the trainers and the study (no stage of its own).

- pass@k with the unbiased estimator of Chen et al. 2021 (arXiv 2107.03374);
- the capability bins of Kim et al. 2025 (arXiv 2505.14216) and the matrix of problems moving
  between bins from one model to another;
- a bootstrap interval over problems;
- update sparsity: the share of weights a training run changed, and how far two runs from one
  model changed the same weights.
"""
import math

import numpy as np

BIN_EDGES_256 = (0, 4, 16, 64, 128, 256)  # upper edges of Kim et al.'s bins for n = 256


def pass_at_k(n, c, k):
    """Unbiased pass@k: the chance that k of n samples, drawn without replacement, include at
    least one of the c correct ones. 1 - C(n-c,k)/C(n,k) = 1 - prod_{i=n-c+1}^{n} (1 - k/i)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def ks_for(n):
    """k = 1, 2, 4, ... up to n (n included)."""
    ks = [2 ** i for i in range(int(math.log2(n)) + 1)]
    return ks if ks[-1] == n else ks + [n]


def bin_edges(n):
    return [e * n / 256 for e in BIN_EDGES_256]


def bin_labels(n):
    edges, labels, low = bin_edges(n), [], 0
    for e in edges:
        if e == low == 0:
            labels.append("0")
        elif math.floor(e) < low:  # with few samples some bins hold no count at all
            labels.append("empty")
        else:
            labels.append(f"{low:g}-{math.floor(e):g}")
        low = math.floor(e) + 1
    return labels


def capability_bin(c, n):
    """Index of the Kim et al. bin of a problem solved c times out of n."""
    return next(i for i, e in enumerate(bin_edges(n)) if c <= e)


def update_sparsity(initial, final, thresholds=(1e-5, 1e-4, 1e-3)):
    """Share of parameter entries whose absolute change exceeds each threshold, and ("bf16") the
    share that changed at all once both are rounded to bf16 (where RL's sparsity was reported)."""
    total, above, bf16 = 0, {t: 0 for t in thresholds}, 0
    for name, w0 in initial.items():
        delta = (final[name].float() - w0.float()).abs()
        total += delta.numel()
        for t in thresholds:
            above[t] += (delta > t).sum().item()
        bf16 += (final[name].bfloat16() != w0.bfloat16()).sum().item()
    return {**{str(t): above[t] / total for t in thresholds}, "bf16": bf16 / total}


def update_overlap(initial, a, b, fraction=0.01, initial_b=None):
    """How far two runs from the same `initial` weights changed the same entries: the Jaccard
    index of the `fraction` of entries each changed most (by absolute change, over every
    parameter; a tensor two names share, as tied embeddings are, counted once), and what two
    independent choices of that many entries would give (chance, f / (2 - f)). initial_b: b's
    own starting weights, for runs from two different bases (entries compared by position).
    Returns (jaccard, chance)."""
    import torch
    seen, names = set(), []
    for name, w0 in initial.items():
        if w0.data_ptr() not in seen:
            seen.add(w0.data_ptr())
            names.append(name)

    def most_changed(start, final):
        delta = torch.cat([(final[name].float() - start[name].float()).abs().flatten() for name in names])
        count = max(1, round(fraction * delta.numel()))
        chosen = torch.zeros(delta.numel(), dtype=torch.bool)
        chosen[delta.topk(count).indices] = True
        return chosen, delta.numel(), count
    (top_a, total, count), (top_b, _, _) = most_changed(initial, a), most_changed(initial_b or initial, b)
    jaccard = (top_a & top_b).sum().item() / (top_a | top_b).sum().item()
    f = count / total
    return jaccard, f / (2 - f)


def bootstrap_interval(values, statistic=np.mean, resamples=1000, seed=0):
    """95% percentile interval of `statistic` over resampled problems."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), size=(resamples, len(values)))]
    stats = statistic(draws, axis=1)
    return (float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5)))


def transition_matrix(records_a, records_b, split="id", task=None):
    """Counts of problems moving from each capability bin under model A to each under B."""
    size = len(BIN_EDGES_256)
    matrix = np.zeros((size, size), dtype=int)
    for key, a in records_a.items():
        b = records_b.get(key)
        if b is None or a["split"] != split or (task and a["task"] != task):
            continue
        matrix[capability_bin(sum(a["correct"]), len(a["correct"])),
               capability_bin(sum(b["correct"]), len(b["correct"]))] += 1
    return matrix
