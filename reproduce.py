"""The study: run every experiment of the lab for a preset and write runs/<preset>/REPORT.md.

Every claim C1-C9 of the lab's design is measured on one pretrained base model per seed (trained
once and shared), and each gets a section of the report with its verdict over seeds, effect sizes
with 95% intervals, its plots and the exact command of every run behind it. The base model gets a
section too: pass@k by task and difficulty, format shares against the mix, and whether it has the
properties post-training needs.

    python reproduce.py                     # default preset, 3 seeds
    python reproduce.py --preset tiny       # the whole pipeline in under a minute
    python reproduce.py --seeds 0,1 --format-mix column=0.8,chunk=0.1,direct=0.1

A changed world trains its own base models (runs/<preset>/pretrain/seed<k>-<hash>) and writes its
report to runs/<preset>/variant-<hash>/REPORT.md, leaving the main report alone.

Finished stages are reused when their settings are unchanged; --fresh retrains everything.
"""
import dataclasses
import os
import resource
import sys
import time

import numpy as np

import eval as evaluation
from data.world import FORMATS, SPLITS, World
import lab
import claims
import curriculum
import distill
import pretrain
import rlvr

DEFAULT_SEEDS = {"tiny": 1, "small": 1, "default": 3, "gpu": 3}
CLAIMS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")
KL_BETA = 0.3  # the beta > 0 run of C2 (run J: 0.1 barely slowed the collapse, 1.0 froze the mix)
KL_STEPS = {"tiny": 3, "small": 30, "default": 50, "gpu": 100}
# samples per in-distribution problem for the arms of C5, C6 and C9 (pass@1, and pass@n with a
# smaller n): a quarter of the cost of the 256 that C1 and C4 need for capability (None: as eval)
ARM_SAMPLES = {"tiny": None, "small": None, "default": 64, "gpu": 256}
# optimizer steps of the distilled student of C3, C5 and C8 (None: the preset's distillation).
# C3 is about a student near-perfect in distribution; at 100 steps seed 2's reached only 0.851,
# at 300 every seed is at 0.91-0.99 (run N in docs/experiments.md)
STUDENT_STEPS = {"tiny": None, "small": 300, "default": 300, "gpu": None}
# C2's other world: the same tasks with chunk, not column, as the majority addition format
OTHER_MIX = "column=0.35,chunk=0.6,direct=0.05"


