"""The tiny preset end to end: pretrain, evaluate, compare, reproduce (no claim is asserted)."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

import reproduce

pytestmark = pytest.mark.slow  # trains models or runs whole scripts


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, cwd):
    done = subprocess.run([sys.executable, os.path.join(ROOT, args[0]), *args[1:]], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """python pretrain.py --preset tiny, then python eval.py --preset tiny, in a scratch dir."""
    work = tmp_path_factory.mktemp("tiny")
    run("pretrain.py", "--preset", "tiny", cwd=work)
    run("eval.py", "--preset", "tiny", cwd=work)
    return work


def test_pretraining_writes_checkpoint_config_metrics_and_plot(tiny_run):
    out = tiny_run / "runs" / "tiny" / "pretrain" / "seed0"
    assert {"ckpt.pt", "config.json", "metrics.jsonl", "loss.png"} <= set(os.listdir(out))
    metrics = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert metrics[-1]["loss"] < metrics[0]["loss"] * 0.5  # it learned something
    assert "greedy" in metrics[-1] and "heldout_loss" in metrics[-1]


def test_evaluation_writes_predictions_and_consistent_metrics(tiny_run):
    out = tiny_run / "runs" / "tiny" / "pretrain" / "seed0" / "eval-tiny"
    metrics = json.load(open(out / "metrics.json"))
    records = [json.loads(line) for line in open(out / "predictions.jsonl")]
    assert {r["split"] for r in records} == {"id", "length", "composition", "format"}
    for name, group in metrics["groups"].items():
        curve = [group["pass_at_k"][k] for k in sorted(group["pass_at_k"], key=int)]
        assert all(a <= b + 1e-12 for a, b in zip(curve, curve[1:])), name
        assert sum(group["bins"]) == group["problems"]
        assert abs(sum(group["format_shares"].values()) - 1) < 1e-9
    # pass@1 of a group is the mean fraction of correct samples of its problems
    addition = [r for r in records if r["split"] == "id" and r["task"] == "addition"]
    expected = sum(sum(r["correct"]) / len(r["correct"]) for r in addition) / len(addition)
    assert metrics["groups"]["id/addition"]["pass_at_k"]["1"] == pytest.approx(expected)
    assert (out / "pass_at_k.png").exists()


def test_compare_prints_the_table_and_the_transition_matrix(tiny_run):
    out = tiny_run / "runs" / "tiny" / "pretrain" / "seed0" / "eval-tiny"
    text = run("eval.py", "compare", str(out), str(out), "--out", str(tiny_run / "cmp"), cwd=tiny_run)
    assert "bin transitions" in text and "id/addition/1" in text
    assert (tiny_run / "cmp" / "compare.png").exists()
    # the same model against itself: every problem stays on the diagonal
    lines = text.split("bin transitions")[1].strip().splitlines()[2:8]  # the six bins
    for i, line in enumerate(lines):
        cells = [int(v) for v in line.split()[1:]]
        assert sum(cells) == cells[i]


def test_reproduce_reuses_the_base_and_writes_the_report(tiny_run):
    out = tiny_run / "runs" / "tiny" / "pretrain" / "seed0" / "eval-tiny"
    before = json.load(open(out / "metrics.json"))["groups"]
    text = run("reproduce.py", "--preset", "tiny", "--claims", "all", cwd=tiny_run)
    assert "reusing pretrain seed0" in text
    # the evaluation eval.py made is the study's own (same settings, same checkpoint): reused
    assert "reusing the evaluation in runs/tiny/pretrain/seed0/eval-tiny\n" in text
    assert json.load(open(out / "metrics.json"))["groups"] == before
    again = run("reproduce.py", "--preset", "tiny", "--claims", "all", cwd=tiny_run)
    assert "reusing the evaluation" in again
    report = (tiny_run / "runs" / "tiny" / "REPORT-all.md").read_text()
    assert "## The base model" in report and "id/addition/6" in report
    assert "from the predictions and logs of the stages it rests on: 0 run now," in report  # all reused
    # the headline claims by the pre-registered rules, each beside its control; C4-C12 after them
    assert "### The rules, as pre-registered" in report and "design seeds" in report and "control held" in report
    for claim in ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12"):
        assert f"| {claim} |" in report and f"### {claim}:" in report
    for plot in ("c1_pass_at_k.png", "c2_formats.png", "c3_shifts.png", "c4_capability.png", "c10_entropy.png",
                 "c11_overlap.png", "c12_likelihood.png"):
        assert (tiny_run / "runs" / "tiny" / plot).exists()
    assert (tiny_run / "runs" / "tiny" / "base_pass_at_k.png").exists()
    # C11's second RL run: the same base, its own seed
    second = json.load(open(tiny_run / "runs" / "tiny" / "rlvr" / "seed0-seed1000" / "config.json"))
    assert second["seed"] == 1000 and second["base"].endswith(os.path.join("pretrain", "seed0", "ckpt.pt"))
    # the report's rerun commands are exact: each makes the run the study made, same settings
    commands = [line for line in report.splitlines() if line.startswith("python ")]
    # (the study's distill -> RLVR starts from C5's distilled student, --student in its command)
    for script, marker, config in (("distill.py", "--arm known", "config.json"), ("rlvr.py", "--beta", "config.json"),
                                   ("curriculum.py", "--mode distill-rl", os.path.join("rlvr", "config.json"))):
        line = next(c for c in commands if c.startswith(f"python {script}") and marker in c)
        args = shlex.split(line)[2:]
        study_out = args[args.index("--out") + 1]
        args[args.index("--out") + 1] = "again"
        run(script, *args, cwd=tiny_run)
        again = json.load(open(tiny_run / "again" / config))
        assert again == json.load(open(tiny_run / study_out / config)), line
        (tiny_run / "again").rename(tiny_run / f"again-{script}")


def test_the_same_seed_gives_the_same_numbers(tiny_run, tmp_path):
    run("pretrain.py", "--preset", "tiny", "--steps", "30", "--out", str(tmp_path / "a"), cwd=tmp_path)
    run("pretrain.py", "--preset", "tiny", "--steps", "30", "--out", str(tmp_path / "b"), cwd=tmp_path)
    a = [json.loads(line)["loss"] for line in open(tmp_path / "a" / "metrics.jsonl")]
    b = [json.loads(line)["loss"] for line in open(tmp_path / "b" / "metrics.jsonl")]
    assert a == b


def test_a_changed_world_gets_its_own_base_model_and_report(tiny_run):
    main_report = (tiny_run / "runs" / "tiny" / "REPORT.md")
    before = main_report.read_text() if main_report.exists() else None
    run("reproduce.py", "--preset", "tiny", "--format-mix", "column=0.8,chunk=0.1,direct=0.1", "--claims", "C2",
        cwd=tiny_run)
    variants = list((tiny_run / "runs" / "tiny").glob("variant-*/REPORT-C2.md"))
    assert len(variants) == 1 and "--format-mix column=0.8,chunk=0.1,direct=0.1" in variants[0].read_text()
    mixes = [json.load(open(d / "config.json"))["world"]["format_mix"]["column"]
             for d in (tiny_run / "runs" / "tiny" / "pretrain").glob("seed0-*")]
    assert 0.8 in mixes  # its own base model (beside the one C2 pretrains on another mix)
    if before is not None:
        assert main_report.read_text() == before


def claims_part(report):
    """The report from the claims to the stage times (the wall-clock lines differ between runs)."""
    return report.split("## Claims")[1].split("## Stage times")[0]


def test_the_whole_study_three_times_gives_identical_numbers_serial_with_jobs_or_by_make(tmp_path):
    """The same study from scratch in three directories: serially, with --jobs 2 (the seeds in two
    worker processes), and as a plan (--plan) that make runs stage by stage, two at a time, before
    the study's command writes the report. The claims, the base model and the rerun lines are
    identical."""
    study = ["--preset", "tiny", "--claims", "C1,C2", "--seeds", "0,1", "--n-layer", "1", "--n-embd", "32",
             "--n-head", "2"]
    for name, extra in (("a", []), ("b", ["--jobs", "2"]), ("c", ["--plan", "plan.mk"])):
        (tmp_path / name).mkdir()
        text = run("reproduce.py", *study, *extra, cwd=tmp_path / name)
        if name == "b":
            assert "worker 1: seeds 1" in text
    # per seed: the base, its evaluation, the three RL runs (verifier, KL, coin flip), the main
    # run evaluated at its kept step and its end, the coin flip evaluated, C1's distilled control
    # and its evaluation, and the base on the sharpening grid's three temperatures; nothing ran yet
    assert "(26 stages to run)" in text and not (tmp_path / "c" / "runs" / "tiny" / "pretrain").exists()
    plan = (tmp_path / "c" / "plan.mk").read_text()
    # a stage needs the stage whose checkpoint it reads (the base is named by the changed model)
    assert re.search(r"\nruns/tiny/rlvr/seed1-(\w+)-random-reward/\.made: runs/tiny/pretrain/seed1-\1/\.made\n", plan)
    made = subprocess.run(["make", "-j", "2", "-f", "plan.mk", f"PYTHON={sys.executable}"], cwd=tmp_path / "c",
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert made.returncode == 0, made.stderr[-2000:]
    a, b, c = (next((tmp_path / name / "runs" / "tiny").glob("variant-*/REPORT-C1-C2-seeds-0-1.md")).read_text()
               for name in ("a", "b", "c"))
    assert "### C1:" in a and claims_part(a) == claims_part(b) == claims_part(c)
    # the stage times are the workers': every stage once, none counted as reused
    assert b.count("| pretrain seed") == 2 and "0 reused" in b
    # make ran every stage; the study's command found them all finished but the base sampled at
    # the temperature that matches RL's measured pass@1, which no plan can know beforehand
    times = c.split("## Stage times")[1]
    assert all("temperature" in line for line in times.splitlines() if line.startswith("| evaluate")) \
        and "| pretrain" not in times and "| rlvr" not in times
    # a second plan, once everything is finished, has nothing left to run
    assert "(0 stages to run)" in run("reproduce.py", *study, "--plan", "again.mk", cwd=tmp_path / "c")


def test_stage_settings_pass_through_to_every_run_that_uses_them(tiny_run):
    run("reproduce.py", "--preset", "tiny", "--only", "C5", "--rl-updates", "2", "--distill-steps", "5",
        "--distill-format", "chunk", cwd=tiny_run)
    runs = tiny_run / "runs" / "tiny"
    report = next(runs.glob("variant-*/REPORT-C5.md")).read_text()
    assert "--rl-updates 2 --distill-steps 5 --distill-format chunk" in report
    config = lambda path: json.load(open(path))
    # the distill arm, the RLVR arm, and both halves of distill -> RLVR
    distilled = [d for d in (runs / "distill").glob("seed0-all-*")
                 if config(d / "config.json")["steps"] == 5 and config(d / "config.json")["format"] == "chunk"]
    rl = [d for d in (runs / "rlvr").glob("seed0-*") if config(d / "config.json")["updates"] == 2]
    # distill -> RLVR's RL stage starts from the distill arm's student (trained once)
    both = [d for d in (runs / "curriculum").glob("seed0-distill-rl-*-d*")
            if config(d / "rlvr" / "config.json")["base"] == os.path.join("runs", "tiny", "distill", distilled[0].name, "ckpt.pt")
            and config(d / "rlvr" / "config.json")["updates"] == 2]
    assert distilled and rl and both
    assert not any((d / "distill").exists() for d in both)
    # C5's distill arm has distill -> RLVR's optimizer steps in all: 5, then 6 RL steps x 2 updates
    matched = [config(d / "config.json") for d in (runs / "distill").glob("seed0-all-matched-*")]
    assert [(c["steps"], c["format"]) for c in matched] == [(5 + 6 * 2, "chunk")]
    assert "| distill | " in report and "| 17 steps |" in report


def test_the_oracle_format_reaches_only_the_distillations_it_can_teach():
    from study.claims import C3_TASKS
    from study.runs import distill_stage_overrides
    reach = lambda argv, **changes: distill_stage_overrides(reproduce.parse_args(argv), changes)
    chunk = ["--distill-format", "chunk", "--distill-steps", "7"]
    assert reach(chunk, tasks=list(C3_TASKS)) == {"steps": 7, "format": "chunk"}  # C3's student
    assert reach(chunk, arm="new") == {"steps": 7, "format": "chunk"}             # C4's oracle arms
    assert reach(chunk, teacher="self") == {"steps": 7}                           # self: no format
    steps = ["--distill-format", "steps"]                                         # a modular format
    assert reach(steps, tasks=list(C3_TASKS)) == {"format": "steps"}
    assert reach(steps, arm="new") == {}                                          # addition only
    assert reach([], arm="new") == {}



FAKE_SBATCH = r'''#!/usr/bin/env python3
"""A stand-in for Slurm's sbatch: runs the --wrap command at once with sh, as sbatch does (each
array task in turn, with SLURM_ARRAY_TASK_ID set), logs its arguments, and prints a job id as
--parsable does."""
import os, subprocess, sys
opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
with open(os.environ["SBATCH_LOG"], "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
job = str(100 + sum(1 for _ in open(os.environ["SBATCH_LOG"])))
lo, _, hi = opts.get("array", "0-0").partition("-")
for task in range(int(lo), int(hi or lo) + 1):
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_JOB_ID": job}
    if "export" in opts:
        env.update(kv.split("=", 1) for kv in opts["export"].split(",") if "=" in kv)
    out = opts["output"].replace("%A", job).replace("%a", str(task)).replace("%j", job)
    with open(out, "w") as log:
        # Slurm runs a --wrap command with /bin/sh (dash on Debian): so does the stand-in
        if subprocess.run(["sh", "-c", opts["wrap"]], env=env, stdout=log, stderr=subprocess.STDOUT).returncode:
            sys.exit(1)
print(job)
'''


SLURM_STUDY = ["--preset", "tiny", "--claims", "C2", "--seeds", "0,1", "--n-layer", "1", "--n-embd", "32",
               "--n-head", "2"]  # the study both Slurm tests plan, and run serially to compare


def test_a_slurm_plan_runs_one_array_task_per_seed_then_the_report(tmp_path):
    """--plan FILE.slurm writes a job array (one task per seed, one CPU each) and a report job that
    depends on it. No Slurm here: a stand-in sbatch runs each job as it is submitted, in order,
    and records its options; the report must equal a serial run's."""
    study = SLURM_STUDY
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sbatch").write_text(FAKE_SBATCH)
    (tmp_path / "bin" / "sbatch").chmod(0o755)
    for name in ("serial", "slurm"):
        (tmp_path / name).mkdir()
    run("reproduce.py", *study, cwd=tmp_path / "serial")
    text = run("reproduce.py", *study, "--plan", "study.slurm", cwd=tmp_path / "slurm")
    assert "a Slurm job array of 2 seeds" in text and not (tmp_path / "slurm" / "runs" / "tiny" / "pretrain").exists()
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "PYTHON": sys.executable,
           "SBATCH_LOG": str(tmp_path / "sbatch.log")}
    done = subprocess.run(["bash", "study.slurm"], cwd=tmp_path / "slurm", capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    array, report = open(tmp_path / "sbatch.log").read().splitlines()
    assert "--array=0-1" in array and "--cpus-per-task=1" in array and "--worker" in array
    assert "--dependency=afterok:101" in report and "--worker" not in report
    a, b = (next((tmp_path / name / "runs" / "tiny").glob("variant-*/REPORT-C2-seeds-0-1.md")).read_text()
            for name in ("serial", "slurm"))
    assert "### C2:" in a and claims_part(a) == claims_part(b)
    logs = next((tmp_path / "slurm" / "runs" / "tiny").glob("variant-*/jobs"))  # beside the report
    assert sorted(p.name for p in logs.glob("*.log")) == ["slurm-101_0.log", "slurm-101_1.log", "slurm-report-102.log"]


def slurm_is_up():
    """Whether a Slurm controller answers. Asked when the test runs, not when pytest collects: with
    Slurm installed and its daemons stopped, sinfo waits about 9 s before it gives up, which every
    test run (the fast loop included) would pay."""
    if shutil.which("sbatch") is None:
        return False
    try:
        answer = subprocess.run(["sinfo", "--noheader"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return False
    return answer.stdout.strip() != ""


def test_a_slurm_plan_runs_on_a_real_slurm(tmp_path):
    """The same plan submitted to a real Slurm (seen here: Debian's slurm-wlm 22.05 on one node, no
    stand-in): the array tasks run under sbatch's own shell and the report job waits for them."""
    if not slurm_is_up():
        pytest.skip("no Slurm cluster answers here (sinfo); the stand-in test above runs instead")
    study = SLURM_STUDY
    for name in ("serial", "slurm"):
        (tmp_path / name).mkdir()
    run("reproduce.py", *study, cwd=tmp_path / "serial")
    run("reproduce.py", *study, "--plan", "study.slurm", cwd=tmp_path / "slurm")
    done = subprocess.run(["bash", "study.slurm"], cwd=tmp_path / "slurm", capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stdout + done.stderr
    report_job = re.search(r"submitted the report as job (\d+)", done.stdout).group(1)
    deadline = time.time() + 600
    while subprocess.run(["squeue", "--noheader", "-j", report_job], capture_output=True, text=True).stdout.strip():
        assert time.time() < deadline, "the Slurm jobs did not finish in 10 minutes"
        time.sleep(2)
    reports = [list((tmp_path / name / "runs" / "tiny").glob("variant-*/REPORT-C2-seeds-0-1.md"))
               for name in ("serial", "slurm")]
    assert reports[1], "the report job wrote no report: " + " ".join(
        p.read_text()[-500:] for p in (tmp_path / "slurm" / "runs" / "tiny").glob("variant-*/jobs/*.log"))
    a, b = (r[0].read_text() for r in reports)
    assert "### C2:" in a and claims_part(a) == claims_part(b)
