"""One prepared measurement of a machine with an accelerator, run as one command while it is lent.

It times, in order, each with its own limit so that one slow step cannot eat the others' time:
1. `bench.py --only training` (the host CPU's figure, printed beside every time we report);
2. `python reproduce.py --preset <small>` on one seed: the notebook's run;
3. the headline study on `--seeds` design seeds side by side on the one device (`--jobs`).
Each step's wall time, exit status and last lines go to `--out` (JSON and a short Markdown
table), written after every step, so a step cut off by its limit still leaves the ones before.

    python device_check.py --device cuda                      # on the lent GPU (about 8 minutes)
    python device_check.py --device cpu --preset tiny --seeds 2 --limits 300,600,600   # a dry run
"""
import argparse
import os
import subprocess
import sys
import time

import cli
import rundir

ROOT = os.path.dirname(os.path.abspath(__file__))


def step(name, argv, limit, env=None):
    """Run one script of the lab with a wall-clock limit; what it took and how it ended."""
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, *argv], cwd=os.getcwd(), capture_output=True, text=True,
                              timeout=limit, env=env)
        status, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        status = "limit"
        output = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
    tail = [line for line in output.replace("\r", "\n").splitlines() if line.strip() and "%|" not in line][-8:]
    return {"step": name, "command": " ".join(["python", *argv]), "seconds": round(time.perf_counter() - start, 1),
            "limit": limit, "status": status, "tail": tail}


def limits(text):
    """'60,120,300' -> (60, 120, 300): seconds for the bench, the one-seed run and the study."""
    try:
        values = tuple(int(t) for t in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give three positive numbers of seconds, e.g. 60,120,300")
    return values


def write(out, results, header):
    rundir.write_json(out + ".json", {**header, "steps": results})
    lines = [f"# device check: {header['device']} ({header['name']}), torch {header['torch']}", "",
             "| step | command | seconds | limit | ended |", "|---|---|---|---|---|"]
    for r in results:
        ended = "ok" if r["status"] == 0 else ("cut off at its limit" if r["status"] == "limit" else f"exit {r['status']}")
        lines.append(f"| {r['step']} | `{r['command']}` | {r['seconds']} | {r['limit']} | {ended} |")
    for r in results:
        lines += ["", f"{r['step']}, last lines:", "", "```", *r["tail"], "```"]
    rundir.write_lines(out + ".md", lines)


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (the lent GPU), mps or cpu (a dry run)")
    p.add_argument("--preset", default="small", choices=["tiny", "small"], help="the one-seed run (and the "
                   "study's preset: small means default for the study)")
    p.add_argument("--seeds", type=cli.positive_int, default=10, help="design seeds of the study side by side")
    p.add_argument("--limits", type=limits, default=(60, 120, 300), help="seconds each of the three steps may "
                   "take, e.g. 60,120,300 (the default: 8 minutes in all)")
    p.add_argument("--out", type=cli.path, default="device_check", help="where the figures go (.json and .md)")
    args = p.parse_args(argv)
    import torch
    from model import pick_device
    device = pick_device(args.device)
    name = torch.cuda.get_device_name() if device == "cuda" else "host"
    header = {"device": device, "name": name, "torch": torch.__version__, "cpus": os.cpu_count()}
    study = "tiny" if args.preset == "tiny" else "default"
    seeds = ",".join(str(s) for s in range(args.seeds))
    plan = [("bench (training, on the host CPU)", [os.path.join(ROOT, "bench.py"), "--only", "training"], args.limits[0]),
            (f"--preset {args.preset}, one seed", [os.path.join(ROOT, "reproduce.py"), "--preset", args.preset,
                                                   "--device", device], args.limits[1]),
            (f"the headline study, {args.seeds} seeds side by side",
             [os.path.join(ROOT, "reproduce.py"), "--preset", study, "--seeds", seeds, "--jobs", str(args.seeds),
              "--device", device], args.limits[2])]
    results = []
    for label, command, limit in plan:
        print(f"{label}: {' '.join(command)} (limit {limit} s)", flush=True)
        results.append(step(label, command, limit))
        print(f"  {results[-1]['seconds']} s, ended: {results[-1]['status']}", flush=True)
        write(args.out, results, header)
    print(f"figures: {args.out}.md, {args.out}.json")
    return results


if __name__ == "__main__":
    cli.entry(main)
