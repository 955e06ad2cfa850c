"""The study: run the lab's experiments for a preset and write runs/<preset>/REPORT.md.

By default it runs the headline study: the three phenomena C1-C3 (capability narrowing, format
collapse, distilled chains failing out of distribution), each judged on every seed by the
pre-registered rules of study/rules.py (RULES) beside its negative control. `--claims all` adds
C4-C12; `--claims C2,C5` runs a subset. Every claim is measured on one pretrained base model per
seed (trained once and shared); the report gives each rule's pooled effect with its interval,
each seed's, the sign count and test, the control, the figures and the command of every run.

    python reproduce.py                     # default preset, the 14 confirmation seeds
    python reproduce.py --preset small      # one seed, labelled indicative
    python reproduce.py --preset tiny       # the whole pipeline in a minute or two
    python reproduce.py --seeds design      # the design seeds (tuning happens on these)
    python reproduce.py --seeds 0,1 --format-mix column=0.8,chunk=0.1,direct=0.1

A changed world trains its own base models (runs/<preset>/pretrain/seed<k>-<hash>) and writes its
report to runs/<preset>/variant-<hash>/REPORT.md, leaving the main report alone.

Finished stages are reused when their settings are unchanged; --fresh retrains everything.
`--jobs N` runs the seeds in N processes; `--plan plan.mk` runs nothing and writes the stages
still to run as a Makefile for `make -j N` (or a cluster's scheduler), see study/jobs.py.
"""
import argparse
import os
import sys
import time

from data.world import FORMATS, SPLITS, World
import cli
import distill
import pretrain
import rlvr
import rundir
from study import claims, jobs, plots
from study.report import report_dir, write_report
from study.rules import CLAIMS, HEADLINE
from study.runs import (DISTILL_OPTIONS, MODEL_OPTIONS, PLAN, RERUN, RL_OPTIONS, REUSED, SeedRuns, base_likelihoods, base_model,
                        evaluate_checkpoint,
                        pretrain_config, rl_config, rl_logs, seeds_of, stage_run, student_steps)

