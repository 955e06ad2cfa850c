"""`reproduce.py --jobs N`: the seeds of a study run in N processes side by side, each with its
share of the CPU threads. Every seed's stages are independent of every other seed's, so each
worker runs the study's own command on its seeds and writes no report; the study then runs as it
would alone, finds every stage finished, and writes the report (the same as a serial run's) with
the stage times the workers measured.

`reproduce.py --plan FILE` runs nothing: it writes the stages still to run as a Makefile, each
stage's own command (the line under "How to rerun") with the stages whose checkpoints it reads,
so that `make -j N` (or a cluster's scheduler reading the same dependencies) can run them on
several processes or machines sharing the folder; the study's command then writes the report."""
import os
import shlex
import subprocess
import sys

import cli
import rundir

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reproduce.py")
WORKER_FLAG = "--worker"  # a hidden option: run the stages of these seeds, write no report


def without(argv, *options):
    """argv without the given options and their values (`--opt value` or `--opt=value`)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in options:
            skip = True
        elif not any(a.startswith(o + "=") for o in options):
            out.append(a)
    return out


def worker_file(out_dir, k):
    return os.path.join(out_dir, "jobs", f"worker{k}.json")


def run_workers(argv, seeds, jobs, out_dir):
    """Run the study's stages for `seeds` in `jobs` processes; returns what they measured:
    (timings, reused stage directories). A worker that fails stops the study with its log."""
    groups = [seeds[k::jobs] for k in range(jobs) if seeds[k::jobs]]
    threads = max(1, (os.cpu_count() or 1) // len(groups))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    os.makedirs(os.path.join(out_dir, "jobs"), exist_ok=True)
    base = without(argv, "--jobs", "--seeds")
    procs = []
    try:
        for k, group in enumerate(groups):
            log = os.path.join(out_dir, "jobs", f"worker{k}.log")
            cmd = [sys.executable, SCRIPT, *base, "--seeds", ",".join(map(str, group)), WORKER_FLAG, str(k)]
            print(f"worker {k}: seeds {', '.join(map(str, group))}, {threads} thread(s), log {log}")
            with open(log, "w") as out:  # the worker writes to its own copy of the handle
                procs.append((k, subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT), log))
        failed = []
        for k, proc, log in procs:
            if proc.wait() != 0:
                failed.append(f"worker {k} (exit status {proc.returncode}; see {log})")
    except KeyboardInterrupt:
        for _, proc, _ in procs:
            proc.terminate()
        for _, proc, _ in procs:
            proc.wait()
        raise
    if failed:
        raise cli.LabError("--jobs: " + ", ".join(failed) + " failed; finished stages are kept, run the same command again")
    timings, reused = [], []
    for k, _, _ in procs:
        done = rundir.read_json(worker_file(out_dir, k))
        timings += [tuple(t) for t in done["timings"]]
        reused += done["reused"]
    return timings, reused


def save_worker(out_dir, k, timings, reused):
    """What a worker measured, for the study that started it."""
    rundir.write_json(worker_file(out_dir, k), {"timings": timings, "reused": reused})


RESUMABLE = ("pretrain.py", "rlvr.py", "distill.py")  # the stage scripts with --resume


def stamp(out):
    """The file a finished stage leaves for make: the stage's output directory is its target."""
    return os.path.join(out, ".made")


