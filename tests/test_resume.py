import dataclasses
import json

import pytest
import torch

import cli
import pretrain
import rundir
from model import load_checkpoint

pytestmark = pytest.mark.slow  # trains models or runs whole scripts


def tiny_config():
    return dataclasses.replace(pretrain.PRESETS["tiny"], steps=24, eval_every=8, eval_per_level=1,
                               device="cpu")


def test_resume_after_ctrl_c_matches_an_uninterrupted_run(tmp_path, ctrl_c_at_batch):
    config = tiny_config()
    pretrain.train(config, str(tmp_path / "a"), quiet=True)

    ctrl_c_at_batch(15)  # while the 14th training batch is built (call 1 builds the held-out batch)
    with pytest.raises(SystemExit) as info:
        pretrain.train(config, str(tmp_path / "b"), quiet=True)
    assert info.value.code == 130
    saved = load_checkpoint(str(tmp_path / "b" / "ckpt.pt"))
    assert saved["step"] == 13 and not saved["finished"]
    ctrl_c_at_batch(None)
    pretrain.train(config, str(tmp_path / "b"), resume_from=str(tmp_path / "b" / "ckpt.pt"), quiet=True)

    a = load_checkpoint(str(tmp_path / "a" / "ckpt.pt"))
    b = load_checkpoint(str(tmp_path / "b" / "ckpt.pt"))
    assert a["step"] == b["step"] == 24 and b["finished"]
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    losses = lambda d: [(m["step"], m["loss"]) for m in map(json.loads, open(tmp_path / d / "metrics.jsonl"))]
    assert losses("a") == losses("b")


def test_an_interrupted_run_is_kept_then_continued_by_reproduce(tmp_path, ctrl_c_at_batch):
    """Rerunning an interrupted stage without --resume must not start it over (that would throw
    its steps away), and reproduce.py continues it to the same weights as an uninterrupted run."""
    import argparse
    from study.runs import run_once
    config = tiny_config()
    pretrain.train(config, str(tmp_path / "a"), quiet=True)
    ctrl_c_at_batch(15)
    out = str(tmp_path / "b")
    with pytest.raises(SystemExit):
        pretrain.train(config, out, quiet=True)
    ctrl_c_at_batch(None)

    with pytest.raises(cli.LabError, match="unfinished.*step 13.*--resume"):
        rundir.prepare_out_dir(out, dataclasses.asdict(config), resume=False, force=False)
    timings = []
    run_once(argparse.Namespace(fresh=False), 0, timings, "pretrain", out, config,
             lambda resume_from: pretrain.train(config, out, resume_from, quiet=True))
    a, b = (load_checkpoint(str(tmp_path / d / "ckpt.pt")) for d in ("a", "b"))
    assert b["finished"] and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert len(timings) == 1


def test_a_torn_last_log_line_does_not_stop_a_resume(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}\n{"step": 3, "lo')
    rundir.trim_log(str(log), 2)
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2]


def test_until_loss_lets_the_model_set_the_length_and_resumes_to_the_same_weights(tmp_path, monkeypatch,
                                                                                  ctrl_c_at_batch):
    """--until-loss: the rate holds until the mean loss of the last LOSS_WINDOW steps reaches the
    target, then decays for the preset's decay length and stops; a run stopped after that point
    continues to the same weights and the same last step."""
    monkeypatch.setattr(pretrain, "LOSS_WINDOW", 4)
    config = dataclasses.replace(tiny_config(), steps=40, warmup=4, decay=0.25, until_loss=10.0)
    pretrain.train(config, str(tmp_path / "a"), quiet=True)
    records = [json.loads(line) for line in open(tmp_path / "a" / "metrics.jsonl")]
    assert [r["step"] for r in records if "decay_from" in r] == [4]  # the first full window
    assert records[-1]["step"] == 4 + 9 and load_checkpoint(str(tmp_path / "a" / "ckpt.pt"))["finished"]
    lrs = [r["lr"] for r in records]
    assert lrs[3] == config.lr and lrs[-1] < lrs[5] < config.lr  # held, then decaying to the end
    never = dataclasses.replace(config, until_loss=1e-6)  # a target the tiny model cannot reach
    pretrain.train(never, str(tmp_path / "never"), quiet=True)
    assert json.loads(open(tmp_path / "never" / "metrics.jsonl").readlines()[-1])["step"] == 40

    ctrl_c_at_batch(10)  # while the 9th training batch is built: after the trigger
    with pytest.raises(SystemExit):
        pretrain.train(config, str(tmp_path / "b"), quiet=True)
    ctrl_c_at_batch(None)
    pretrain.train(config, str(tmp_path / "b"), resume_from=str(tmp_path / "b" / "ckpt.pt"), quiet=True)
    a, b = (load_checkpoint(str(tmp_path / d / "ckpt.pt")) for d in ("a", "b"))
    assert a["step"] == b["step"] == 13
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