KL_BETA = 0.3  # the beta > 0 run of C2 (0.1 barely slowed the collapse, 1.0 froze the mix)
C2_STEPS = 30  # C2 reads the first 30 steps of the main RL run (collapse is over by step 15), and
# its KL and coin-flip runs are that long: with a constant learning rate, the same first steps
# C2's other world: the same tasks with chunk, not column, as the majority addition format
OTHER_MIX = "column=0.35,chunk=0.6,direct=0.05"


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="default", choices=list(pretrain.PRESETS))
    p.add_argument("--seeds", help="comma-separated seeds, or `design` (0-9: the seeds tuning may "
                   "use), `confirm` (130-143: never tuned on), or an earlier confirmation set, `cf1` (100-109) or "
                   "`cf2` (110-119); default: "
                   "confirm for default, large and gpu, seed 0 for tiny and small")
    p.add_argument("--device", help="auto, cpu, cuda or mps")
    pretrain.add_world_options(p)
    # the stages' own options that the study passes on, declared (parser, help) by the stages
    for name in MODEL_OPTIONS:
        cli.add_field_option(p, name, pretrain.PretrainConfig, name, "model size")
    for name, field in RL_OPTIONS.items():
        cli.add_field_option(p, name, rlvr.RLConfig, field, "every RL run")
    for name, field in DISTILL_OPTIONS.items():
        cli.add_field_option(p, name, distill.DistillConfig, field, "every distillation")
    p.add_argument("--fresh", action="store_true", help="retrain and re-evaluate even if finished")
    p.add_argument("--jobs", type=int, help="run the seeds in N processes side by side, the CPU threads "
                   "shared between them (the report is the same as with 1); default: one per CPU core "
                   "on a CPU (at most one per seed), 1 on a GPU or with --plan")
    p.add_argument(jobs.WORKER_FLAG, type=int, help=argparse.SUPPRESS)
    p.add_argument("--plan", type=cli.path, metavar="FILE",
                   help="run nothing: write the stages still to run (each stage's command and the "
                   "stages it needs) as a Makefile, e.g. plan.mk, for make -j N or a scheduler; then "
                   "the same command without --plan writes the report; a FILE ending in .slurm or "
                   ".sbatch is a Slurm job array instead (one task per seed, then the report)")
    p.add_argument("--claims", "--only", dest="claims", default="headline",
                   help="headline (C1-C3, the default), all (C1-C12), or comma-separated claims, e.g. "
                   "C2,C5; only the stages they need are run")
    args = p.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        p.error(f"--jobs: give 1 or more processes, got {args.jobs}")
    if args.plan and ((args.jobs or 1) > 1 or args.fresh):
        p.error("--plan runs nothing: it writes the stages still to run for make -j N; leave out "
                + ("--jobs (give make -j N instead)" if (args.jobs or 1) > 1 else
                   "--fresh (delete the runs to redo first)"))
    named = {"headline": list(HEADLINE), "all": list(CLAIMS)}
    args.claims = named.get(args.claims.strip().lower()) or sorted(
        {c.strip().upper() for c in args.claims.split(",") if c.strip()}, key=lambda c: (len(c), c))
    unknown = [c for c in args.claims if c not in CLAIMS]
    if unknown or not args.claims:
        p.error(f"--claims: unknown claim {', '.join(unknown) or '(none given)'}; choose headline, all "
                f"or from {', '.join(CLAIMS)}")
    rlvr.check(rl_config(args))  # before any stage runs
    if args.distill_format is not None and args.distill_format not in FORMATS:
        p.error(f"--distill-format: unknown format {args.distill_format!r}; choose from {', '.join(FORMATS)}")
    try:
        args.seeds = seeds_of(args.seeds, args.preset)
    except ValueError:
        p.error(f"--seeds: {args.seeds!r} is not design, confirm, cf1, cf2 or a comma-separated list of integers")
    if not args.seeds or min(args.seeds) < 0 or max(args.seeds) > cli.MAX_SEED:
        p.error(f"--seeds: give at least one seed, each from 0 to {cli.MAX_SEED}")
    if args.jobs is None:
        args.jobs = default_jobs(args)
    world = World(**pretrain_config(args, args.seeds[0]).world)
    if "addition" not in world.task_weights:  # every claim reads or trains on addition
        p.error("every claim is measured on addition (C8's context table too), and --tasks leaves it "
                "out; add it, e.g. --tasks addition=0.6," + args.tasks.strip().strip(","))
    if "C8" in args.claims and claims.c8_task(world.task_weights) is None:
        p.error("C8 is asked on a task where a wrong step can still reach the right answer ("
                + " or ".join(claims.C8_TASKS) + "), and --tasks has neither; add one to --tasks "
                "or leave C8 out of --claims")
    return args


def default_jobs(args):
    """One process per CPU core on a CPU (two 1-thread processes sample 1.4x faster than one
    2-thread process on 2 cores), at most one per seed; one on a GPU, and with --plan."""
    if args.plan or args.worker is not None:
        return 1
    from model import pick_device
    if pick_device(args.device or "auto") != "cpu":
        return 1
    return max(1, min(os.cpu_count() or 1, len(args.seeds)))


def other_mix_seed(args, per_seed):
    """The seed on which C2 asks whether the winner changes with another format mix (a base of its
    own): the study's first. A --jobs worker holds it only if it is worker 0 (worker k gets
    seeds[k::jobs]); the others would pretrain a base that no report reads."""
    return next(iter(per_seed)) if args.worker in (None, 0) else None


class Study:
    """What each claim's spec is given: the study's options, its world and every seed's runs.
    Asking a SeedRuns for a run runs it (or reuses it; with --plan, only records its command)."""

    def __init__(self, args, world, per_seed, timings):
        self.args, self.world, self.per_seed, self.timings = args, world, per_seed, timings
        self.top = world.max_level("addition")
        # C1 and C2 read the same RL run, on every addition level: C1 at several steps and at its
        # end, C2 its first C2_STEPS steps, beside a run with a KL penalty and one rewarded by a
        # coin flip (C2's negative control, C1's damage reference and C9's random-reward arm)
        self.short = {"steps": min(C2_STEPS, rl_config(args).steps), "snapshots": []}

    def coin(self, r):
        return r.rl_variant("random-reward", reward="random", **self.short)

    def each(self, runs_of):
        """{seed: runs_of(that seed's SeedRuns)}"""
        return {s: runs_of(r) for s, r in self.per_seed.items()}


