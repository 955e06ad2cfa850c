import dataclasses
import json

import pytest
import torch

import lab
import pretrain
from model import load_checkpoint


def tiny_config():
    return dataclasses.replace(pretrain.PRESETS["tiny"], steps=24, eval_every=8, eval_per_level=1,
                               device="cpu")


def test_resume_after_ctrl_c_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    config = tiny_config()
    pretrain.train(config, str(tmp_path / "a"), quiet=True)

    real, calls = lab.pack_rows, {"n": 0}

    def interrupted(*args, **kwargs):  # Ctrl-C while the 14th training batch is being built
        calls["n"] += 1
        if calls["n"] == 15:  # (call 1 builds the held-out batch)
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(lab, "pack_rows", interrupted)
    with pytest.raises(SystemExit) as info:
        pretrain.train(config, str(tmp_path / "b"), quiet=True)
    assert info.value.code == 130
    saved = load_checkpoint(str(tmp_path / "b" / "ckpt.pt"))
    assert saved["step"] == 13 and not saved["finished"]
    monkeypatch.setattr(lab, "pack_rows", real)
    pretrain.train(config, str(tmp_path / "b"), resume_from=str(tmp_path / "b" / "ckpt.pt"), quiet=True)

    a = load_checkpoint(str(tmp_path / "a" / "ckpt.pt"))
    b = load_checkpoint(str(tmp_path / "b" / "ckpt.pt"))
    assert a["step"] == b["step"] == 24 and b["finished"]
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    losses = lambda d: [(m["step"], m["loss"]) for m in map(json.loads, open(tmp_path / d / "metrics.jsonl"))]
    assert losses("a") == losses("b")
