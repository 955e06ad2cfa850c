"""Data parallelism: 2 processes under torchrun (gloo, CPU) train exactly like 1 process on the
same global batch."""
import json
import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--preset", "tiny", "--steps", "6", "--eval-every", "1000", "--device", "cpu"]


def test_two_processes_match_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "pretrain.py", *ARGS, "--out", str(tmp_path / "one")],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29533", "pretrain.py", *ARGS, "--out", str(tmp_path / "two")],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    losses = lambda d: [json.loads(line)["loss"] for line in open(tmp_path / d / "metrics.jsonl")]
    a, b = losses("one"), losses("two")
    assert len(a) == len(b) == 6
    assert all(abs(x - y) < 1e-5 for x, y in zip(a, b)), (a, b)
    wa = torch.load(tmp_path / "one" / "ckpt.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "two" / "ckpt.pt", weights_only=True)["model"]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
    assert any(not torch.equal(wa[k], torch.zeros_like(wa[k])) for k in wa)
