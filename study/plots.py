"""The study's figures: C1's pass@k curves, C2's format shares and chain length over RL steps,
and the base model's format shares against the pretraining mix."""
import numpy as np

from data.world import World
from eval import ks_for, pass_at_k
from study.stats import load_predictions


def plot_c1(pairs, path, rl_label="RLVR"):
    """pass@k of base (dashed) and RL (solid) on in-distribution addition, mean over seeds: all
    levels weighted equally (left) and level by level (right)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curves = {}  # (model, level) -> list over seeds of {k: pass@k}
    for base_dir, rl_dir in pairs.values():
        for model, d in (("base", base_dir), ("RLVR", rl_dir)):
            recs = load_predictions(d)
            n = min(len(r["correct"]) for r in recs.values())
            for level in sorted({r["level"] for r in recs.values()}):
                rs = [r for r in recs.values() if r["level"] == level]
                curves.setdefault((model, level), []).append(
                    {k: np.mean([pass_at_k(n, sum(r["correct"][:n]), k) for r in rs]) for k in ks_for(n)})
    levels = sorted({lvl for _, lvl in curves})
    ks = sorted(next(iter(curves.values()))[0])
    mean = lambda model, lvl: [np.mean([c[k] for c in curves[(model, lvl)]]) for k in ks]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    for model, style in (("base", "--"), ("RLVR", "-")):
        ax.plot(ks, np.mean([mean(model, lvl) for lvl in levels], axis=0), style, marker="o",
                label=rl_label if model == "RLVR" else model)
        for i, lvl in enumerate(levels):
            bx.plot(ks, mean(model, lvl), style, color=f"C{i}", label=f"{lvl} digits" if model == "RLVR" else None)
    for a, title in ((ax, f"all levels, weighted equally ({len(pairs)} seeds)"),
                     (bx, "by level: base dashed, RLVR solid")):
        a.set(xscale="log", xlabel="k (samples)", ylabel="pass@k", title=title, ylim=(0, 1.02))
        a.set_xscale("log", base=2)
        a.legend(fontsize=8)
    fig.suptitle(f"C1: in-distribution addition, base vs {rl_label}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_rl_steps(runs, path):
    """Format shares and completion length over RL steps, beta = 0 (solid) and beta > 0 (dashed),
    one colour per format, every seed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.8))
    formats = sorted({f for m0, mk, _ in runs.values() for m in m0 + mk for f in m["formats"]})
    colours = {f: f"C{i}" for i, f in enumerate(formats)}
    for seed, (m0, mk, beta) in runs.items():
        for metrics, style, label in ((m0, "-", "beta 0"), (mk, "--", f"beta {beta}")):
            steps = [m["step"] for m in metrics]
            for f in formats:
                ax.plot(steps, [m["formats"].get(f, 0) for m in metrics], style, color=colours[f],
                        alpha=0.7, label=f"{f}, {label}" if seed == next(iter(runs)) else None)
            bx.plot(steps, [m["length"] for m in metrics], style, color=f"C{seed % 10}", alpha=0.7,
                    label=f"seed {seed}, {label}")
    ax.set(xlabel="RL step", ylabel="share of samples", ylim=(0, 1), title="formats during RLVR")
    ax.legend(fontsize=7)
    bx.set(xlabel="RL step", ylabel="mean completion length (tokens)", title="chain length during RLVR")
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_formats(world, metrics_by_seed, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    world = World(**world)
    tasks = list(world.task_weights)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        formats, weights = world.format_weights(task)
        shares = [[m["groups"][f"id/{task}"]["format_shares"].get(f, 0) for f in formats]
                  for m in metrics_by_seed.values()]
        x = np.arange(len(formats))
        ax.bar(x - 0.2, weights, 0.4, label="pretraining mix")
        ax.bar(x + 0.2, np.mean(shares, axis=0), 0.4, yerr=np.std(shares, axis=0), label="base samples")
        ax.set_xticks(x, formats)
        ax.set(ylabel="share", title=f"{task}: formats ({len(shares)} seeds)", ylim=(0, 1))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
