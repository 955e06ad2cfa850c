"""The study's runs and their cache: every stage a claim reads is run once per seed, or reused when
a finished run with exactly the same settings is on disk, and its command line is recorded so that
each script alone can make the same run again (RERUN)."""
import dataclasses
import json
import os
import resource
import shlex
import sys
import time

import curriculum
import distill
import eval as evaluation
import pretrain
import rlvr
import rundir
from study.claims import C3_TASKS, C5_SPLITS, addition_pass1, texts_to_score

SHARPEN_GRID = (0.25, 0.5, 0.75)  # temperatures tried for C1's sharpening reference (1.0: the base's own evaluation)


def matching_temperature(passes, target):
    """{temperature: pass@1} -> the temperature (a multiple of 0.05) at which pass@1, read off the
    line between the two nearest grid points around `target`, equals it; the grid's best when no
    temperature reaches it."""
    ts = sorted(passes)
    for lo, hi in reversed(list(zip(ts, ts[1:]))):  # the least sharpening that matches
        a, b = passes[lo], passes[hi]
        if min(a, b) <= target <= max(a, b) and a != b:
            t = lo + (hi - lo) * (target - a) / (b - a)
            return round(max(0.05, round(t / 0.05) * 0.05), 2)
    return max(ts, key=lambda t: (passes[t], -t)) if target > max(passes.values()) else min(ts, key=lambda t: passes[t])

# Design seeds are the ones tuning may use (the world, the model, the RL settings were tuned on
# seeds 0-9); confirmation seeds are never used for tuning, and the README's results come from
# them. C1's design changed after 100-109 (`cf1`) and again after 110-119 (`cf2`) were read, so
# the confirmation set is now 130-143: fourteen seeds, the count C1's power calculation asks for
# (docs/log/experiments.md, 2026-12-06), which nothing had run when they were chosen (120-129 were
# run on another CPU, FS)
SEED_SETS = {"design": list(range(10)), "confirm": list(range(130, 144)), "cf1": list(range(100, 110)),
             "cf2": list(range(110, 120))}
DEFAULT_SEEDS = {"tiny": [0], "small": [0], "default": SEED_SETS["confirm"], "large": SEED_SETS["confirm"],
                 "gpu": SEED_SETS["confirm"]}


def seeds_of(text, preset):
    """--seeds as typed (None, a set's name or a comma-separated list) -> sorted seeds."""
    if text is None:
        return list(DEFAULT_SEEDS[preset])
    if text.strip().lower() in SEED_SETS:
        return list(SEED_SETS[text.strip().lower()])
    return sorted({int(s) for s in text.split(",") if s.strip()})


def seed_set_name(seeds):
    """Which set the seeds are: the report says whether tuning ever saw them."""
    for name, members in SEED_SETS.items():
        if set(seeds) <= set(members):
            return {"design": "design seeds (tuning may have used them)",
                    "confirm": "confirmation seeds (never used for tuning)",
                    "cf1": "an earlier confirmation set (100-109, read before C1's redesign of 2026-12-01)",
                    "cf2": "an earlier confirmation set (110-119, read before C1's redesign of 2026-12-06)"}[name]
    return "seeds of your choosing (neither the design nor the confirmation set)"
# samples per in-distribution problem for the arms of C5, C6 and C9 (pass@1, and pass@n with a
# smaller n): a quarter of the cost of the 256 that C1 and C4 need for capability (None: as eval)
ARM_SAMPLES = {"tiny": None, "small": None, "default": None, "large": 64, "gpu": 256}
# optimizer steps of the distilled student of C3, C5 and C8 (None: the preset's distillation).
# C3 is about a student near-perfect in distribution; at 100 steps seed 2's reached only 0.851,
# at 300 every seed is at 0.91-0.99 (docs/log/experiments.md, 2026-11-25); on today's weaker
# `default` bases 300 left them at 0.83-0.91, short on the rare 6-digit level (2026-12-02)
STUDENT_STEPS = {"tiny": None, "small": 500, "default": 500, "large": 300, "gpu": None}