def log(run_dir):
    return rl_logs(run_dir)[0]


# ---------------------------------------------------------------- one spec per claim
# Each claim is two functions side by side: what it reads (the runs, per seed) and how it is
# judged (claims.claim_*, by the rules of study/rules.py) with its figures. SPECS lists them.

def c1_reads(study):
    top, last = study.top, rl_config(study.args).steps
    steps = study.each(lambda r: r.rl_steps())
    pairs = {s: (r.base_eval, steps[s][last]) for s, r in study.per_seed.items()}
    # the sharpening temperature is chosen from RL's measured pass@1 (a plan runs its grid only)
    found = {s: r.sharpened(None if study.args.plan else claims.addition_pass1(
                 rundir.read_json(os.path.join(pairs[s][1], "metrics.json")), top), top)
             for s, r in study.per_seed.items()}
    sharpened = None
    if all(found.values()):
        sharpened = ({s: t for s, (t, _) in found.items()},
                     {s: (study.per_seed[s].base_eval, d) for s, (_, d) in found.items()})
    # the control: C3's student, distilled from the oracle's chains on every level
    control = study.each(lambda r: (r.base_eval, r.evaluated(r.patterns(), SPLITS)))
    damage = study.each(lambda r: (r.base_eval, r.evaluated(study.coin(r))))
    return pairs, control, steps, damage, sharpened


def c1_judge(study, reads, out_dir):
    pairs, control, steps, damage, sharpened = reads
    found = claims.claim_c1(pairs, study.top, control, steps, damage, sharpened)
    plots.plot_c1_dose(steps, control, sharpened, study.top, os.path.join(out_dir, "c1_dose.png"))
    plots.plot_c1(pairs, os.path.join(out_dir, "c1_pass_at_k.png"), f"RLVR on 1-{study.top} digits", control=damage)
    found.plots += ["c1_dose.png", "c1_pass_at_k.png"]
    return found


def c2_reads(study):
    args = study.args
    runs = study.each(lambda r: (r.rl(), r.rl_variant("kl", beta=KL_BETA, **study.short)))
    control, other = study.each(study.coin), None
    seed = other_mix_seed(args, study.per_seed)
    if set(args.claims) >= set(CLAIMS) and seed is not None:  # does the winner change with the mix? one seed, its own base
        other_args = argparse.Namespace(**vars(args))
        other_args.format_mix = OTHER_MIX if args.format_mix != OTHER_MIX else None
        other_base = base_model(other_args, seed, study.timings)
        other = (other_args.format_mix or "the preset's mix",
                 stage_run(args, "rlvr", other_base, seed, study.timings, **study.short))
    return runs, control, other


def c2_judge(study, reads, out_dir):
    runs, control, other = reads
    runs = {s: (log(a)[:study.short["steps"]], log(b)) for s, (a, b) in runs.items()}
    control = {s: log(d) for s, d in control.items()}
    found = claims.claim_c2(runs, control, KL_BETA, other=other and (other[0], log(other[1])))
    plots.plot_rl_steps(runs, control, KL_BETA, os.path.join(out_dir, "c2_formats.png"))
    found.plots.append("c2_formats.png")
    return found


def c3_reads(study):
    return study.each(lambda r: r.evaluated(r.patterns(), SPLITS)), study.each(lambda r: r.base_eval)


def c3_judge(study, reads, out_dir):
    students, bases = reads
    curves = {"student": claims.shift_curve(students, study.top), "base": claims.shift_curve(bases, study.top)}
    found = claims.claim_c3(students, bases, curves)
    plots.plot_c3(curves, os.path.join(out_dir, "c3_shifts.png"), len(students))
    found.plots.append("c3_shifts.png")
    return found