def parse_args(argv=None):
    p = lab.ArgumentParser(description=__doc__.split("\n\n")[0],
                           formatter_class=lab.argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="default", choices=list(pretrain.PRESETS))
    p.add_argument("--seeds", help="comma-separated seeds (default: 3 for default/gpu, 1 for tiny/small)")
    p.add_argument("--device", help="auto, cpu, cuda or mps")
    p.add_argument("--tasks", help="task weights, e.g. addition=0.6,modular=0.2,chain=0.2")
    p.add_argument("--format-mix", help="format weights, e.g. column=0.45,chunk=0.35,direct=0.2")
    p.add_argument("--difficulty-weights", help="per-level weights, e.g. addition=1:1:2:2:3:1")
    p.add_argument("--n-layer", dest="n_layer", type=lab.positive_int, help="model size: layers")
    p.add_argument("--n-embd", dest="n_embd", type=lab.positive_int, help="model size: width")
    p.add_argument("--n-head", dest="n_head", type=lab.positive_int, help="model size: attention heads")
    p.add_argument("--rl-steps", dest="rl_steps", type=lab.positive_int, help="RLVR steps of every RL run")
    p.add_argument("--rl-lr", dest="rl_lr", type=lab.learning_rate, help="RLVR learning rate")
    p.add_argument("--group", type=lab.sample_count, help="RLVR samples per prompt")
    p.add_argument("--prompts", type=lab.positive_int, help="RLVR prompts per step")
    p.add_argument("--rl-updates", dest="rl_updates", type=lab.positive_int,
                   help="RLVR policy updates per batch of samples (PPO ratio and clip when > 1)")
    p.add_argument("--distill-steps", dest="distill_steps", type=lab.positive_int,
                   help="optimizer steps of every distillation")
    p.add_argument("--distill-format", dest="distill_format",
                   help="the oracle teacher's format, e.g. chunk (default: column for addition)")
    p.add_argument("--fresh", action="store_true", help="retrain and re-evaluate even if finished")
    p.add_argument("--only", help="comma-separated claims to run, e.g. C1,C2 (default: all of "
                   + ",".join(CLAIMS) + "); only the stages they need are run")
    args = p.parse_args(argv)
    args.only = CLAIMS if args.only is None else [c.strip().upper() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in args.only if c not in CLAIMS]
    if unknown or not args.only:
        p.error(f"--only: unknown claim {', '.join(unknown) or '(none given)'}; choose from {', '.join(CLAIMS)}")
    rlvr.check(dataclasses.replace(rlvr.PRESETS[args.preset], **rl_overrides(args)))  # before any stage runs
    if args.distill_format is not None and args.distill_format not in FORMATS:
        p.error(f"--distill-format: unknown format {args.distill_format!r}; choose from {', '.join(FORMATS)}")
    if args.seeds is None:
        args.seeds = list(range(DEFAULT_SEEDS[args.preset]))
    else:
        try:
            args.seeds = sorted({int(s) for s in args.seeds.split(",") if s.strip()})
        except ValueError:
            p.error(f"--seeds: {args.seeds!r} is not a comma-separated list of integers")
        if not args.seeds or min(args.seeds) < 0 or max(args.seeds) > lab.MAX_SEED:
            p.error(f"--seeds: give at least one seed, each from 0 to {lab.MAX_SEED}")
    world = World(**pretrain_config(args, args.seeds[0]).world)
    if "addition" not in world.task_weights:  # every claim reads or trains on addition
        p.error("every claim is measured on addition (C8's context table too), and --tasks leaves it "
                "out; add it, e.g. --tasks addition=0.6," + args.tasks.strip().strip(","))
    if "C8" in args.only and claims.c8_task(world.task_weights) is None:
        p.error("C8 is asked on a task where a wrong step can still reach the right answer ("
                + " or ".join(claims.C8_TASKS) + "), and --tasks has neither; add one to --tasks "
                "or leave C8 out of --only")
    if "C1" in args.only:  # C1's RL run leaves the hardest addition level out (post_training)
        top = world.max_level("addition")
        if top < 2:
            p.error(f"C1 measures narrowing on the hardest addition level, which its RL run leaves "
                    f"out: the world needs at least two addition levels, this one has {top}; give "
                    "--difficulty-weights more levels or leave C1 out of --only")
    return args


def pretrain_config(args, seed):
    ns = pretrain.parse_args(["--preset", args.preset, "--seed", str(seed)]
                             + (["--device", args.device] if args.device else []))
    ns.tasks, ns.format_mix, ns.difficulty_weights = args.tasks, args.format_mix, args.difficulty_weights
    ns.n_layer, ns.n_embd, ns.n_head = args.n_layer, args.n_embd, args.n_head
    return pretrain.config_from_args(ns)


MODEL_OPTIONS = ("n_layer", "n_embd", "n_head")
RL_OPTIONS = {"rl_steps": "steps", "rl_lr": "lr", "group": "group", "prompts": "prompts",
              "rl_updates": "updates"}
DISTILL_OPTIONS = {"distill_steps": "steps", "distill_format": "format"}


RERUN = []  # the command line of every stage the report rests on, in the order they were needed
REUSED = []  # the stages found finished with the same settings (trained or evaluated earlier)


def cli_args(options):
    """{field: value} -> ["--field", "value", ...] (lists joined by commas, None left out)."""
    return [x for k, v in options.items() if v is not None
            for x in (f"--{k.replace('_', '-')}", ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))]


def rerun(script, options, out):
    """Record `python script --option value ... --out out`."""
    line = " ".join(["python", script, *cli_args(options), "--out", out])
    if line not in RERUN:
        RERUN.append(line)


def overrides_of(args, options):
    """The settings of one stage given on the command line, as fields of its config."""
    return {field: getattr(args, opt) for opt, field in options.items() if getattr(args, opt) is not None}


def rl_overrides(args):
    return overrides_of(args, RL_OPTIONS)


def distill_overrides(args):
    return overrides_of(args, DISTILL_OPTIONS)


def student_steps(args):
    """Optimizer steps of the distilled student of C3, C5 and C8: --distill-steps, else
    STUDENT_STEPS, else the preset's distillation."""
    return args.distill_steps or STUDENT_STEPS[args.preset] or distill.PRESETS[args.preset].steps