def pretrain_config(args, seed):
    """The base model's settings for one seed: the preset's, with the study's model and world
    options, checked as pretrain.py checks its own."""
    changes = {o: getattr(args, o) for o in MODEL_OPTIONS if getattr(args, o) is not None}
    if args.device:
        changes["device"] = args.device
    config = dataclasses.replace(pretrain.PRESETS[args.preset], seed=seed, **changes)
    return pretrain.checked(config, args.tasks, args.format_mix, args.difficulty_weights)


MODEL_OPTIONS = ("n_layer", "n_embd", "n_head")
RL_OPTIONS = curriculum.RL_OPTIONS  # reproduce.py's RL options, as curriculum.py names them
DISTILL_OPTIONS = {"distill_steps": "steps", "distill_format": "format"}


RERUN = []  # the command line of every stage the report rests on, in the order they were needed
REUSED = []  # the stages found finished with the same settings (trained or evaluated earlier)
PLAN = []  # with --plan: (command line, output dir, the output dirs it needs) of each stage to run
COMMANDS = {}  # output dir -> (its command line, the output dirs of the checkpoints it reads)


def cli_args(options):
    """{field: value} -> ["--field", "value", ...] (lists joined by commas, None left out)."""
    return [x for k, v in options.items() if v is not None
            for x in (f"--{k.replace('_', '-')}", ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))]


def rerun(script, options, out):
    """Record `python script --option value ... --out out`."""
    line = shlex.join(["python", script, *cli_args(options), "--out", out])  # '' for an empty list
    if line not in RERUN:
        RERUN.append(line)
    reads = [os.path.dirname(options[k]) for k in ("base", "checkpoint", "student") if options.get(k)]
    COMMANDS[out] = (line, reads)


def planned(args, out):
    """With --plan, record the stage that writes `out` instead of running it: True if recorded."""
    if not getattr(args, "plan", None):
        return False
    line, reads = COMMANDS[out]
    if all(out != p[1] for p in PLAN):
        PLAN.append((line, out, reads))
    return True


def overrides_of(args, options):
    """The settings of one stage given on the command line, as fields of its config."""
    return {field: getattr(args, opt) for opt, field in options.items() if getattr(args, opt) is not None}


def rl_overrides(args):
    return overrides_of(args, RL_OPTIONS)


def rl_config(args):
    """The settings of the study's RL runs: the preset's, with those given on the command line."""
    return dataclasses.replace(rlvr.PRESETS[args.preset], **rl_overrides(args))


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
        name += "-" + rundir.config_hash(dataclasses.asdict(config))
    out = rundir.run_dir(args.preset, "pretrain", name)
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
    if planned(args, out):
        return
    resume_from = None
    if saved is not None:
        resume_from = os.path.join(out, "ckpt.pt")
        print(f"[seed {seed}] {what}: continuing the interrupted run in {out} from step {saved.get('step')}")
    else:
        print(f"[seed {seed}] {what} -> {out}")
    rundir.ensure_writable_dir(out)
    timed(timings, what, lambda: train(resume_from))


