"""The study's report: the claims with their verdicts, the base model's checks and pass@k tables,
the command of every run behind it, and the time and memory each stage took."""
import os
import time

import numpy as np

import eval as evaluation
import rundir
from data.world import World
from study.plots import plot_formats
from study import rules
from study.rules import CLAIMS, HEADLINE
from study.runs import (DEFAULT_SEEDS, DISTILL_OPTIONS, MODEL_OPTIONS, RERUN, REUSED, RL_OPTIONS,
                        peak_mb, pretrain_config, seed_set_name)


def mean_and_spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def base_checks(world, metrics_by_seed):
    """The properties the post-training claims need from the base model, measured per seed."""
    world = World(**world)
    top = world.max_level("addition") if "addition" in world.task_weights else None
    rows = []
    if top is None:
        return rows
    formats, weights = world.format_weights("addition")
    for seed, m in metrics_by_seed.items():
        g = m["groups"]
        hard = g.get(f"id/addition/{top}")
        easy = [g.get(f"id/addition/{lvl}") for lvl in (1, 2)]
        if hard is None:
            continue
        n = hard["samples"]
        solved = 1 - hard["bins"][0] / hard["problems"]
        shares = g["id/addition"]["format_shares"]
        worst = max(abs(shares.get(f, 0) - w) for f, w in zip(formats, weights))
        rows.append((seed, [
            (f"hardest addition level ({top} digits): pass@1 in [0.10, 0.40]",
             f"{hard['pass_at_k']['1']:.3f} over {hard['problems']} problems",
             0.10 <= hard["pass_at_k"]["1"] <= 0.40),
            (f"hardest level solved at least once in {n} samples: >= 90% of problems",
             f"{solved:.1%}", solved >= 0.90),
            ("easiest levels (1-2 digits): pass@1 > 0.90",
             ", ".join(f"{e['pass_at_k']['1']:.3f}" for e in easy if e), all(e and e["pass_at_k"]["1"] > 0.9 for e in easy)),
            ("each addition format within 10 points of the mix",
             f"largest gap {worst * 100:.1f} points", worst <= 0.10),
        ]))
    return rows


def world_options(args):
    """The world, model and RL options given on the command line, as they would be typed: a run
    with any of them writes its own report (runs/<preset>/variant-<hash>/)."""
    return "".join(f" --{o.replace('_', '-')} {getattr(args, o)}"
                   for o in ("tasks", "format_mix", "difficulty_weights", *MODEL_OPTIONS, *RL_OPTIONS, *DISTILL_OPTIONS)
                   if getattr(args, o) is not None)


def rules_table(found):
    """The pre-registered rules of the claims in the report, as the code holds them."""
    names = {c.name for c in found}
    lines = ["### The rules, as pre-registered (study/rules.py `RULES`)", "",
             "| claim | rule | metric, measured on every seed | predicted | negative control |",
             "|---|---|---|---|---|"]
    for r in rules.RULES:
        if r.claim in names:
            label, judged_by = rules.CONTROLS.get(r.claim, ("(none yet)", ()))
            lines.append(f"| {r.claim} | {r.name} | {r.metric} | {r.direction} {r.threshold:g} | "
                         + (label if r.name in judged_by or not judged_by else "(not judged on it)") + " |")
    lines += ["", f"Statistic of every rule: {rules.STATISTIC}. A claim is *reproduced* when every one of "
              "its rules holds and its negative control, where it has one, does not show the effect (all "
              "of the control's rules holding); with fewer than "
              f"{rules.MIN_SEEDS} seeds no sign test can reach p <= {rules.ALPHA}, and the verdict is "
              "*indicative*, read from the intervals alone. Changes to a rule are logged in "
              "docs/log/experiments.md before the measurement they affect."]
    return lines + [""]


def claim_sections(found):
    """The summary table of claims, the rules, and one section per claim."""
    lines = ["## Claims", "", "| claim | statement | verdict | seeds on the predicted side | effect (95% interval) |",
             "|---|---|---|---|---|"]
    for c in found:
        lines.append(f"| {c.name} | {c.statement} | **{c.verdict}** | "
                     f"{sum(c.held.values())} of {len(c.held)} | {c.effect} |")
    lines += [""] + rules_table(found)
    for c in found:
        lines += [f"### {c.name}: {c.statement}", "", f"Verdict: **{c.verdict}** "
                  f"(seeds on which every rule's estimate is on the predicted side: {sum(c.held.values())} of {len(c.held)}).",
                  "", *c.lines, ""]
        lines += [f"![{c.name}]({p})" for p in c.plots] + ([""] if c.plots else [])
    return lines