def base_model(args, seed, timings):
    """Pretrain (or reuse) the base model of one seed; returns its checkpoint path."""
    config = pretrain_config(args, seed)
    name = f"seed{seed}"
    if dataclasses.asdict(config) != dataclasses.asdict(dataclasses.replace(
            pretrain.PRESETS[args.preset], seed=seed, device=config.device)):  # changed: own dir
        name += "-" + lab.config_hash(dataclasses.asdict(config))
    out = os.path.join("runs", args.preset, "pretrain", name)
    ckpt = os.path.join(out, "ckpt.pt")
    rerun("pretrain.py", {"preset": args.preset, "seed": seed, "device": args.device,
                          "format_mix": args.format_mix, "difficulty_weights": args.difficulty_weights,
                          "tasks": args.tasks, "n_layer": args.n_layer, "n_embd": args.n_embd,
                          "n_head": args.n_head}, out)
    run_once(args, seed, timings, f"pretrain {name}", out, config,
             lambda resume_from: pretrain.train(config, out, resume_from))
    return ckpt


def peak_mb():
    """Peak resident memory of this process so far, in MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def timed(timings, what, work):
    """Run work(); append (what, seconds, peak MB of the study so far) to timings; return its result."""
    start = time.time()
    result = work()
    timings.append((what, time.time() - start, peak_mb()))
    return result


def run_once(args, seed, timings, what, out, config, train, after=None):
    """Train into `out` unless it already holds a finished run of `config` (started after the
    checkpoint `after`, if given); an interrupted run of `config` continues from its checkpoint.
    train(resume_from) trains; the time it took goes into `timings` as `what`."""
    saved = None if args.fresh else saved_run(out, dataclasses.asdict(config), after=after)
    if saved is not None and saved.get("finished"):
        print(f"[seed {seed}] reusing {what} in {out}")
        REUSED.append(out)
        return
    resume_from = None
    if saved is not None:
        resume_from = os.path.join(out, "ckpt.pt")
        print(f"[seed {seed}] {what}: continuing the interrupted run in {out} from step {saved.get('step')}")
    else:
        print(f"[seed {seed}] {what} -> {out}")
    lab.ensure_writable_dir(out)
    timed(timings, what, lambda: train(resume_from))


def evaluate_base(args, ckpt, seed, timings, splits=None, samples=None, ood_samples=None):
    """Evaluate a checkpoint (or reuse its evaluation); returns (metrics, evaluation dir)."""
    config = dataclasses.replace(evaluation.EVAL_PRESETS[args.preset])
    if args.device:
        config.device = args.device
    if splits:
        config.splits = splits
    other_count = samples if samples and samples != config.samples else None
    other_ood = ood_samples if ood_samples and ood_samples != config.ood_samples else None
    name = (f"eval-{config.preset}" + (f"-{other_count}" if other_count else "")
            + (f"-ood{other_ood}" if other_ood else ""))
    if other_count:
        config.samples = other_count
    if other_ood:
        config.ood_samples = other_ood
    out = os.path.join(os.path.dirname(ckpt), name)
    rerun("eval.py", {"preset": args.preset, "checkpoint": ckpt, "device": args.device,
                      "splits": splits, "samples": other_count, "ood_samples": other_ood}, out)
    stamp = [os.path.getsize(ckpt), os.path.getmtime(ckpt)]
    metrics_path = os.path.join(out, "metrics.json")
    if not args.fresh and os.path.exists(metrics_path):
        metrics = lab.read_json(metrics_path)
        if metrics.get("config") == lab.as_json(dataclasses.asdict(config)) \
                and metrics.get("checkpoint_stamp") == stamp:
            print(f"[seed {seed}] reusing the evaluation in {out}")
            REUSED.append(out)
            return metrics, out
    print(f"[seed {seed}] evaluating -> {out}")
    what = f"evaluate {os.path.basename(os.path.dirname(os.path.dirname(out)))}/{os.path.basename(os.path.dirname(out))}"
    metrics = timed(timings, what, lambda: evaluation.evaluate(ckpt, config, out))
    metrics["checkpoint_stamp"] = stamp
    lab.write_json(metrics_path, metrics)
    return lab.read_json(metrics_path), out


def distill_stage_overrides(args, changes):
    """The --distill-* options that reach one distillation (its own settings: `changes`).

    The oracle's format (--distill-format) reaches only an oracle teacher with a task that has
    that format: self-distillation has no format to choose, and an addition-only arm cannot be
    taught in `steps`. Where it does not apply, the stage is the preset's own and is reused."""
    overrides = distill_overrides(args)
    config = dataclasses.replace(distill.PRESETS[args.preset], **{**overrides, **changes})
    if config.format and (config.teacher != "oracle" or not distill.format_applies(config)):
        overrides.pop("format")
        what = f"teacher {config.teacher}" if config.teacher != "oracle" else "tasks " + ", ".join(config.tasks)
        print(f"--distill-format {config.format} does not apply to a distillation with {what}: "
              "it keeps the preset's format")
    return overrides