def evaluate_checkpoint(args, ckpt, seed, timings, splits=None, samples=None, ood_samples=None, **changes):
    """Evaluate a checkpoint (or reuse its evaluation); returns (metrics, evaluation dir).
    changes: other EvalConfig fields (a lower temperature, fewer problems), each named in the
    directory's name."""
    config = dataclasses.replace(evaluation.EVAL_PRESETS[args.preset], **changes)
    if args.device:
        config.device = args.device
    if splits:
        config.splits = splits
    other_count = samples if samples and samples != config.samples else None
    other_ood = ood_samples if ood_samples and ood_samples != config.ood_samples else None
    # every setting that changes the evaluation is in its directory's name: two evaluations of
    # one checkpoint never share a directory (the preset's own splits go unnamed), nor do two
    # checkpoints of one run (ckpt.pt and a part-way step<N>.pt)
    other_splits = "+".join(config.splits) if tuple(config.splits) != tuple(evaluation.EVAL_PRESETS[args.preset].splits) else None
    stem = os.path.splitext(os.path.basename(ckpt))[0]
    name = (f"eval-{config.preset}" + (f"-{stem}" if stem != "ckpt" else "")
            + (f"-{other_count}" if other_count else "")
            + (f"-ood{other_ood}" if other_ood else "") + (f"-{other_splits}" if other_splits else "")
            + "".join(f"-{k.replace('_', '')}{v:g}" if isinstance(v, float) else f"-{k.replace('_', '')}{v}"
                      for k, v in sorted(changes.items())))
    if other_count:
        config.samples = other_count
    if other_ood:
        config.ood_samples = other_ood
    out = os.path.join(os.path.dirname(ckpt), name)
    rerun("eval.py", {"preset": args.preset, "checkpoint": ckpt, "device": args.device,
                      "splits": splits, "samples": other_count, "ood_samples": other_ood, **changes}, out)
    metrics_path = os.path.join(out, "metrics.json")
    if not args.fresh and os.path.exists(metrics_path) and os.path.exists(ckpt):
        metrics = rundir.read_json(metrics_path)
        if metrics.get("config") == rundir.as_json(dataclasses.asdict(config)) \
                and metrics.get("checkpoint_stamp") == evaluation.checkpoint_stamp(ckpt) \
                and metrics.get("code") == rundir.code_version("eval"):
            print(f"[seed {seed}] reusing the evaluation in {out}")
            REUSED.append(out)
            return metrics, out
    if planned(args, out):
        return None, out
    print(f"[seed {seed}] evaluating -> {out}")
    what = (f"evaluate {os.path.basename(os.path.dirname(os.path.dirname(out)))}/"
            f"{os.path.basename(os.path.dirname(out))}" + (f" {name.split('-', 2)[-1]}" if name != f"eval-{config.preset}" else ""))
    timed(timings, what, lambda: evaluation.evaluate(ckpt, config, out))
    return rundir.read_json(metrics_path), out


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


def stage_run(args, stage, base_ckpt, study_seed, timings, suffix="", **changes):
    """Run a post-training stage (rlvr or distill) from a base checkpoint, or reuse a finished
    run with the same settings; returns its output directory. The stage's seed is the study's
    seed unless `changes` gives it another (C11's second runs)."""
    seed = changes.pop("seed", study_seed)
    module = {"rlvr": rlvr, "distill": distill}[stage]
    overrides = rl_overrides(args) if stage == "rlvr" else distill_stage_overrides(args, changes)
    config = dataclasses.replace(module.PRESETS[args.preset], **{"seed": seed, "base": base_ckpt,
                                                                 **overrides, **changes})
    if args.device:
        config.device = args.device
    if overrides:
        suffix += "-" + rundir.config_hash(overrides)
    out = rundir.run_dir(args.preset, stage, os.path.basename(os.path.dirname(base_ckpt)) + suffix)
    rerun(f"{stage}.py", {"preset": args.preset, "seed": seed, "device": args.device, "base": base_ckpt,
                          **overrides, **changes}, out)
    run_once(args, study_seed, timings, f"{stage} {os.path.basename(out)}", out, config,
             lambda resume_from: module.train(config, out, resume_from), after=base_ckpt)
    return out


def base_likelihoods(base_ckpt, eval_dirs):
    """{(prompt, completion): the base's mean log-likelihood per token} of every right answer of
    in-distribution addition in these evaluations (C12), scored once each, on the CPU."""
    import lab
    from data import CharTokenizer
    from model import load_checkpoint, model_from_checkpoint
    pairs = texts_to_score(eval_dirs)
    model = model_from_checkpoint(load_checkpoint(base_ckpt), "cpu", base_ckpt)
    return dict(zip(pairs, lab.completion_logprob(model, CharTokenizer(), pairs)))


