"""`reproduce.py --jobs N`: the seeds of a study run in N processes side by side, each with its
share of the CPU threads. Every seed's stages are independent of every other seed's, so each
worker runs the study's own command on its seeds and writes no report; the study then runs as it
would alone, finds every stage finished, and writes the report (the same as a serial run's) with
the stage times the workers measured."""
import os
import subprocess
import sys

import lab

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
        raise lab.LabError("--jobs: " + ", ".join(failed) + " failed; finished stages are kept, run the same command again")
    timings, reused = [], []
    for k, _, _ in procs:
        done = lab.read_json(worker_file(out_dir, k))
        timings += [tuple(t) for t in done["timings"]]
        reused += done["reused"]
    return timings, reused


def save_worker(out_dir, k, timings, reused):
    """What a worker measured, for the study that started it."""
    lab.write_json(worker_file(out_dir, k), {"timings": timings, "reused": reused})