def stage_run(args, stage, base_ckpt, seed, timings, suffix="", **changes):
    """Run a post-training stage (rlvr or distill) from a base checkpoint, or reuse a finished
    run with the same settings; returns its output directory."""
    module = {"rlvr": rlvr, "distill": distill}[stage]
    overrides = rl_overrides(args) if stage == "rlvr" else distill_stage_overrides(args, changes)
    config = dataclasses.replace(module.PRESETS[args.preset], seed=seed, base=base_ckpt,
                                 **{**overrides, **changes})
    if args.device:
        config.device = args.device
    if overrides:
        suffix += "-" + lab.config_hash(overrides)
    out = os.path.join("runs", args.preset, stage, os.path.basename(os.path.dirname(base_ckpt)) + suffix)
    rerun(f"{stage}.py", {"preset": args.preset, "seed": seed, "device": args.device, "base": base_ckpt,
                          **overrides, **changes}, out)
    run_once(args, seed, timings, f"{stage} {os.path.basename(out)}", out, config,
             lambda resume_from: module.train(config, out, resume_from), after=base_ckpt)
    return out


def rl_logs(out):
    metrics = [lab.json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    return metrics, lab.read_json(os.path.join(out, "summary.json"))


def saved_run(out, config, after=None):
    """The checkpoint in `out` (finished or not) when it was made with exactly `config` (and, if
    `after` names the checkpoint it started from, saved after that checkpoint: a retrained base
    invalidates it); else None."""
    from model import load_checkpoint
    ckpt, config_path = os.path.join(out, "ckpt.pt"), os.path.join(out, "config.json")
    if not (os.path.exists(ckpt) and os.path.exists(config_path)):
        return None
    if after is not None and os.path.getmtime(ckpt) < os.path.getmtime(after):
        return None
    if lab.read_json(config_path) != lab.as_json(config):
        return None
    return load_checkpoint(ckpt)


def finished_with(out, config, after=None):
    """True when `out` holds a finished run made with exactly `config` (see saved_run)."""
    saved = saved_run(out, config, after)
    return bool(saved and saved.get("finished"))


# ---------------------------------------------------------------- the report

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


def world_options(args):
    """The world, model and RL options given on the command line, as they would be typed: a run
    with any of them writes its own report (runs/<preset>/variant-<hash>/)."""
    return "".join(f" --{o.replace('_', '-')} {getattr(args, o)}"
                   for o in ("tasks", "format_mix", "difficulty_weights", *MODEL_OPTIONS, *RL_OPTIONS, *DISTILL_OPTIONS)
                   if getattr(args, o) is not None)


def claim_sections(found):
    """The summary table of claims and one section per claim."""
    lines = ["## Claims", "", "| claim | statement | verdict | seeds held | effect (95% interval) |",
             "|---|---|---|---|---|"]
    for c in found:
        lines.append(f"| {c.name} | {c.statement} | **{c.verdict}** | "
                     f"{sum(c.held.values())} of {len(c.held)} | {c.effect} |")
    lines += ["", "Verdict rule, fixed in advance: reproduced = held on every seed (at least 2); "
              "mixed = held on at least 2 seeds but not all; not reproduced = held on fewer than "
              "2 seeds. Each claim's section says what 'held' means for it.", ""]
    for c in found:
        lines += [f"### {c.name}: {c.statement}", "", f"Verdict: **{c.verdict}** "
                  f"(held on {sum(c.held.values())} of {len(c.held)} seeds).", "", *c.lines, ""]
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
             f"Seeds: {', '.join(map(str, seeds))}. Every number below was computed in this run "
             f"(wall time {time.time() - started:.0f} s, peak memory {peak_mb():.0f} MB) from the "
             f"predictions and logs of the stages it rests on: {len(timings)} run now, {len(REUSED)} "
             "reused from earlier runs with the same settings (see Stage times and How to rerun).",
             "", *claim_sections(found), "## The base model", "",
             f"One pretrained model per seed; {n} samples per in-distribution problem at "
             f"temperature 1 (plus one greedy), {first_metrics['config']['ood_samples']} per "
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
              + world_options(args), *RERUN, "```", "", "## Stage times", "",
              "Peak memory is the study process's resident set so far (it never goes down), so the "
              "stage where it rises is the one that needed it.", "",
              "| stage | seconds | peak memory so far (MB) |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.0f} | {mb:.0f} |" for name, sec, mb in timings] or ["| (all stages reused) | 0 | |"]
    # a partial study (some claims, or other seeds) gets its own file beside the full report
    name = "REPORT"
    if list(args.only) != list(CLAIMS):
        name += "-" + "-".join(args.only)
    if args.seeds != list(range(DEFAULT_SEEDS[args.preset])):
        name += "-seeds-" + "-".join(map(str, args.seeds))
    path = os.path.join(out_dir, name + ".md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def report_dir(args):
    """runs/<preset>, or for a changed world ("what if the mix were 80/20?") its own folder."""
    out_dir = os.path.join("runs", args.preset)
    if world_options(args):
        out_dir = os.path.join(out_dir, "variant-" + lab.config_hash(world_options(args)))
    lab.ensure_writable_dir(out_dir)
    return out_dir


class SeedRuns:
    """The post-training runs of one seed, each run (or reused) the first time a claim asks for
    it: so `--only C2` trains only what C2 reads."""

    def __init__(self, args, seed, base_eval, timings, top):
        self.args, self.seed, self.timings, self.memo = args, seed, timings, {}
        self.top = top  # the base's hardest addition level
        self.base_eval = base_eval
        self.base = os.path.join(os.path.dirname(base_eval), "ckpt.pt")

    def once(self, key, make):
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    def stage(self, stage, suffix="", **changes):
        return self.once((stage, suffix), lambda: stage_run(self.args, stage, self.base, self.seed,
                                                           self.timings, suffix, **changes))

    def evaluated(self, run_dir, splits=("id",), samples=None, ood_samples=None):
        """Evaluation directory of a run's checkpoint (evaluated once)."""
        return self.once(("eval", run_dir, samples, ood_samples), lambda: evaluate_base(
            self.args, os.path.join(run_dir, "ckpt.pt"), self.seed, self.timings, splits=splits,
            samples=samples, ood_samples=ood_samples)[1])

    def arm(self, run_dir):
        """An arm of C6 or C9: evaluated with ARM_SAMPLES samples per problem."""
        return self.evaluated(run_dir, samples=ARM_SAMPLES[self.args.preset])

    def c5_arm(self, run_dir):
        """An arm of C5: the trained and the longer additions, ARM_SAMPLES samples on both."""
        n = ARM_SAMPLES[self.args.preset] or evaluation.EVAL_PRESETS[self.args.preset].samples
        return self.evaluated(run_dir, claims.C5_SPLITS, samples=n, ood_samples=n)

    # the runs
    def rl(self):
        return self.stage("rlvr")

    def rl_variant(self, name, **changes):
        return self.stage("rlvr", "-" + name, **changes)

    def patterns(self):
        return self.stage("distill", "-patterns", tasks=list(claims.C3_TASKS), steps=student_steps(self.args))

    def all_levels_changes(self):
        """C5's student: oracle traces for the trained lengths and the two longer ones."""
        return {"arm": "all", "tasks": list(claims.C3_TASKS), "steps": student_steps(self.args)}

    def all_levels(self):
        return self.stage("distill", "-all", **self.all_levels_changes())

    def curriculum(self, name):
        """distill -> RLVR, or RLVR on data chosen by a selection rule (curriculum.py)."""
        def make():
            # distill -> RLVR distils the same student as the distill arm of C5, then runs RL on
            # the levels that student was taught
            student_changes = self.all_levels_changes()
            d_overrides = distill_stage_overrides(self.args, student_changes) if name == "distill-rl" else {}
            options = {"preset": self.args.preset, "seed": self.seed, "base": self.base,
                       "device": self.args.device,
                       **({"mode": "distill-rl", "distill_tasks": student_changes["tasks"],
                           "distill_arm": student_changes["arm"], "distill_steps": student_changes["steps"],
                           "distill_format": d_overrides.get("format"), "rl_max_level": self.top + 2}
                          if name == "distill-rl"
                          else {"mode": "select", "selection": name})}
            overrides = rl_overrides(self.args)
            # the RL settings given to reproduce.py, under curriculum.py's names for them
            options.update({opt: getattr(self.args, opt) for opt in RL_OPTIONS})
            ns = curriculum.parse_args(cli_args(options))
            d, rl, source = curriculum.configs(ns)
            out = os.path.join("runs", self.args.preset, "curriculum",
                               os.path.basename(os.path.dirname(self.base)) + "-" + name
                               + ("-" + lab.config_hash(overrides) if overrides else "")
                               + ("-d" + lab.config_hash(d_overrides) if d_overrides else ""))
            rerun("curriculum.py", options, out)
            # the distillation is C5's distill arm, made with the same settings: trained once
            student = None
            if d is not None and finished_with(self.all_levels(), dataclasses.asdict(d), after=self.base):
                student = os.path.join(self.all_levels(), "ckpt.pt")
            expected = dataclasses.replace(rl, base=student or os.path.join(out, "distill", "ckpt.pt")) if d else rl
            distilled = d is None or student is not None or finished_with(
                os.path.join(out, "distill"), dataclasses.asdict(d), after=self.base)
            if not self.args.fresh and distilled and finished_with(
                    os.path.join(out, "rlvr"), dataclasses.asdict(expected), after=self.base):
                print(f"[seed {self.seed}] reusing the curriculum run in {out}")
                REUSED.append(out)
            else:
                print(f"[seed {self.seed}] curriculum {name} -> {out}")
                timed(self.timings, f"curriculum {os.path.basename(out)}",
                      lambda: curriculum.run(d, rl, source, out, student=student))
            return os.path.join(out, "rlvr")
        return self.once(("curriculum", name), make)


def post_training(args, base_results, timings, out_dir):
    """Run what the requested claims need, seed by seed, then measure the claims."""
    want = set(args.only)
    world = World(**pretrain_config(args, next(iter(base_results))).world)
    top = world.max_level("addition")
    per_seed = {seed: SeedRuns(args, seed, base_eval, timings, top) for seed, (_, base_eval) in base_results.items()}
    rl_steps = rl_overrides(args).get("steps", rlvr.PRESETS[args.preset].steps)
    short = min(KL_STEPS[args.preset], rl_steps)
    found = []
    if "C1" in want:
        # RL whose data stop one level short of the hardest: the narrowing is measured on the
        # level its reward never reaches (runs CR, CF); the main run is shown beside it
        pairs = {s: (r.base_eval, r.evaluated(r.rl_variant("below-top", max_level=top - 1)))
                 for s, r in per_seed.items()}
        found.append(claims.claim_c1(pairs, top, main={s: (r.base_eval, r.evaluated(r.rl()))
                                                       for s, r in per_seed.items()}))
        claims.plot_c1(pairs, os.path.join(out_dir, "c1_pass_at_k.png"), f"RLVR on 1-{top - 1} digits")
        found[-1].plots.append("c1_pass_at_k.png")
    if "C2" in want:
        runs = {s: (rl_logs(r.rl())[0], rl_logs(r.rl_variant("kl", beta=KL_BETA, steps=short))[0], KL_BETA)
                for s, r in per_seed.items()}
        # does the winner change with the mix? one seed: pretrain on another mix, brief RLVR
        seed = next(iter(per_seed))
        other_args = lab.argparse.Namespace(**vars(args))
        other_args.format_mix = OTHER_MIX if args.format_mix != OTHER_MIX else None
        other_base = base_model(other_args, seed, timings)
        other_rl = stage_run(args, "rlvr", other_base, seed, timings, steps=short)
        found.append(claims.claim_c2(runs, other=(other_args.format_mix or "the preset's mix",
                                                  rl_logs(other_rl)[0])))
        claims.plot_rl_steps(runs, os.path.join(out_dir, "c2_formats.png"))
        found[-1].plots.append("c2_formats.png")
    if "C3" in want:
        found.append(claims.claim_c3({s: (lab.read_json(os.path.join(r.evaluated(r.patterns(), SPLITS), "metrics.json")),
                                          lab.read_json(os.path.join(r.base_eval, "metrics.json")))
                                      for s, r in per_seed.items()}))
    if "C4" in want:
        found.append(claims.claim_c4({s: {"base": r.base_eval,
                                          "new": r.evaluated(r.stage("distill", "-new", arm="new"), ("id", "length")),
                                          "known": r.evaluated(r.stage("distill", "-known", arm="known")),
                                          "self": r.evaluated(r.stage("distill", "-self", teacher="self"))}
                                      for s, r in per_seed.items()}, top))
    if "C5" in want:
        d_steps = student_steps(args)
        r_cfg = dataclasses.replace(rlvr.PRESETS[args.preset], **rl_overrides(args))
        compute = {"base": "-", "distill": f"{d_steps} steps",
                   "RLVR": f"{r_cfg.steps} steps, {r_cfg.steps * r_cfg.prompts * r_cfg.group} samples",
                   "distill -> RLVR": f"{d_steps} + {r_cfg.steps} steps, {r_cfg.steps * r_cfg.prompts * r_cfg.group} samples"}
        found.append(claims.claim_c5({s: {"base": r.c5_arm(os.path.dirname(r.base)), "distill": r.c5_arm(r.all_levels()),
                                          "RLVR": r.c5_arm(r.rl_variant("longer", max_level=top + 2)),
                                          "distill -> RLVR": r.c5_arm(r.curriculum("distill-rl"))}
                                      for s, r in per_seed.items()}, compute, top))
    if "C6" in want:
        arms = {}
        for s, r in per_seed.items():
            sel = {"uniform": r.rl()}
            sel.update({name: r.curriculum(name) for name in ("easy", "hard", "edge")})
            arms[s] = {name: (r.base_eval, r.evaluated(d) if name == "uniform" else r.arm(d), rl_logs(d)[0])
                       for name, d in sel.items()}
        found.append(claims.claim_c6(arms, rl_steps))
    if "C7" in want:
        found.append(claims.claim_c7({s: (rl_logs(r.rl())[0], r.base, os.path.join(r.rl(), "ckpt.pt"),
                                          os.path.join(r.stage("distill", "-self", teacher="self"), "ckpt.pt"))
                                      for s, r in per_seed.items()}))
    if "C8" in want:
        task = claims.c8_task(world.task_weights)  # parse_args made sure there is one
        found.append(claims.claim_c8(
            {s: {"base": r.base_eval, "RLVR": r.arm(r.rl_variant(task, tasks=[task])),
                 "distill": r.arm(r.stage("distill", f"-self-{task}", teacher="self", tasks=[task]))}
             for s, r in per_seed.items()},
            {s: {"base": r.base_eval, "RLVR": r.evaluated(r.rl()), "distill": r.evaluated(r.patterns(), SPLITS)}
             for s, r in per_seed.items()}, task))
    if "C9" in want:
        found.append(claims.claim_c9({s: {"base": r.base_eval, "full": r.evaluated(r.rl()),
                                          "one problem": r.arm(r.rl_variant("one-problem", pool=1)),
                                          "random reward": r.arm(r.rl_variant("random-reward", reward="random")),
                                          "format reward": r.arm(r.rl_variant("format-reward", reward="format"))}
                                      for s, r in per_seed.items()}))
    return found


def main(argv=None):
    args = parse_args(argv)
    started, timings, results = time.time(), [], {}
    RERUN.clear()
    REUSED.clear()
    for seed in args.seeds:
        ckpt = base_model(args, seed, timings)
        results[seed] = evaluate_base(args, ckpt, seed, timings)
    found = post_training(args, results, timings, report_dir(args))
    path = write_report(args, results, found, timings, started)
    print(f"report: {path} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    lab.entry(main, resume_hint={
        "checkpoint": "Run the same command again: finished stages are reused and this one "
                      "continues from its checkpoint.",
        "nothing saved": "Run the same command again: finished stages and saved checkpoints are reused."})
