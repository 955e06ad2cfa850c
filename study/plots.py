"""The study's figures: C1's pass@k curves, C2's format shares and chain length over RL steps,
C3's accuracy against the strength of the shift, and the base model's format shares against the
pretraining mix."""
import numpy as np

from data.world import World
from metrics import ks_for, pass_at_k
from study.claims import lost_problems
from study.stats import load_predictions


def plot_c1(pairs, path, rl_label="RLVR", control=None):
    """pass@k of base (dashed) and RL (solid) on in-distribution addition, mean over seeds: all
    levels weighted equally (left, with the coin-flip control dotted), level by level (middle),
    and the mechanism (right): on the hardest level, the share of samples that are right in each
    format, base beside RL, and the problems RL lost by the formats the base solved them in."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curves = {}  # (model, level) -> list over seeds of {k: pass@k}
    for seed, (base_dir, rl_dir) in pairs.items():
        dirs = {"base": base_dir, "RLVR": rl_dir, **({"control": control[seed][1]} if control else {})}
        for model, d in dirs.items():
            recs = load_predictions(d)
            n = min(len(r["correct"]) for r in recs.values())
            for level in sorted({r["level"] for r in recs.values()}):
                rs = [r for r in recs.values() if r["level"] == level]
                curves.setdefault((model, level), []).append(
                    {k: np.mean([pass_at_k(n, sum(r["correct"][:n]), k) for r in rs]) for k in ks_for(n)})
    levels = sorted({lvl for _, lvl in curves})
    ks = sorted(next(iter(curves.values()))[0])
    mean = lambda model, lvl: [np.mean([c[k] for c in curves[(model, lvl)]]) for k in ks]
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(16, 4), gridspec_kw={"width_ratios": [1, 1, 0.8]})
    labels = {"base": "base", "RLVR": rl_label, "control": "coin-flip reward (damage reference)"}
    for model, style in (("base", "--"), ("RLVR", "-"), ("control", ":")):
        if (model, levels[0]) not in curves:
            continue
        ax.plot(ks, np.mean([mean(model, lvl) for lvl in levels], axis=0), style, marker="o", label=labels[model])
        if model != "control":
            for i, lvl in enumerate(levels):
                bx.plot(ks, mean(model, lvl), style, color=f"C{i}", label=f"{lvl} digits" if model == "RLVR" else None)
    for a, title in ((ax, f"all levels, weighted equally ({len(pairs)} seeds)"),
                     (bx, "by level: base dashed, RLVR solid")):
        a.set(xlabel="k (samples)", ylabel="pass@k", title=title, ylim=(0, 1.02))
        a.set_xscale("log", base=2)
        a.legend(fontsize=8)
    hardest_formats(pairs, levels[-1], cx, rl_label)
    fig.suptitle(f"C1: in-distribution addition, base vs {rl_label}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def c1_curves(eval_dir, top):
    """(pass@1 on in-distribution addition, levels weighted equally; {k: mean pass@k} on the
    hardest level, each problem's pass@k read from all its samples)."""
    recs = load_predictions(eval_dir)
    own = lambda r, k: pass_at_k(len(r["correct"]), sum(r["correct"]), k)
    levels = sorted({r["level"] for r in recs.values()})
    pass1 = np.mean([np.mean([own(r, 1) for r in recs.values() if r["level"] == lvl]) for lvl in levels])
    hard = [r for r in recs.values() if r["level"] == top]
    n = min(len(r["correct"]) for r in hard)
    return float(pass1), {k: float(np.mean([own(r, k) for r in hard])) for k in ks_for(n)}


def plot_c1_dose(steps, control, sharpened, top, path):
    """C1's dose-response, the figure a student looks at first: one RL run read at several steps,
    mean over seeds (thin lines: each seed). Left, pass@1 over RL steps; middle, pass@k at large k
    on the hardest level; right, the hardest level's pass@k curves at each step, beside the base,
    the distilled control and pure sharpening."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from study.claims import c1_k
    curves = {s: {step: c1_curves(d, top) for step, d in by_step.items()} for s, by_step in steps.items()}
    refs = {"distillation, every level (control)": ({s: c1_curves(b, top) for s, (_, b) in control.items()}, ":")}
    if sharpened:
        temps = sorted(set(sharpened[0].values()))
        refs[f"base at T = {', '.join(f'{t:g}' for t in temps)} (sharpening)"] = (
            {s: c1_curves(d, top) for s, (_, d) in sharpened[1].items()}, "-.")
    xs = sorted(set.intersection(*(set(c) for c in curves.values())))
    ks = sorted(curves[next(iter(curves))][xs[0]][1])
    big = c1_k(ks[-1])
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(16, 4.2))
    for a, value, label in ((ax, lambda c: c[0], "pass@1, addition 1-%d digits" % top),
                            (bx, lambda c: c[1][big], f"pass@{big}, {top} digits")):
        for s, c in curves.items():
            a.plot(xs, [value(c[x]) for x in xs], color="0.8", lw=0.8)
        a.plot(xs, [np.mean([value(c[x]) for c in curves.values()]) for x in xs], "o-", color="C0", lw=2,
               label=f"RLVR, mean of {len(curves)} seeds")
        for i, (name, (ref, style)) in enumerate(refs.items()):
            a.axhline(np.mean([value(c) for c in ref.values()]), ls=style, color=f"C{i + 1}", label=name)
        a.set(xlabel="RL step (0: the base)", ylabel=label, title=label + " over RL")
        a.legend(fontsize=7)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(xs)))
    for x, col in zip(xs, colors):
        cx.plot(ks, [np.mean([c[x][1][k] for c in curves.values()]) for k in ks], "--" if x == 0 else "-",
                color="k" if x == 0 else col, label="base" if x == 0 else f"RL step {x}")
    for i, (name, (ref, style)) in enumerate(refs.items()):
        cx.plot(ks, [np.mean([c[1][k] for c in ref.values()]) for k in ks], style, color=f"C{i + 1}", label=name)
    cx.set(xlabel="k (samples)", ylabel="pass@k", title=f"{top} digits: pass@k as RL goes on", ylim=(0, 1.02))
    cx.set_xscale("log", base=2)
    cx.legend(fontsize=7)
    fig.suptitle("C1, dose-response: pass@1 rises, pass@k at large k falls, the curves cross earlier as RL goes on")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def hardest_formats(pairs, level, ax, rl_label):
    """Bars: per format, the share of the hardest level's samples that are right in it (base,
    RL), pooled over seeds; and how many problems RL lost that the base solved only in it."""
    right = {"base": {}, "RLVR": {}}
    lost_only = {}
    total = {"base": 0, "RLVR": 0}
    for base_dir, rl_dir in pairs.values():
        recs = {"base": load_predictions(base_dir), "RLVR": load_predictions(rl_dir)}
        for model, rs in recs.items():
            for r in rs.values():
                if r["level"] != level:
                    continue
                total[model] += len(r["correct"])
                for fmt, ok in zip(r["format"], r["correct"]):
                    if ok:
                        right[model][fmt or "unknown"] = right[model].get(fmt or "unknown", 0) + 1
        for row in lost_problems(base_dir, rl_dir):
            if row["level"] == level:
                solved_in = {f or "unknown" for f in row["formats"]}
                name = solved_in.pop() if len(solved_in) == 1 else "several"
                lost_only[name] = lost_only.get(name, 0) + 1
    formats = sorted(set(right["base"]) | set(right["RLVR"]))
    x = np.arange(len(formats))
    for i, (model, label) in enumerate((("base", "base"), ("RLVR", rl_label))):
        ax.bar(x + (i - 0.5) * 0.4, [right[model].get(f, 0) / max(total[model], 1) for f in formats], 0.4, label=label)
    ax.set_xticks(x, [f"{f}\n(lost: {lost_only.get(f, 0)})" for f in formats])
    ax.set(ylabel="share of samples right, in this format",
           title=f"{level} digits: right answers by format\n(lost: problems RL lost that the base solved only in it;"
                 f" {lost_only.get('several', 0)} in several)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)


def plot_rl_steps(runs, control, beta, path):
    """Format shares over RL steps, mean over seeds: beta = 0 (solid), beta > 0 (dashed) and the
    coin-flip control (dotted), one colour per format; and the mean completion length."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.8))
    series = {"beta 0": [m0 for m0, _ in runs.values()], f"beta {beta}": [mk for _, mk in runs.values()],
              "coin-flip reward": list(control.values())}
    formats = sorted({f for ms in series.values() for metrics in ms for m in metrics for f in m["formats"]})
    for (label, ms), style in zip(series.items(), ("-", "--", ":")):
        steps = min(len(metrics) for metrics in ms)
        x = [m["step"] for m in ms[0][:steps]]
        for i, f in enumerate(formats):
            ax.plot(x, np.mean([[m["formats"].get(f, 0) for m in metrics[:steps]] for metrics in ms], axis=0),
                    style, color=f"C{i}", label=f"{f}, {label}")
        bx.plot(x, np.mean([[m["length"] for m in metrics[:steps]] for metrics in ms], axis=0), style,
                color="k", label=label)
    ax.set(xlabel="RL step", ylabel="share of samples", ylim=(0, 1),
           title=f"formats during RLVR (mean of {len(runs)} seeds)")
    ax.legend(fontsize=6, ncol=2)
    bx.set(xlabel="RL step", ylabel="mean completion length (tokens)", title="chain length during RLVR")
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_c3(curves, path, seeds):
    """Accuracy and the share of samples that are well-formed but wrong against the shift, for
    the distilled student and the base: curves {"student"|"base": {shift: (pass@1, share)}}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.8))
    shifts = list(curves["student"])
    for model, style in (("student", "-"), ("base", "--")):
        ax.plot(range(len(shifts)), [curves[model][s][0] for s in shifts], style, marker="o", label=model)
        bx.plot(range(len(shifts)), [curves[model][s][1] for s in shifts], style, marker="o", label=model)
    for a, what in ((ax, "pass@1"), (bx, "share of samples well-formed but wrong")):
        a.set_xticks(range(len(shifts)), shifts, rotation=25, fontsize=7)
        a.set(ylabel=what, ylim=(0, 1.02))
        a.legend(fontsize=8)
    fig.suptitle(f"C3: addition, distilled student vs base, by shift (mean of {seeds} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
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


def plot_c10(runs, control, path):
    """C10: entropy per plan token and per execution token over RL steps, each seed thin and their
    mean thick, the main RL run (solid) beside the coin-flip run (dotted)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, what in zip(axes, ("entropy_execution", "entropy_plan"), ("execution (steps, answer)", "plan (format header)")):
        for label, ms, style, colour in (("RLVR", runs, "-", "C0"), ("coin-flip reward", control, ":", "C3")):
            curves = [[m.get(key) if m.get(key) is not None else np.nan for m in metrics] for metrics in ms.values()]
            steps = min(len(c) for c in curves)
            for c in curves:
                ax.plot(range(1, len(c) + 1), c, style, color=colour, alpha=0.25, lw=0.8)
            table = np.array([c[:steps] for c in curves], dtype=float)
            counts = np.isfinite(table).sum(0)  # a step with no value on any seed stays a gap
            mean = np.where(counts > 0, np.nansum(table, 0) / np.maximum(counts, 1), np.nan)
            ax.plot(range(1, steps + 1), mean, style, color=colour, lw=2, label=f"{label} (mean of {len(curves)} seeds)")
        ax.set(xlabel="RL step", ylabel="entropy per token (nats)", title=f"C10: {what}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_c11(rows, path):
    """C11: per seed, the Jaccard index of the most changed weights, two RL runs, two SFT runs, an
    RL run beside another seed's (the control) and chance. rows: {seed: (rl, sft, cross or None, chance)}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.8))
    labels = ("two RL runs", "two SFT runs", "RL, another seed's base (control)", "chance")
    for i, label in enumerate(labels):
        values = [r[i] for r in rows.values() if r[i] is not None]
        if values:
            ax.bar(i, np.mean(values), 0.6, color=f"C{i}", alpha=0.6)
            ax.plot([i] * len(values), values, "k.", ms=4)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set(ylabel="Jaccard index of the most changed weights", ylim=(0, 1),
           title=f"C11: do two runs change the same weights? ({len(rows)} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_c12(values, path):
    """C12: histograms of the base's log-likelihood per token of right answers, pooled over seeds:
    values {"base" | "RLVR" | "coin flip": [one value per right answer]}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.8))
    finite = [v for vs in values.values() for v in vs]
    if finite:
        bins = np.linspace(min(finite), max(finite) + 1e-9, 40)
        for (label, vs), style in zip(values.items(), ("-", "--", ":")):
            if not vs:
                continue
            ax.hist(vs, bins=bins, histtype="step", linestyle=style, lw=1.6, density=True,
                    label=f"{label}'s right answers ({len(vs)})")
    ax.set_yscale("log")
    ax.set(xlabel="the base's log-likelihood per token", ylabel="density",
           title="C12: how likely the base finds each model's right answers (in-distribution addition)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_c4(arms, top, path):
    """C4: pass@k against k, mean over seeds and problems, for the base, the patterns-only and the
    new-knowledge student: on the hardest pretrained level (left: does distillation narrow?) and on
    the held-out longer additions (right: does it bring capability?). arms {seed: {arm: eval dir}}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, split, title in ((axes[0], "id", f"hardest pretrained level ({top} digits)"),
                             (axes[1], "length", f"held-out longer additions ({top + 1}-{top + 2} digits)")):
        for arm, style in (("base", "--"), ("patterns", "-"), ("new", "-.")):
            records = [r for d in arms.values() for r in load_predictions(d[arm], split).values()
                       if split == "length" or r["level"] == top]
            if not records:
                continue
            n = min(len(r["correct"]) for r in records)
            ks = ks_for(n)
            ax.plot(ks, [np.mean([pass_at_k(len(r["correct"]), sum(r["correct"]), k) for r in records]) for k in ks],
                    style, marker="o", ms=3, label={"base": "base", "patterns": "patterns-only student",
                                                    "new": "new-knowledge student"}[arm])
        ax.set_xscale("log", base=2)
        ax.set(xlabel="k", ylabel="pass@k", ylim=(0, 1.02), title=f"C4: {title}")
        ax.legend(fontsize=7)
    fig.suptitle(f"C4: distillation with and without new knowledge ({len(arms)} seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
