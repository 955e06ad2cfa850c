"""Data parallelism: 2 processes under torchrun (gloo, CPU) train exactly like 1 process on the
same global batch."""
import json
import os
import subprocess
import sys

import torch
import pytest

pytestmark = pytest.mark.slow  # trains models or runs whole scripts


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--preset", "tiny", "--steps", "6", "--eval-every", "1000", "--device", "cpu"]


def test_two_processes_match_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "pretrain.py", *ARGS, "--out", str(tmp_path / "one")],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "pretrain.py", *ARGS, "--out", str(tmp_path / "two")],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    losses = lambda d: [json.loads(line)["loss"] for line in open(tmp_path / d / "metrics.jsonl")]
    a, b = losses("one"), losses("two")
    assert len(a) == len(b) == 6
    assert all(abs(x - y) < 1e-5 for x, y in zip(a, b)), (a, b)
    wa = torch.load(tmp_path / "one" / "ckpt.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "two" / "ckpt.pt", weights_only=True)["model"]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    assert a[-1] < a[0]  # both trained: the loss fell over the six steps


NETWORK_ERRORS = ("Address already in use", "DistNetworkError", "RendezvousError", "Connection reset")


def torchrun(*args, procs=2):
    """Run under torchrun; a failure of the local rendezvous itself (a port taken by a process
    that just ended) is retried once, any other failure is returned as is."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.path.join(ROOT, "tests")}
    for attempt in range(2):
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                               "--nproc_per_node", str(procs), *args], cwd=ROOT, capture_output=True,
                              text=True, env=env, timeout=300)
        if done.returncode == 0 or not any(e in done.stderr for e in NETWORK_ERRORS):
            return done
    return done


def test_a_grpo_update_split_by_group_across_processes_matches_one_process(tmp_path):
    for procs, name in ((1, "one"), (2, "two")):
        done = torchrun("tests/ddp_rl_worker.py", str(tmp_path / name), procs=procs)
        assert done.returncode == 0, done.stderr[-4000:]
    a = torch.load(tmp_path / "one", weights_only=False)
    b = torch.load(tmp_path / "two", weights_only=False)
    assert all(torch.allclose(a["model"][k], b["model"][k], atol=1e-6) for k in a["model"])
    assert abs(a["metrics"]["loss"] - b["metrics"]["loss"]) < 1e-6
    assert abs(a["metrics"]["grad_norm"] - b["metrics"]["grad_norm"]) < 1e-5


def test_rlvr_runs_under_torchrun_with_rollouts_split_across_processes(tmp_path):
    base = subprocess.run([sys.executable, "pretrain.py", "--preset", "tiny", "--steps", "20",
                           "--out", str(tmp_path / "base")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert base.returncode == 0, base.stderr[-2000:]
    done = torchrun("rlvr.py", "--preset", "tiny", "--steps", "2", "--device", "cpu",
                    "--base", str(tmp_path / "base" / "ckpt.pt"), "--out", str(tmp_path / "rl"))
    assert done.returncode == 0, done.stderr[-4000:]
    metrics = [json.loads(line) for line in open(tmp_path / "rl" / "metrics.jsonl")]
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:  # the log covers the samples of both processes: 8 prompts x 8
        assert abs(sum(m["formats"].values()) - 1) < 1e-9
        assert all(abs(v * 64 - round(v * 64)) < 1e-9 for v in m["formats"].values())