def c4_reads(study):
    # the new-knowledge student is C5's (every level, the two longer ones included); the
    # patterns-only student gets its tasks and steps
    return study.each(lambda r: {"base": r.c5_arm(os.path.dirname(r.base)), "new": r.c5_arm(r.all_levels()),
                                 "patterns": r.c5_arm(r.stage("distill", "-known-matched", arm="known",
                                                              **r.all_levels_changes(exclude="arm")))})


def c4_judge(study, reads, out_dir):
    found = claims.claim_c4(reads, study.top)
    plots.plot_c4(reads, study.top, os.path.join(out_dir, "c4_capability.png"))
    found.plots.append("c4_capability.png")
    return found


def c5_reads(study):
    return study.each(lambda r: {"base": r.c5_arm(os.path.dirname(r.base)), "distill": r.c5_arm(r.all_levels_matched()),
                                 "RLVR": r.c5_arm(r.rl_variant("longer", max_level=study.top + 2)),
                                 "distill -> RLVR": r.c5_arm(r.curriculum("distill-rl"))})


def c5_judge(study, reads, out_dir):
    d_steps, r_cfg = student_steps(study.args), rl_config(study.args)
    samples = f"{r_cfg.steps * r_cfg.prompts * r_cfg.group} samples"
    rl_updates = r_cfg.steps * r_cfg.updates
    compute = {"base": "-", "distill": f"{d_steps + rl_updates} steps",
               "RLVR": f"{r_cfg.steps} steps{f' x {r_cfg.updates} updates' if r_cfg.updates > 1 else ''}, {samples}",
               "distill -> RLVR": f"{d_steps} + {rl_updates} steps, {samples}"}
    return claims.claim_c5(reads, compute, study.top)


def c6_reads(study):
    def arms(r):
        sel = {"uniform": r.rl(), **{name: r.curriculum(name) for name in ("easy", "hard", "edge")}}
        return {name: (r.base_eval, r.evaluated(d) if name == "uniform" else r.arm(d), d) for name, d in sel.items()}
    return study.each(arms)


def c6_judge(study, reads, out_dir):
    return claims.claim_c6({s: {name: (base, ev, log(d)) for name, (base, ev, d) in arms.items()}
                            for s, arms in reads.items()}, rl_config(study.args).steps)


def c7_reads(study):
    return study.each(lambda r: (r.rl(), r.base, os.path.join(r.rl(), "ckpt.pt"),
                                 os.path.join(r.sft_matched(), "ckpt.pt")))


def c7_judge(study, reads, out_dir):
    return claims.claim_c7({s: (log(d), *rest) for s, (d, *rest) in reads.items()})


def c8_reads(study):
    task = claims.c8_task(study.world.task_weights)  # parse_args made sure there is one
    return (study.each(lambda r: {"base": r.base_eval, "RLVR": r.arm(r.rl_variant(task, tasks=[task])),
                                  "distill": r.arm(r.stage("distill", f"-self-{task}", teacher="self", tasks=[task]))}),
            study.each(lambda r: {"base": r.base_eval, "RLVR": r.evaluated(r.rl()),
                                  "distill": r.evaluated(r.patterns(), SPLITS)}), task)


def c8_judge(study, reads, out_dir):
    return claims.claim_c8(*reads)


def c9_reads(study):
    return study.each(lambda r: {"base": r.base_eval, "full": r.evaluated(r.rl()),
                                 "one problem": r.arm(r.rl_variant("one-problem", pool=1)),
                                 "random reward": r.arm(study.coin(r)),
                                 "format reward": r.arm(r.rl_variant("format-reward", reward="format"))})


def c9_judge(study, reads, out_dir):
    return claims.claim_c9(reads)


def c10_reads(study):
    return study.each(lambda r: r.rl()), study.each(study.coin)


def c10_judge(study, reads, out_dir):
    runs, control = ({s: log(d) for s, d in part.items()} for part in reads)
    found = claims.claim_c10(runs, control)
    plots.plot_c10(runs, control, os.path.join(out_dir, "c10_entropy.png"))
    found.plots.append("c10_entropy.png")
    return found


