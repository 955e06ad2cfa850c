"""A run killed with SIGKILL resumes to the same result; a crash during a save keeps the previous
checkpoint; a loss or reward that is not finite stops the run with the step, keeping the last
good checkpoint."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import cli
import model as model_module
import pretrain
import rlvr
from model import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.slow  # trains models or runs whole scripts


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--preset", "tiny", "--steps", "30", "--eval-every", "10", "--eval-per-level", "1"]


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = subprocess.run([sys.executable, "pretrain.py", *ARGS, "--out", str(tmp_path / "full")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr[-2000:]
    killed = subprocess.Popen([sys.executable, "pretrain.py", *ARGS, "--out", str(tmp_path / "killed")],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline:  # kill it after its step-10 checkpoint, before the end
        if log.exists() and len(log.read_text().splitlines()) >= 13:
            break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    saved = load_checkpoint(str(tmp_path / "killed" / "ckpt.pt"))
    assert not saved["finished"] and saved["step"] in (10, 20)
    resumed = subprocess.run([sys.executable, "pretrain.py", *ARGS, "--out", str(tmp_path / "killed"),
                              "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = load_checkpoint(str(tmp_path / "full" / "ckpt.pt"))
    b = load_checkpoint(str(tmp_path / "killed" / "ckpt.pt"))
    assert b["finished"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    losses = lambda d: [json.loads(line)["loss"] for line in open(tmp_path / d / "metrics.jsonl")]
    assert losses("full") == losses("killed")


def test_sigterm_saves_where_the_run_stopped_and_says_how_to_resume(tmp_path):
    """`timeout`, `kill` and job schedulers send SIGTERM: it must save like Ctrl-C, not lose the
    steps since the last periodic checkpoint."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, "pretrain.py", *ARGS, "--out", str(tmp_path / "run")],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline:  # stop it after step 13, past its step-10 checkpoint
        if log.exists() and len(log.read_text().splitlines()) >= 14:
            break
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err[-2000:]
    assert "--resume" in err and "Traceback" not in err
    saved = load_checkpoint(str(tmp_path / "run" / "ckpt.pt"))
    assert not saved["finished"] and 13 <= saved["step"] < 30  # saved at the signal, not at step 10


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / "ckpt.pt")
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "model_config": {}, "step": 1})

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "model_config": {}, "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temp file left behind


def test_a_nan_loss_stops_pretraining_with_its_step_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    config = dataclasses.replace(pretrain.PRESETS["tiny"], steps=30, eval_every=10, eval_per_level=1,
                                 device="cpu")
    real, calls = model_module.F.cross_entropy, {"n": 0}

    def poisoned(*args, **kwargs):  # training steps 1-14 are fine, step 15 gives NaN
        loss = real(*args, **kwargs)
        calls["n"] += 1
        return loss * float("nan") if calls["n"] > 15 else loss  # (+1 call: the held-out loss)
    monkeypatch.setattr(model_module.F, "cross_entropy", poisoned)
    with pytest.raises(cli.LabError) as info:
        pretrain.train(config, str(tmp_path), quiet=True)
    assert "step 15" in str(info.value) and "checkpoint is kept" in str(info.value)
    assert load_checkpoint(str(tmp_path / "ckpt.pt"))["step"] == 10


def test_a_nan_reward_stops_rlvr_with_its_step(tmp_path, monkeypatch):
    base = pretrain.train(dataclasses.replace(pretrain.PRESETS["tiny"], steps=10, device="cpu"),
                          str(tmp_path / "base"), quiet=True)
    config = dataclasses.replace(rlvr.PRESETS["tiny"], base=base, steps=3, device="cpu")
    monkeypatch.setattr(rlvr, "reward_of", lambda *args: float("nan"))
    (tmp_path / "rl").mkdir()
    with pytest.raises(cli.LabError) as info:
        rlvr.train(config, str(tmp_path / "rl"), quiet=True)
    assert "RL step 1" in str(info.value) and "not finite" in str(info.value)


def test_an_evaluation_stopped_by_sigterm_exits_cleanly_and_writes_nothing(tmp_path):
    """A stage with nothing to save (here an evaluation) stopped by `timeout` or Ctrl-C: one message,
    exit status 130, no traceback, and no half-written metrics."""
    from data import CharTokenizer
    from data.world import World
    from model import GPT, GPTConfig
    tok = CharTokenizer()
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=160, n_layer=1, n_head=2, n_embd=16))
    save_checkpoint(str(tmp_path / "ckpt.pt"), {"model": model.state_dict(), "model_config": vars(model.config).copy(),
                                                "tokenizer": tok.spec(), "world": World().to_dict()})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, "eval.py", "--preset", "tiny", "--checkpoint", str(tmp_path / "ckpt.pt"),
                            "--samples", "4096", "--device", "cpu", "--out", str(tmp_path / "eval")],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen, deadline = b"", time.time() + 120
    while b"eval samples" not in seen and time.time() < deadline:  # wait until it is sampling
        chunk = os.read(run.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    assert b"eval samples" in seen, seen[-2000:]
    run.send_signal(signal.SIGTERM)
    err = (seen + run.stderr.read()).decode(errors="replace")
    run.wait(timeout=60)
    assert run.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "eval" / "metrics.json").exists()
