"""The study's cache never hands back a result that other code or other settings made."""
import argparse
import json
import os
import re

import rundir
from model import save_checkpoint
from study import runs
from study.stats import load_predictions


def fake_run(out, config, code):
    os.makedirs(out, exist_ok=True)
    rundir.write_json(os.path.join(out, "config.json"), config)
    save_checkpoint(os.path.join(out, "ckpt.pt"), {"model": {}, "model_config": {}, "stage": "rlvr", "code": code,
                                                   "finished": True, "step": 3})


def test_a_run_made_by_other_code_is_not_reused(tmp_path):
    config = {"preset": "tiny", "steps": 3}
    fake_run(str(tmp_path / "now"), config, rundir.code_version("rlvr"))
    fake_run(str(tmp_path / "older"), config, "0123456789ab")
    assert runs.finished_with(str(tmp_path / "now"), config)
    assert not runs.finished_with(str(tmp_path / "older"), config)
    assert not runs.finished_with(str(tmp_path / "now"), {**config, "steps": 4})  # other settings


def test_the_code_version_follows_the_stage_s_own_script():
    assert rundir.code_version("rlvr") != rundir.code_version("pretrain")
    assert rundir.code_version("distill") not in (rundir.code_version("rlvr"), rundir.code_version("pretrain"))
    assert re.fullmatch(r"[0-9a-f]{12}", rundir.code_version("rlvr"))


def test_evaluations_with_other_splits_get_their_own_directory_and_are_not_mixed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = tmp_path / "run" / "ckpt.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights")
    calls = []

    def evaluate(checkpoint, config, out):  # writes what eval.evaluate writes, as it does
        calls.append(tuple(config.splits))
        metrics = {"config": json.loads(json.dumps(vars(config))), "code": rundir.code_version("eval"), "groups": {},
                   "checkpoint_stamp": runs.evaluation.checkpoint_stamp(checkpoint)}
        rundir.write_json(os.path.join(out, "metrics.json"), metrics)
        return metrics
    monkeypatch.setattr(runs.evaluation, "evaluate", evaluate)
    args = argparse.Namespace(preset="tiny", device=None, fresh=False)
    _, every_split = runs.evaluate_checkpoint(args, str(ckpt), 0, [])
    _, id_only = runs.evaluate_checkpoint(args, str(ckpt), 0, [], splits=("id",))
    assert every_split != id_only
    _, again = runs.evaluate_checkpoint(args, str(ckpt), 0, [], splits=("id",))  # reused, not redone
    assert again == id_only and len(calls) == 2


def test_perturbed_prompts_of_one_problem_keep_their_own_records(tmp_path):
    rows = [{"split": "format", "task": "addition", "key": "k1", "prompt": p,
             "perturbation": {"perturbation": kind, "strength": s}}
            for p, kind, s in (("12 + 34\n", "spaces", 1), ("12  +  34\n", "spaces", 2), ("34+12\n", "swap", 1))]
    rows.append({"split": "id", "task": "addition", "key": "k1", "prompt": "12+34\n", "perturbation": {}})
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    shifted = load_predictions(str(tmp_path), "format")
    assert sorted(r["prompt"] for r in shifted.values()) == sorted(r["prompt"] for r in rows[:3])
    assert list(load_predictions(str(tmp_path), "id")) == ["k1"]  # unperturbed keys are unchanged
