"""The claims of the study, measured from what the stages wrote (predictions, per-step logs).

Each `claim_*` function reads the runs of every seed and returns a `Claim`: its verdict, the
effect size with a 95% bootstrap interval over problems and seeds, on how many seeds it held,
and the lines of its report section. The verdict rule is the same for every claim and fixed in
advance: *reproduced* when it held on every seed, *mixed* when it held on at least two seeds
but not all, *not reproduced* otherwise (an effect seen on one seed is not reproduced).
"""
import collections
from dataclasses import dataclass, field

import numpy as np

from data.core import ANSWER_LINE, all_steps_right
from eval import bin_labels, capability_bin, ks_for, pass_at_k, update_sparsity
from study.stats import (arm_changes, arm_levels, by_level, fmt_ci, load_predictions,
                         paired_bootstrap, sample_count, stratified_bootstrap)

CLAIMS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")


@dataclass
class Claim:
    name: str
    statement: str
    held: dict                      # seed -> bool
    effect: str                     # the headline effect size with its interval
    lines: list = field(default_factory=list)
    plots: list = field(default_factory=list)

    @property
    def verdict(self):
        return verdict(sum(self.held.values()), len(self.held))


def verdict(held, seeds):
    if seeds == 1:
        return "indicative (1 seed): " + ("held" if held else "did not hold")
    if held == seeds:
        return "reproduced"
    if held >= 2:
        return "mixed"
    return "not reproduced"


# ---------------------------------------------------------------- C1: capability narrowing

def c1_check(pairs, top_level):
    """C1's check on {seed: (base eval dir, RL eval dir)}: held by seed, the per-seed table, the
    pooled effects and the bin transitions over all seeds."""
    held, d1_all, dn_all, dtop_all = {}, [], [], []
    table = ["| seed | problems | pass@1 base -> RL | pass@n base -> RL | hardest level pass@n | "
             "low bins: lost / gained | crossover k | held |", "|---|---|---|---|---|---|---|---|"]
    transitions = None
    for seed, (base_dir, rl_dir) in pairs.items():
        base, rl = load_predictions(base_dir), load_predictions(rl_dir)
        keys = [k for k in base if k in rl]
        n = min(len(base[k]["correct"]) for k in keys)
        p = lambda r, k: pass_at_k(len(r["correct"]), sum(r["correct"]), k)
        d1 = [p(rl[k], 1) - p(base[k], 1) for k in keys]
        dn = [p(rl[k], n) - p(base[k], n) for k in keys]
        top = [k for k in keys if base[k]["level"] == top_level]
        dtop = [p(rl[k], n) - p(base[k], n) for k in top]
        d1_all += by_level(keys, base, d1)
        dn_all += by_level(keys, base, dn)
        dtop_all.append((1.0, dtop))
        balanced = lambda r, k: np.mean([np.mean([p(r[x], k) for x in keys if base[x]["level"] == lvl])
                                         for lvl in sorted({base[x]["level"] for x in keys})])
        nbins = len(bin_labels(n))
        m = np.zeros((nbins, nbins), dtype=int)
        for k in keys:
            m[capability_bin(sum(base[k]["correct"]), n), capability_bin(sum(rl[k]["correct"]), n)] += 1
        transitions = m if transitions is None else transitions + m
        low = [1, 2]  # [1-4] and [5-16] correct of 256: solved rarely
        lost = int(sum(m[i, :i].sum() for i in low))
        gained = int(sum(m[i, i + 1:].sum() for i in low))
        cb, cr = ({k: balanced(r, k) for k in ks_for(n)} for r in (base, rl))
        cross = next((k for k in cb if cr[k] <= cb[k]), None)
        m1, ci1 = stratified_bootstrap(by_level(keys, base, d1))
        mn, cin = stratified_bootstrap(by_level(keys, base, dn))
        ok = (ci1[0] > 0 and cin[0] <= 0 and np.mean(dtop) < 0 and lost > gained)
        held[seed] = bool(ok)
        table.append(f"| {seed} | {len(keys)} | {balanced(base, 1):.3f} -> {balanced(rl, 1):.3f} | "
                     f"{balanced(base, n):.3f} -> {balanced(rl, n):.3f} | "
                     f"{np.mean([p(base[k], n) for k in top]):.3f} -> {np.mean([p(rl[k], n) for k in top]):.3f} | "
                     f"{lost} / {gained} | {cross if cross is not None else 'none'} | {'yes' if ok else 'no'} |")
    pooled = {"1": stratified_bootstrap(d1_all), "n": stratified_bootstrap(dn_all),
              "top": stratified_bootstrap(dtop_all)}
    return held, table, pooled, transitions, n