def c11_reads(study):
    # two RL runs and two SFT runs from one base, the second of each with another seed
    ckpt = lambda d: os.path.join(d, "ckpt.pt")
    return study.each(lambda r: (r.base, ckpt(r.rl()), ckpt(r.rl_variant("seed1000", seed=r.seed + 1000)),
                                 ckpt(r.sft_matched()), ckpt(r.sft_matched("-seed1000", seed=r.seed + 1000))))


def c11_judge(study, reads, out_dir):
    found = claims.claim_c11(reads)
    plots.plot_c11(found.figure, os.path.join(out_dir, "c11_overlap.png"))
    found.plots.append("c11_overlap.png")
    return found


def c12_reads(study):
    return study.each(lambda r: {"base": r.base_eval, "RLVR": r.evaluated(r.rl()), "coin flip": r.evaluated(study.coin(r))})


def c12_judge(study, reads, out_dir):
    scores = {s: base_likelihoods(study.per_seed[s].base, list(arms.values())) for s, arms in reads.items()}
    found = claims.claim_c12(reads, scores)
    plots.plot_c12(found.figure, os.path.join(out_dir, "c12_likelihood.png"))
    found.plots.append("c12_likelihood.png")
    return found


SPECS = {"C1": (c1_reads, c1_judge), "C2": (c2_reads, c2_judge), "C3": (c3_reads, c3_judge),
         "C4": (c4_reads, c4_judge), "C5": (c5_reads, c5_judge), "C6": (c6_reads, c6_judge),
         "C7": (c7_reads, c7_judge), "C8": (c8_reads, c8_judge), "C9": (c9_reads, c9_judge),
         "C10": (c10_reads, c10_judge), "C11": (c11_reads, c11_judge), "C12": (c12_reads, c12_judge)}
assert tuple(SPECS) == CLAIMS


def main(argv=None):
    args = parse_args(argv)
    started, timings, results = time.time(), [], {}
    RERUN.clear()
    REUSED.clear()
    PLAN.clear()
    workers = None
    if args.jobs > 1 and len(args.seeds) > 1 and args.worker is None:
        workers = jobs.run_workers(sys.argv[1:] if argv is None else list(argv), args.seeds, args.jobs,
                                   report_dir(args))
        args.fresh = False  # the workers made everything fresh; now the study only reads it
    for seed in args.seeds:
        ckpt = base_model(args, seed, timings)
        results[seed] = evaluate_checkpoint(args, ckpt, seed, timings)
    world = World(**pretrain_config(args, args.seeds[0]).world)
    top = world.max_level("addition")
    per_seed = {seed: SeedRuns(args, seed, base_eval, timings, top) for seed, (_, base_eval) in results.items()}
    study = Study(args, world, per_seed, timings)
    reads = {c: SPECS[c][0](study) for c in CLAIMS if c in args.claims}  # in claim order: the runs' order
    if args.worker is not None:  # a --jobs worker: its stages are done; the study writes the report
        jobs.save_worker(report_dir(args), args.worker, timings, list(REUSED))
        return
    if args.plan and args.plan.endswith(jobs.SLURM_SUFFIXES):  # nothing ran: a job array for Slurm
        jobs.write_slurm(args.plan, sys.argv[1:] if argv is None else list(argv), args.seeds, report_dir(args))
        print(f"plan: {args.plan} (a Slurm job array of {len(args.seeds)} seeds, then the report); submit "
              f"it with: bash {args.plan}")
        return
    if args.plan:  # nothing ran: the stages still to run, for make
        jobs.write_plan(args.plan, sys.argv[1:] if argv is None else list(argv), PLAN)
        print(f"plan: {args.plan} ({len(PLAN)} stages to run); run it with "
              f"OMP_NUM_THREADS=1 make -j 2 -f {args.plan}, or on a cluster's scheduler")
        return
    found = [SPECS[c][1](study, reads[c], report_dir(args)) for c in CLAIMS if c in reads]
    if workers:
        timings[:0], REUSED[:] = workers
    path = write_report(args, results, found, timings, started)
    print(f"report: {path} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    cli.entry(main, resume_hint={
        "checkpoint": "Run the same command again: finished stages are reused and this one "
                      "continues from its checkpoint.",
        "nothing saved": "Run the same command again: finished stages and saved checkpoints are reused."})