def rl_logs(out):
    metrics = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    return metrics, rundir.read_json(os.path.join(out, "summary.json"))


def saved_run(out, config, after=None):
    """The checkpoint in `out` (finished or not) when it was made with exactly `config` by the
    code as it is now (and, if `after` names the checkpoint it started from, saved after that
    checkpoint: a retrained base invalidates it); else None."""
    from model import load_checkpoint
    ckpt, config_path = os.path.join(out, "ckpt.pt"), os.path.join(out, "config.json")
    if not (os.path.exists(ckpt) and os.path.exists(config_path)):
        return None
    if after is not None and os.path.getmtime(ckpt) < os.path.getmtime(after):
        return None
    if rundir.read_json(config_path) != rundir.as_json(config):
        return None
    saved = load_checkpoint(ckpt)
    if saved.get("code") != rundir.code_version(saved.get("stage", "")):
        return None  # made by other code: its numbers may not be what this code would give
    return saved


def finished_with(out, config, after=None):
    """True when `out` holds a finished run made with exactly `config` (see saved_run)."""
    saved = saved_run(out, config, after)
    return bool(saved and saved.get("finished"))


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
        return self.once(("eval", run_dir, tuple(splits), samples, ood_samples), lambda: evaluate_checkpoint(
            self.args, os.path.join(run_dir, "ckpt.pt"), self.seed, self.timings, splits=splits,
            samples=samples, ood_samples=ood_samples)[1])

    def arm(self, run_dir):
        """An arm of C6 or C9: evaluated with ARM_SAMPLES samples per problem."""
        return self.evaluated(run_dir, samples=ARM_SAMPLES[self.args.preset])

    def c5_arm(self, run_dir):
        """An arm of C5: the trained and the longer additions, ARM_SAMPLES samples on both."""
        n = ARM_SAMPLES[self.args.preset] or evaluation.EVAL_PRESETS[self.args.preset].samples
        return self.evaluated(run_dir, C5_SPLITS, samples=n, ood_samples=n)

    # the runs
    def rl(self):
        return self.stage("rlvr")

    def rl_steps(self):
        """C1's dose-response: {RL step: evaluation dir} of the main RL run at each kept step and
        at its end (step 0: the base), on the in-distribution problems."""
        run, cfg = self.rl(), rl_config(self.args)
        out = {0: self.base_eval}
        for step in cfg.snapshots:
            if step < cfg.steps:
                ckpt = os.path.join(run, f"step{step}.pt")
                out[step] = self.once(("eval", ckpt), lambda: evaluate_checkpoint(
                    self.args, ckpt, self.seed, self.timings, splits=("id",))[1])
        out[cfg.steps] = self.evaluated(run)
        return out

    def sharpened(self, target, top):
        """Pure sharpening, C1's reference line: the base sampled at the temperature whose pass@1
        on in-distribution addition (levels weighted equally) is nearest `target` (RL's), found
        on a cheap grid (16 samples of 12 problems per level), then evaluated as RL is. Returns
        (temperature, evaluation dir); None with no target (--plan: the grid is planned, and the
        matching evaluation is left to the study's command)."""
        grid = {1.0: self.base_eval}
        for t in SHARPEN_GRID:
            metrics, d = evaluate_checkpoint(self.args, self.base, self.seed, self.timings, splits=("id",), samples=16,
                                       ood_samples=1, temperature=t, top_level_problems=0, top_level_samples=0)
            grid[t] = d
        if target is None or metrics is None:  # a plan: the grid is still to run
            return None
        passes = {t: addition_pass1(rundir.read_json(os.path.join(d, "metrics.json")), top) for t, d in grid.items()}
        t = matching_temperature(passes, target)
        if t == 1.0:  # no lower temperature matches better: the base as it is
            return t, self.base_eval
        return t, self.once(("sharpened", t), lambda: evaluate_checkpoint(
            self.args, self.base, self.seed, self.timings, splits=("id",), temperature=t)[1])

    def sft_matched(self, suffix="", **changes):
        """SFT matched to RL (C7, C11): the base's own verified samples, RL's optimizer steps,
        learning rate and constant schedule, so that a comparison is of algorithms, not lr x steps."""
        r = rl_config(self.args)
        return self.stage("distill", "-self-matched" + suffix, teacher="self", steps=r.steps * r.updates,
                          lr=r.lr, min_lr=r.lr, warmup=0, **changes)

    def rl_variant(self, name, **changes):
        return self.stage("rlvr", "-" + name, **changes)

    def patterns(self):
        return self.stage("distill", "-patterns", tasks=list(C3_TASKS), steps=student_steps(self.args))

    def all_levels_changes(self, exclude=None):
        """C5's student: oracle traces for the trained lengths and the two longer ones (C4's
        new-knowledge arm; its patterns-only arm takes the tasks and steps, `exclude`="arm")."""
        changes = {"arm": "all", "tasks": list(C3_TASKS), "steps": student_steps(self.args)}
        changes.pop(exclude, None)
        return changes

    def all_levels(self):
        return self.stage("distill", "-all", **self.all_levels_changes())

    def all_levels_matched(self):
        """C5's distill arm: the same student trained for as many optimizer steps as distill ->
        RLVR takes in all (the student's, then RL's steps x updates), so that distill -> RLVR
        does not win by training longer."""
        rl = rl_config(self.args)
        changes = self.all_levels_changes()
        changes["steps"] += rl.steps * rl.updates
        return self.stage("distill", "-all-matched", **changes)

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
                           "distill_format": d_overrides.get("format"), "rl_max_level": self.top + 2,
                           # C5's distill arm is this distillation: RL starts from it
                           "student": os.path.join(self.all_levels(), "ckpt.pt")}
                          if name == "distill-rl"
                          else {"mode": "select", "selection": name})}
            overrides = rl_overrides(self.args)
            # the RL settings given to reproduce.py, under curriculum.py's names for them
            options.update({opt: getattr(self.args, opt) for opt in RL_OPTIONS})
            out = rundir.run_dir(self.args.preset, "curriculum",
                                 os.path.basename(os.path.dirname(self.base)) + "-" + name
                                 + ("-" + rundir.config_hash(overrides) if overrides else "")
                                 + ("-d" + rundir.config_hash(d_overrides) if d_overrides else ""))
            rerun("curriculum.py", options, out)
            if not os.path.exists(self.base) and planned(self.args, out):  # a base still to train
                return os.path.join(out, "rlvr")
            d, rl, source = curriculum.configs(curriculum.parse_args(cli_args(options)))
            # the distillation is C5's distill arm, made with the same settings: trained once
            student = None
            if d is not None and finished_with(self.all_levels(), dataclasses.asdict(d), after=self.base):
                student = os.path.join(self.all_levels(), "ckpt.pt")
            expected = dataclasses.replace(rl, base=student or os.path.join(out, "distill", "ckpt.pt")) if d else rl
            distilled = d is None or student is not None or finished_with(
                os.path.join(out, "distill"), dataclasses.asdict(d), after=self.base)
            # RL started from expected.base (the base, or the student): one retrained since is newer
            if not self.args.fresh and distilled and finished_with(
                    os.path.join(out, "rlvr"), dataclasses.asdict(expected), after=expected.base):
                print(f"[seed {self.seed}] reusing the curriculum run in {out}")
                REUSED.append(out)
            elif not planned(self.args, out):
                print(f"[seed {self.seed}] curriculum {name} -> {out}")
                timed(self.timings, f"curriculum {os.path.basename(out)}",
                      lambda: curriculum.run(d, rl, source, out, student=student))
            return os.path.join(out, "rlvr")
        return self.once(("curriculum", name), make)