def claim_c1(pairs, top_level, main=None):
    """pairs: {seed: (base eval dir, eval dir of RL whose data stop one level short of the
    hardest)}; main: the same for the main RL run (data on every level), shown for context.
    In-distribution addition, every trained level, base vs RL."""
    held, table, pooled, transitions, n = c1_check(pairs, top_level)
    (m1, ci1), (mn, cin), (mt, cit) = pooled["1"], pooled["n"], pooled["top"]
    labels = bin_labels(n)
    lines = [f"The RL run of this claim trains on additions of 1-{top_level - 1} digits, one level "
             f"short of the hardest, and is evaluated on every level 1-{top_level}: the narrowing is "
             f"measured on the {top_level}-digit level, which its reward never reaches. Why: in the "
             "default study the main RL run, whose data include the hardest level, learned that level "
             "on two of three seeds instead of losing it (runs CR and CF in docs/experiments.md); the "
             "second table gives the main run's check in this study.", "",
             f"Change from base to RL on the in-distribution addition test problems, every "
             f"difficulty level weighted equally, pooled over {len(pairs)} seeds (95% bootstrap "
             f"intervals, problems resampled within seed and level): pass@1 {fmt_ci(m1, ci1)}; "
             f"pass@{n} {fmt_ci(mn, cin)}; pass@{n} at the hardest level ({top_level} digits) "
             f"{fmt_ci(mt, cit)}.", "",
             f"Held on a seed when pass@1 rose (interval above 0), pass@{n} did not rise (interval "
             f"reaches 0 or below), pass@{n} at the hardest level fell, and problems of the low "
             "bins ([1-4] and [5-16] correct) moved down more often than up.", ""] + table + [
             "", f"Bin transitions base -> RL, all seeds (rows: base bin, columns: RL bin, "
             f"correct samples out of {n}):", "",
             "| base \\ RL | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for i, row in enumerate(transitions):
        lines.append(f"| {labels[i]} | " + " | ".join(str(v) for v in row) + " |")
    if main:
        held_main, table_main, pooled_main, _, _ = c1_check(main, top_level)
        lines += ["", f"The same check on the main RL run (data on every level 1-{top_level}; the run "
                  "that C2, C7 and C9 read), for context, not part of the verdict: held on "
                  f"{sum(held_main.values())} of {len(held_main)} seeds; pooled pass@1 "
                  f"{fmt_ci(*pooled_main['1'])}, pass@{n} {fmt_ci(*pooled_main['n'])}, pass@{n} at "
                  f"the hardest level {fmt_ci(*pooled_main['top'])}.", ""] + table_main
    return Claim("C1", "RLVR raises pass@1 but not pass@k at large k; the hardest problems lose "
                 "(capability narrowing)", held, f"pass@1 {fmt_ci(m1, ci1)}, pass@{n} {fmt_ci(mn, cin)}, "
                 f"{top_level}-digit pass@{n} {fmt_ci(mt, cit)} (RL data 1-{top_level - 1} digits)",
                 lines)


# ---------------------------------------------------------------- C2: format collapse

def known_formats(m):
    """A step's format shares without `unknown` (samples in no known format): a run that writes
    nonsense has not collapsed onto a format, and nonsense is not a minority format either."""
    return {f: v for f, v in m["formats"].items() if f != "unknown"}


def dominant_step(metrics, share=0.9):
    """First RL step at which one format exceeds `share` of the samples (None: never)."""
    for m in metrics:
        if max(known_formats(m).values(), default=0.0) > share:
            return m["step"]
    return None


def minority_share(metrics):
    """Mean over steps of the share of samples in a known format other than the step's most used."""
    return float(np.mean([sum(k.values()) - max(k.values(), default=0.0) for k in map(known_formats, metrics)]))


def winner_of(m):
    """The most used known format of a step."""
    return max(known_formats(m).items(), key=lambda kv: kv[1], default=("none", 0.0))[0]


def claim_c2(runs, within=100, other=None):
    """runs: {seed: (metrics of the beta = 0 run, metrics of the beta > 0 run, beta)};
    other: (format mix, metrics of a beta = 0 run from a base pretrained on that mix) or None."""
    held, table = {}, ["| seed | winner | > 90% at step (beta 0) | > 90% at step (beta > 0) | "
                       "minority share, beta 0 | minority share, beta > 0 | held |",
                       "|---|---|---|---|---|---|---|"]
    gaps = []
    for seed, (m0, mk, beta) in runs.items():
        s0, sk = dominant_step(m0), dominant_step(mk)
        steps = len(mk)
        ms0, msk = minority_share(m0[:steps]), minority_share(mk)
        winner = winner_of(m0[-1])
        # the beta > 0 run "crosses later or never" only means something if the beta = 0 run
        # crossed within the steps the beta > 0 run had
        ok = s0 is not None and s0 <= min(within, steps) and msk > ms0 and (sk is None or sk > s0)
        held[seed] = bool(ok)
        gaps.append([msk - ms0])
        table.append(f"| {seed} | {winner} | {s0 or 'never'} | {sk or f'never (in {steps})'} | "
                     f"{ms0:.3f} | {msk:.3f} | {'yes' if ok else 'no'} |")
    g, ci = paired_bootstrap(gaps)
    lines = [f"Held on a seed when one known format passed 90% of the samples within {within} RL "
             "steps at beta = 0 and within the steps the beta > 0 run had, and the beta > 0 run kept "
             "more samples in minority formats (mean over its steps, against the same steps at "
             "beta = 0) and crossed 90% later or never. Samples in no known format count for no format.",
             ""] + table
    if other:
        mix, metrics = other
        start, end = metrics[0]["formats"], metrics[-1]["formats"]
        winner = winner_of(metrics[-1])
        main_winners = sorted({winner_of(m0[-1]) for m0, _, _ in runs.values()})
        lines += ["", f"Another mix (`--format-mix {mix}`, seed {next(iter(runs))}, one run, "
                  f"{len(metrics)} RL steps at beta 0): formats at the first step "
                  + ", ".join(f"{f} {v:.2f}" for f, v in start.items()) + "; at the last step "
                  + ", ".join(f"{f} {v:.2f}" for f, v in end.items())
                  + f". The winner is **{winner}** against {', '.join(main_winners)} with the "
                  "preset's mix: " + ("the winner changed with the mix." if winner not in main_winners
                                      else "the winner did not change with the mix.")]
    return Claim("C2", "RLVR collapses the format mix onto one format; a KL penalty slows it",
                 held, f"minority share, beta > 0 minus beta 0: {g:+.3f} (range over seeds "
                 f"{min(x[0] for x in gaps):+.3f} to {max(x[0] for x in gaps):+.3f})", lines)


# ---------------------------------------------------------------- C3: distilled CoT out of distribution

C3_TASKS = ("addition", "modular")
NEAR_PERFECT = 0.9   # "near-perfect in distribution"
SHARP_DROP = 0.5     # an OOD axis "drops sharply" when its pass@1 is at most half the ID pass@1
MOSTLY_FLUENT = 0.5  # "most wrong answers remain well-formed chains"


def axis_groups(groups, axis):
    """The metric groups of one axis for the distilled tasks (e.g. length/addition)."""
    return [groups[f"{axis}/{t}"] for t in C3_TASKS if f"{axis}/{t}" in groups]


def claim_c3(students):
    """students: {seed: (student metrics, base metrics)} of the patterns-arm oracle student."""
    held, table = {}, ["| seed | axis | pass@1 student (base) | well-formed | well-formed but wrong | "
                       "fluent share of wrong | steps written = required |", "|---|---|---|---|---|---|---|"]
    drops = []
    shift = ["", "How accuracy degrades as the shift grows (student, pass@1; first seed):", "",
             "| shift | pass@1 | well-formed | fluent share of wrong |", "|---|---|---|---|"]
    for seed, (student, base) in students.items():
        g, b = student["groups"], base["groups"]
        acc = lambda gs: float(np.mean([x["pass_at_k"]["1"] for x in gs]))
        mean = lambda gs, f: float(np.mean([x[f] for x in gs if x[f] is not None])) if gs else float("nan")

        def level_balanced(groups):  # in distribution, every level weighs the same (as elsewhere)
            return float(np.mean([np.mean([groups[k]["pass_at_k"]["1"] for k in groups
                                           if k.startswith(f"id/{t}/")]) for t in C3_TASKS]))
        id_acc = level_balanced(g)
        ok = id_acc >= NEAR_PERFECT
        for axis in ("id", "length", "composition", "format"):
            gs, bs = axis_groups(g, axis), axis_groups(b, axis)
            if not gs:  # a shift that was not measured cannot count as failed (nor as passed)
                ok = False
                table.append(f"| {seed} | {axis} | not evaluated: the claim cannot hold without it | | | | |")
                continue
            a = level_balanced(g) if axis == "id" else acc(gs)
            base_a = level_balanced(b) if axis == "id" else acc(bs)
            fluent = mean(gs, "fluent_share_of_wrong")
            if axis != "id":
                ok = ok and a <= SHARP_DROP * id_acc and fluent >= MOSTLY_FLUENT
                drops.append([a - id_acc])
            table.append(f"| {seed} | {axis} | {a:.3f} ({base_a:.3f}) | {mean(gs, 'well_formed'):.3f} | "
                         f"{mean(gs, 'well_formed_wrong'):.3f} | {fluent:.3f} | "
                         f"{mean(gs, 'steps_written_vs_required'):.3f} |")
        held[seed] = bool(ok)
        if len(shift) == 5:
            names = sorted(k for k in g if k.count("/") == 2 and k.split("/")[1] in C3_TASKS
                           and k.split("/")[0] in ("length", "format"))
            for k in names:
                shift.append(f"| {k} | {g[k]['pass_at_k']['1']:.3f} | {g[k]['well_formed']:.3f} | "
                             f"{g[k]['fluent_share_of_wrong']:.3f} |")
    d, ci = paired_bootstrap(drops)
    lines = [f"The student: the base fine-tuned on oracle traces ({', '.join(C3_TASKS)}, one format "
             "per task, the pretrained levels only). In distribution, every level weighs the same; "
             "the shifted axes have equally many problems per level or strength already. Held on a "
             "seed when its in-distribution pass@1 "
             f"is at least {NEAR_PERFECT}, and on every shifted axis (longer inputs, unseen "
             f"composition, perturbed prompts) pass@1 is at most {SHARP_DROP:.0%} of it while at "
             f"least {MOSTLY_FLUENT:.0%} of the wrong answers are well-formed chains.", ""] + table + shift
    return Claim("C3", "Distilled chain-of-thought fails out of distribution while still looking fluent",
                 held, f"OOD minus ID pass@1, mean over axes and seeds: {d:+.3f} "
                 f"(range {min(x[0] for x in drops):+.3f} to {max(x[0] for x in drops):+.3f})", lines)


# ---------------------------------------------------------------- C4: when distillation adds capability

def claim_c4(arms, top_level):
    """arms: {seed: {"base": eval dir, "new": eval dir, "known": eval dir, "self": eval dir}}.
    New knowledge is judged on the length split (the levels the new arm was taught), the other
    arms on the in-distribution addition problems."""
    held, rows = {}, []
    pooled = {"new": ([], []), "known": ([], []), "self": ([], [])}
    n_of = {}
    for seed, dirs in arms.items():
        ok = True
        # the new arm on the trained lengths: shown (what it forgot), not part of the rule
        for arm, split in (("new", "length"), ("known", "id"), ("self", "id"), ("new", "id")):
            base, post = load_predictions(dirs["base"], split), load_predictions(dirs[arm], split)
            keys = [k for k in base if k in post]
            n = min(len(base[k]["correct"]) for k in keys)
            p = lambda r, k: pass_at_k(n, sum(r["correct"][:n]), k)
            d1 = by_level(keys, base, [p(post[k], 1) - p(base[k], 1) for k in keys])
            dn = by_level(keys, base, [p(post[k], n) - p(base[k], n) for k in keys])
            m1, ci1 = stratified_bootstrap(d1)
            mn, cin = stratified_bootstrap(dn)
            if (arm, split) == ("new", "id"):
                rows.append(f"| {seed} | new | id addition | {len(keys)} | {fmt_ci(m1, ci1)} | "
                            f"pass@{n} {fmt_ci(mn, cin)} | (not in the rule) |")
                continue
            n_of[arm] = n
            pooled[arm][0].extend(d1), pooled[arm][1].extend(dn)
            if arm == "new":
                arm_ok = cin[0] > 0            # capability rises where the new knowledge is needed
            else:
                arm_ok = ci1[0] > 0 and cin[0] <= 0  # accuracy rises, capability does not
            ok = ok and arm_ok
            rows.append(f"| {seed} | {arm} | {split} addition | {len(keys)} | {fmt_ci(m1, ci1)} | "
                        f"pass@{n} {fmt_ci(mn, cin)} | {'yes' if arm_ok else 'no'} |")
        held[seed] = bool(ok)
    summary = []
    for arm in pooled:
        m1, ci1 = stratified_bootstrap(pooled[arm][0])
        mn, cin = stratified_bootstrap(pooled[arm][1])
        summary.append(f"| {arm} | {fmt_ci(m1, ci1)} | pass@{n_of[arm]} {fmt_ci(mn, cin)} |")
    lines = ["Three students, each distilled from the same base for the same number of steps: "
             "*new* (oracle traces for additions one and two digits longer than pretraining), "
             "*known* (oracle traces in one format for the pretrained levels below the hardest, "
             "which the base already solves: patterns without new knowledge) and *self* (the "
             "base's own verified samples, rejection-sampling fine-tuning). Held on a seed when "
             "the new arm's pass@n on the longer additions rises (interval above 0), and the known and self "
             "arms raise in-distribution pass@1 (interval above 0) without raising pass@n "
             "(interval reaches 0 or below). Levels weigh equally. The new arm's change on the "
             "trained lengths is shown too: traces for the longer additions alone make it forget "
             "the shorter ones (C5's student learns both).", "",
             "| arm | change in pass@1, all seeds | change in pass@n |", "|---|---|---|", *summary, "",
             "| seed | arm | problems | count | change in pass@1 | change in capability | as claimed |",
             "|---|---|---|---|---|---|---|", *rows]
    m, ci = stratified_bootstrap(pooled["new"][1])
    return Claim("C4", "Distillation raises capability only when the teacher brings new knowledge; "
                 "patterns-only and self-distillation behave like RLVR", held,
                 f"new-knowledge arm, pass@{n_of['new']} on longer additions {fmt_ci(m, ci)}", lines)


# ---------------------------------------------------------------- C5, C6: curricula

C5_SPLITS = ("id", "length")  # the trained lengths and the two longer ones the teacher brings


def claim_c5(arms, compute, top_level):
    """arms: {seed: {"base", "distill", "RLVR", "distill -> RLVR": eval dirs}}, each evaluated on
    C5_SPLITS with the same samples; compute: {arm: description of its compute}."""
    held, rows, pooled = {}, [], ([], [])
    mean_of = lambda means: float(np.mean(means)) if means else float("nan")
    for seed, dirs in arms.items():
        n = sample_count(*dirs.values(), splits=C5_SPLITS)
        vals = {a: arm_levels(d, n, C5_SPLITS) for a, d in dirs.items()}
        best = max(vals, key=lambda a: vals[a][0][0])
        d1, dn, n = arm_changes(dirs["distill"], dirs["distill -> RLVR"], n, C5_SPLITS)
        pooled[0].extend(d1), pooled[1].extend(dn)
        m, ci = stratified_bootstrap(dn)
        held[seed] = bool(best == "distill -> RLVR" and ci[1] >= 0)
        for a, ((p1, ci1), (pn, cin), n, per_level) in vals.items():
            short = mean_of([v for level, v in per_level.items() if level <= top_level])
            long_ = mean_of([v for level, v in per_level.items() if level > top_level])
            rows.append(f"| {seed} | {a} | {p1:.3f} [{ci1[0]:.3f}, {ci1[1]:.3f}] | "
                        f"{pn:.3f} [{cin[0]:.3f}, {cin[1]:.3f}] | {short:.3f} | {long_:.3f} | "
                        f"{compute.get(a, '-')} |")
        rows.append(f"| {seed} | distill -> RLVR minus distill, pass@{n} | | {fmt_ci(m, ci)} | | | |")
    lines = [f"The four arms on addition of 1 to {top_level + 2} digits (levels weighted equally): "
             f"the trained lengths, and the two longer ones ({top_level + 1}-{top_level + 2} "
             "digits) that only the teacher knows. The distilled student learns oracle traces "
             f"for 1-{top_level + 2} digits (and modular arithmetic, so that it forgets nothing); "
             f"both RL arms train on 1-{top_level + 2} digits, where RL alone never sees a reward "
             "on the longer problems and RL after distillation does. Compute is counted in "
             "optimizer steps and sampled completions. Held on a seed when distill -> RLVR has the "
             "highest pass@1 of the four and its pass@n is not below distillation's (the interval "
             "of the difference reaches 0 or above).", "",
             f"| seed | arm | pass@1 | pass@n | pass@1, 1-{top_level} digits | pass@1, "
             f"{top_level + 1}-{top_level + 2} digits | compute |", "|---|---|---|---|---|---|---|", *rows]
    (m1, ci1), (mn, cin) = stratified_bootstrap(pooled[0]), stratified_bootstrap(pooled[1])
    return Claim("C5", "Distillation then RLVR beats either alone", held,
                 f"distill -> RLVR minus distill: pass@1 {fmt_ci(m1, ci1)}, pass@{n} {fmt_ci(mn, cin)}", lines)


def claim_c6(arms, steps):
    """arms: {seed: {selection: (base eval dir, arm eval dir, RL metrics)}}; steps: RL steps."""
    held, rows, edge_minus_uniform = {}, [], []
    for seed, sel in arms.items():
        gains = {}
        n = sample_count(*(d for _, d, _ in sel.values()))
        for name, (base_dir, arm_dir, metrics) in sel.items():
            d1, dn, n = arm_changes(base_dir, arm_dir, n)
            g1, ci1 = stratified_bootstrap(d1)
            gn, cin = stratified_bootstrap(dn)
            zero = float(np.mean([m["zero_variance_groups"] for m in metrics]))
            gains[name] = (g1 / steps, zero, g1)
            rows.append(f"| {seed} | {name} | {zero:.2f} | {np.mean([m['reward'] for m in metrics]):.2f} | "
                        f"{fmt_ci(g1, ci1)} | pass@{n} {fmt_ci(gn, cin)} | {g1 / steps * 1000:+.2f} |")
        hard_ok = gains["hard"][1] >= 0.9 and gains["hard"][2] <= 0.5 * max(gains["uniform"][2], 0)
        edge_ok = max(gains, key=lambda k: gains[k][0]) == "edge"
        held[seed] = bool(hard_ok and edge_ok)
        edge_minus_uniform.append(gains["edge"][2] - gains["uniform"][2])
    lines = ["RLVR from the same base on four kinds of data, the same number of steps each: "
             "uniform (every trained level), easy (1-2 digits), hard (7-8 digits, never trained) "
             "and edge (problems the model solves sometimes, estimated from its own group "
             "samples). Held on a seed when the hard arm has at least 90% zero-variance groups and "
             "at most half the uniform arm's pass@1 gain, and the edge arm has the largest gain "
             "per step.", "",
             "| seed | data | zero-variance groups | reward | change in pass@1 | change in pass@n | "
             "pass@1 gain per 1000 steps |", "|---|---|---|---|---|---|---|", *rows]
    return Claim("C6", "RLVR on too-hard data learns nothing; edge-of-competence data helps most",
                 held, "edge minus uniform, pass@1 gain by seed: "
                 + ", ".join(f"{v:+.3f}" for v in edge_minus_uniform), lines)


# ---------------------------------------------------------------- C7: chain length and sparsity

def update_share(before, after):
    """Share of parameter entries changed from checkpoint `before` to `after`: by more than 1e-5
    in fp32, and at all once both are rounded to bf16."""
    import torch
    load = lambda path: torch.load(path, map_location="cpu", weights_only=True)["model"]
    share = update_sparsity(load(before), load(after), thresholds=(1e-5,))
    return {"fp32": share["1e-05"], "bf16": share["bf16"]}


def claim_c7(runs, window=10):
    """runs: {seed: (RL metrics, base checkpoint, RL checkpoint, SFT checkpoint of the same
    number of steps)}."""
    held, table = {}, ["| seed | length, first steps -> last steps | change | same, within the winning format | "
                       "params changed, RL (fp32 > 1e-5 / bf16) | same, SFT | held |", "|---|---|---|---|---|---|---|"]
    changes = []
    for seed, (metrics, base_ckpt, rl_ckpt, sft_ckpt) in runs.items():
        first = np.mean([m["length"] for m in metrics[:window]])
        last = np.mean([m["length"] for m in metrics[-window:]])
        winner = max(metrics[-1]["formats"].items(), key=lambda kv: kv[1])[0]
        within = lambda ms: np.mean([m["length_by_format"][winner] for m in ms
                                     if winner in m.get("length_by_format", {})] or [float("nan")])
        rl_share, sft_share = update_share(base_ckpt, rl_ckpt), update_share(base_ckpt, sft_ckpt)
        shorter = last < first
        sparser = rl_share["bf16"] < sft_share["bf16"]
        held[seed] = bool(shorter and sparser)
        changes.append([last - first])
        table.append(f"| {seed} | {first:.1f} -> {last:.1f} | {last - first:+.1f} | {winner}: "
                     f"{within(metrics[:window]):.1f} -> {within(metrics[-window:]):.1f} | "
                     f"{rl_share['fp32']:.3f} / {rl_share['bf16']:.3f} | {sft_share['fp32']:.3f} / "
                     f"{sft_share['bf16']:.3f} | {'yes' if held[seed] else 'no'} |")
    c, ci = paired_bootstrap(changes)
    lines = [f"Mean completion length (tokens) over the first and the last {window} RL steps (all "
             "samples, and the samples of the format that won), and the share of parameter entries "
             "the update changed: by more than 1e-5 in fp32, and at all once rounded to bf16. The "
             "SFT run is the self-distillation student (the base's own verified samples), trained "
             "for as many steps as RL. Held on a seed when chains got shorter and the RL update "
             "changed fewer bf16 entries than SFT.", ""] + table
    return Claim("C7", "RL shortens chains; the RL update is sparse relative to SFT's", held,
                 f"length change {c:+.1f} tokens (seeds {min(x[0] for x in changes):+.1f} to "
                 f"{max(x[0] for x in changes):+.1f})", lines)


# ---------------------------------------------------------------- C8: right answers, wrong steps

# the tasks where a chain with a wrong step can still end on the right answer, in order of
# preference; C8 is asked on the first one the world has
C8_TASKS = {
    "compare": "the compare task (which of two sums is larger, `a` or `b`), whose chain writes both "
               "additions and their totals: a wrong digit in one sum usually leaves the comparison "
               "right",
    "chain": "the multi-hop `chain` task, where the answer is one of the few letters in the prompt, "
             "so a wrong chain can still end on the right one",
}


def c8_task(task_weights):
    """The task C8 is asked on in a world with these tasks, or None."""
    return next((t for t in C8_TASKS if t in task_weights), None)


def chain_quality(eval_dir, task="addition"):
    """In-distribution samples of a task written as chains (not `direct`): accuracy, the share of
    correct answers whose chain has a wrong or missing step ("hollow"), and step correctness."""
    correct, hollow, step_ok, n, samples, right_answers = 0, 0, [], 0, 0, 0
    for r in load_predictions(eval_dir, task=task).values():
        for ok, fmt, req, right, written in zip(r["correct"], r["format"], r["steps_required"],
                                                r["steps_correct"], r["steps_written"]):
            samples += 1
            right_answers += ok
            if not req:
                continue
            n += 1
            perfect = all_steps_right(req, right, written)
            step_ok.append(right / req)
            correct += ok
            hollow += ok and not perfect
    return {"accuracy": correct / max(n, 1), "hollow": hollow / max(correct, 1),
            "step_correctness": float(np.mean(step_ok)) if step_ok else float("nan"), "chains": n,
            "chain_share": n / max(samples, 1), "all_accuracy": right_answers / max(samples, 1)}


def claim_c8(arms, addition_arms=None, task="chain"):
    """arms: {seed: {"base", "RLVR", "distill": eval dirs}}, the RLVR and distill arms trained on
    `task` (one of C8_TASKS); addition_arms: the same for the study's addition arms (shown, not
    judged)."""
    held, rows = {}, []
    quality_rows = lambda seed, q: [f"| {seed} | {arm} | {v['chain_share']:.2f} | {v['all_accuracy']:.3f} | {v['chains']} | "
                                    f"{v['accuracy']:.3f} | {v['hollow']:.4f} | {v['step_correctness']:.3f} |"
                                    for arm, v in q.items()]
    table = ["| seed | arm | share of samples written as chains | accuracy, all samples | chains | "
             "accuracy of chains | hollow share of correct chains | step correctness |",
             "|---|---|---|---|---|---|---|---|"]
    for seed, dirs in arms.items():
        q = {arm: chain_quality(d, task) for arm, d in dirs.items()}
        b, rl, d = q["base"], q["RLVR"], q["distill"]
        # distillation buys accuracy with hollow chains; RLVR tightens step coherence
        held[seed] = bool(d["accuracy"] > b["accuracy"] and d["hollow"] > b["hollow"]
                          and rl["step_correctness"] > b["step_correctness"])
        rows += quality_rows(seed, q)
    lines = [f"Measured on {C8_TASKS[task]} (in addition a wrong "
             "step almost always makes a wrong answer: see the second table). *Hollow*: a correct "
             "final answer whose chain has a wrong, missing or extra step. Arms: the base; RLVR on "
             f"the {task} task; distillation of the base's own samples on that task, kept when "
             "the answer is right (the verifier checks answers, not steps, so hollow chains are "
             "kept). Held on a seed when the distilled model is more accurate than the base with "
             "a larger hollow share, and RLVR has a higher step correctness than the base (an arm "
             "that stopped writing chains has none: nan).", "",
             *table, *rows]
    if addition_arms:
        extra = []
        for seed, dirs in addition_arms.items():
            extra += quality_rows(seed, {arm: chain_quality(d) for arm, d in dirs.items()})
        lines += ["", "In-distribution addition, the study's arms (RLVR: the main run; distill: the "
                  "oracle-taught student of C3), shown and not judged:", "", *table, *extra]
    first = next(iter(arms))
    q = {arm: chain_quality(d, task) for arm, d in arms[first].items()}
    return Claim("C8", "Distillation can raise accuracy while step quality falls; RLVR tightens "
                 "step coherence", held,
                 f"{task} task, hollow share of correct answers, seed {first}: "
                 + ", ".join(f"{a} {v['hollow']:.3f}" for a, v in q.items()), lines)


# ---------------------------------------------------------------- C9: eliciting what the base can do

def what_it_writes(eval_dir):
    """In-distribution addition, every sample: the share that is well formed, step correctness of
    the chains, the most common final answer and its share, and one fixed problem's first sample
    (the first 3-digit problem, or the first problem, in key order) as (prompt, completion)."""
    recs = load_predictions(eval_dir)
    if not recs:
        return None
    answers = collections.Counter(found[-1] for r in recs.values() for c in r["completions"]
                                  if (found := ANSWER_LINE.findall(c)))
    flags = [f for r in recs.values() for f in r["well_formed"]]
    keys = sorted(recs)
    shown = next((k for k in keys if recs[k]["level"] == 3), keys[0])
    common, count = answers.most_common(1)[0] if answers else ("-", 0)
    return {"well_formed": float(np.mean(flags)), "step_correctness": chain_quality(eval_dir)["step_correctness"],
            "common": common, "common_share": count / max(len(flags), 1),
            "example": (recs[shown]["prompt"], recs[shown]["completions"][0])}


def one_line(text):
    return "`" + text.strip().replace("\n", " / ").replace("`", "'") + "`"


def claim_c9(arms):
    """arms: {seed: {"base": dir, "full": dir, "one problem": dir, "random reward": dir,
    "format reward": dir}}."""
    held, rows = {}, []
    pooled = {"full": [], "one problem": [], "random reward": [], "format reward": []}
    for seed, dirs in arms.items():
        n = sample_count(*dirs.values())
        full, _, _ = arm_changes(dirs["base"], dirs["full"], n)
        pooled["full"].extend(full)
        full_gain = stratified_bootstrap(full)[0]
        recovered = {}
        for name in ("one problem", "random reward", "format reward"):
            d1, dn, n = arm_changes(dirs["base"], dirs[name], n)
            pooled[name].extend(d1)
            g1, ci1 = stratified_bootstrap(d1)
            gn, cin = stratified_bootstrap(dn)
            recovered[name] = g1 / full_gain if full_gain > 0 else float("nan")
            rows.append(f"| {seed} | {name} | {fmt_ci(g1, ci1)} | {recovered[name]:.0%} of {full_gain:+.3f} | "
                        f"pass@{n} {fmt_ci(gn, cin)} |")
        held[seed] = bool(max(recovered["one problem"], recovered["random reward"]) >= 0.5)
    lines = ["RLVR on a single training problem, and with rewards unrelated to correctness (a coin "
             "flip; well-formedness only), against full RLVR, the same steps each. Held on a seed "
             "when the one-problem or the random-reward run recovers at least half of full RLVR's "
             "pass@1 gain.", "",
             "| seed | run | change in pass@1 | share of full RLVR's gain | change in pass@n |",
             "|---|---|---|---|---|", *rows, "",
             "What each run writes (in-distribution addition, every sample): the share of "
             "well-formed completions, the share of correct steps in the chains, and the most "
             "common final answer over all problems with its share of the samples (a run that "
             "answers the same number everywhere has collapsed).", "",
             "| seed | run | well formed | step correctness | most common answer |", "|---|---|---|---|---|"]
    first, examples, shown = next(iter(arms)), [], None
    for seed, dirs in arms.items():
        for name, d in dirs.items():
            w = what_it_writes(d)
            if w is None:
                continue
            steps = "no chains" if np.isnan(w["step_correctness"]) else f"{w['step_correctness']:.3f}"
            lines.append(f"| {seed} | {name} | {w['well_formed']:.3f} | {steps} | "
                         f"{w['common']} ({w['common_share']:.1%}) |")
            if seed == first:
                examples.append(f"- {name}: {one_line(w['example'][1])}")
                shown = shown or w["example"][0]  # the base's problem: every arm shows the same one
    if shown is not None:
        lines += ["", f"One problem, {one_line(shown)}, and the first sample each run of seed "
                  f"{first} wrote for it:", "", *examples]
    effect = "pass@1 change, pooled: " + ", ".join(f"{name} {fmt_ci(*stratified_bootstrap(v))}"
                                                   for name, v in pooled.items())
    return Claim("C9", "RLVR mostly elicits: one problem or a spurious reward recovers much of the gain",
                 held, effect, lines)