def write_plan(path, argv, stages):
    """A Makefile for `stages` [(command line, output dir, output dirs it reads)]: one target per
    stage, needing the stages it reads that are in the plan (the rest are finished), and a final
    `report` target that runs the study's own command (argv without --plan), which finds every
    stage finished and writes the report."""
    targets = {out for _, out, _ in stages}
    study = " ".join(["$(PYTHON) $(LAB)/reproduce.py", *without(argv, "--plan", "--jobs")])
    lines = ["# The study's plan, written by: python reproduce.py " + " ".join(argv),
             f"# Run it in this folder ({os.getcwd()}, where runs/ is): OMP_NUM_THREADS=1 make -j 2 -f " + path,
             "# (one thread per stage process, as many processes as cores). Each target is one",
             "# stage; run make again after a stop and a stopped stage continues from its checkpoint.",
             "# the Python that has the requirements, and the folder of the lab's scripts",
             "PYTHON ?= python", f"LAB ?= {os.path.relpath(os.path.dirname(SCRIPT))}", "",
             ".PHONY: report", "report: " + " ".join(stamp(out) for _, out, _ in stages), "\t" + study, ""]
    for line, out, reads in stages:
        # a stage reads a checkpoint in the output dir of another, or below it (curriculum.py's
        # rlvr/); a checkpoint of no stage of the plan is finished already
        needs = [stamp(t) for r in reads for t in targets if r == t or r.startswith(t + os.sep)]
        script = line.split()[1]
        resume = f" $(if $(wildcard {out}/ckpt.pt),--resume)" if script in RESUMABLE else ""
        lines += [f"{stamp(out)}: {' '.join(needs)}".rstrip(),
                  "\t$(PYTHON) $(LAB)/" + line.removeprefix("python ") + resume, "\ttouch $@", ""]
    rundir.ensure_writable_dir(os.path.dirname(os.path.abspath(path)))
    with open(path, "w") as f:
        f.write("\n".join(lines))


SLURM_SUFFIXES = (".slurm", ".sbatch")


def write_slurm(path, argv, seeds, out_dir):
    """A Slurm submission script: one array task per seed (the study's own command on that seed as
    a --jobs worker, one CPU each, no report), then the report as a job that depends on the whole
    array (the study's command, which finds every stage finished and writes the report with the
    stage times the tasks measured). Run it with `bash FILE` on the cluster's login node, in the
    folder where runs/ is shared by the nodes."""
    args = " ".join(shlex.quote(a) for a in without(argv, "--plan", "--jobs", "--seeds"))
    study = f"$PYTHON $LAB/reproduce.py {args}".rstrip()
    logs = os.path.join(out_dir, "jobs")
    lines = ["#!/usr/bin/env bash",
             "# The study as a Slurm job array, written by: python reproduce.py " + " ".join(argv),
             f"# Submit it from this folder ({os.getcwd()}, where runs/ is): bash {path}",
             "# Each array task runs one seed's stages (a stopped task continues from its checkpoints when",
             "# resubmitted); the report job starts when every task has ended well.",
             "set -euo pipefail",
             f"cd {shlex.quote(os.getcwd())}",
             "PYTHON=${PYTHON:-python}",
             f"LAB=${{LAB:-{shlex.quote(os.path.relpath(os.path.dirname(SCRIPT)))}}}",
             f"SEEDS=({' '.join(map(str, seeds))})",
             f"mkdir -p {shlex.quote(logs)}",
             # the task picks its seed from the list by its task id, in plain sh: sbatch runs a
             # --wrap command with /bin/sh, which on Debian is dash (no bash arrays)
             "seeds=$(sbatch --parsable --job-name=tinyreason-seeds --array=0-$((${#SEEDS[@]} - 1)) "
             f"--cpus-per-task=1 --output={shlex.quote(logs)}/slurm-%A_%a.log --export=ALL,OMP_NUM_THREADS=1 "
             f"--wrap=\"set -- {' '.join(map(str, seeds))}; shift \\$SLURM_ARRAY_TASK_ID; {study} --seeds \\$1 "
             f"{WORKER_FLAG} \\$SLURM_ARRAY_TASK_ID\")"]
    lines += ["echo \"submitted the seeds as array job $seeds\"",
              f"report=$(sbatch --parsable --job-name=tinyreason-report --dependency=afterok:$seeds "
              f"--output={shlex.quote(logs)}/slurm-report-%j.log --wrap=\"{study} --seeds {','.join(map(str, seeds))} "
              f"--jobs 1\")",
              "echo \"submitted the report as job $report (after $seeds)\"", ""]
    rundir.ensure_writable_dir(os.path.dirname(os.path.abspath(path)))
    with open(path, "w") as f:
        f.write("\n".join(lines))