def write_report(args, results, found, timings, started):
    out_dir = report_dir(args)
    metrics_by_seed = {seed: m for seed, (m, _) in results.items()}
    first_seed, (first_metrics, _) = next(iter(results.items()))
    world = pretrain_config(args, first_seed).world
    seeds = list(results)
    n = first_metrics["config"]["samples"]
    evaluation.plot_pass_at_k({f"seed {first_seed}": first_metrics},
                              os.path.join(out_dir, "base_pass_at_k.png"), by_level=True)
    plot_formats(world, metrics_by_seed, os.path.join(out_dir, "base_formats.png"))
    lines = [f"# tinyreason report — preset `{args.preset}`", "",
             f"Seeds: {', '.join(map(str, seeds))}: {seed_set_name(seeds)}. Every number below was computed in this run "
             f"(wall time {time.time() - started:.0f} s, peak memory {peak_mb():.0f} MB) from the "
             f"predictions and logs of the stages it rests on: {len(timings)} run now, {len(REUSED)} "
             "reused from earlier runs with the same settings (see Stage times and How to rerun).",
             "", *claim_sections(found), "## The base model", "",
             f"One pretrained model per seed; {n} samples per in-distribution problem at "
             f"temperature 1 (plus one greedy)" + (f", {first_metrics['config']['top_level_samples']} per problem "
             f"of the hardest addition level ({first_metrics['config']['top_level_problems']} problems)"
             if first_metrics['config'].get('top_level_samples') else "") + f", {first_metrics['config']['ood_samples']} per "
             "shifted problem. Cells give the mean over seeds and, in brackets, the range.", "",
             "### Is the base model what post-training needs?", "",
             "| seed | check | measured | met |", "|---|---|---|---|"]
    for seed, checks in base_checks(world, metrics_by_seed):
        for name, value, ok in checks:
            lines.append(f"| {seed} | {name} | {value} | {'yes' if ok else '**no**'} |")
    lines += ["", "### pass@k by split, task and difficulty", "",
              "| group | problems | n | pass@1 | pass@n | greedy | well-formed | "
              "fluent share of wrong | step correctness | formats (seed " + str(first_seed) + ") |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for group, m in first_metrics["groups"].items():
        if group.count("/") != 2:
            continue
        vals = lambda f: [metrics_by_seed[s]["groups"][group][f] if group in metrics_by_seed[s]["groups"] else None for s in seeds]
        p1 = [metrics_by_seed[s]["groups"][group]["pass_at_k"]["1"] for s in seeds if group in metrics_by_seed[s]["groups"]]
        pn = [metrics_by_seed[s]["groups"][group]["pass_at_k"][str(m["samples"])] for s in seeds if group in metrics_by_seed[s]["groups"]]
        formats = " ".join(f"{f} {v:.2f}" for f, v in m["format_shares"].items())
        lines.append(f"| {group} | {m['problems']} | {m['samples']} | {mean_and_spread(p1)} | {mean_and_spread(pn)} "
                     f"| {mean_and_spread(vals('greedy_accuracy'))} | {mean_and_spread(vals('well_formed'))} "
                     f"| {mean_and_spread(vals('fluent_share_of_wrong'))} | {mean_and_spread(vals('step_correctness'))} "
                     f"| {formats} |")
    lines += ["", "![pass@k by level](base_pass_at_k.png)", "", "![format shares](base_formats.png)", "",
              "## How to rerun", "",
              "The whole study, then every stage it rests on (each script alone writes the same run):", "",
              "```", f"python reproduce.py --preset {args.preset} --seeds {','.join(map(str, seeds))}"
              + (f" --claims {','.join(args.claims)}" if list(args.claims) != list(HEADLINE) else "")
              + world_options(args), *RERUN, "```", "", "## Stage times", "",
              "Peak memory is the study process's resident set so far (it never goes down), so the "
              "stage where it rises is the one that needed it.", "",
              "| stage | seconds | peak memory so far (MB) |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.0f} | {mb:.0f} |" for name, sec, mb in timings] or ["| (all stages reused) | 0 | |"]
    # a partial study (some claims, or other seeds) gets its own file beside the full report
    name = "REPORT"
    if list(args.claims) != list(HEADLINE):
        name += "-all" if list(args.claims) == list(CLAIMS) else "-" + "-".join(args.claims)
    if args.seeds != list(DEFAULT_SEEDS[args.preset]):
        name += "-seeds-" + "-".join(map(str, args.seeds))
    path = os.path.join(out_dir, name + ".md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def report_dir(args):
    """runs/<preset>, or for a changed world ("what if the mix were 80/20?") its own folder."""
    out_dir = os.path.join("runs", args.preset)
    if world_options(args):
        out_dir = os.path.join(out_dir, "variant-" + rundir.config_hash(world_options(args)))
    rundir.ensure_writable_dir(out_dir)
    return out_dir
