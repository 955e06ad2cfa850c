"""Rerun commands printed by the study reproduce their runs: each stage script, given the command
line the study records for one of its runs (study.runs.RERUN, printed under "How to rerun"),
writes the config.json of that run."""
import json
import shlex

import pytest

import distill
import pretrain
import reproduce
import rlvr
from study import runs

SCRIPTS = {"pretrain.py": pretrain, "rlvr.py": rlvr, "distill.py": distill}


@pytest.mark.slow
def test_rerun_lines_of_pretraining_rlvr_and_distillation_remake_the_study_s_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # C7 reads one run of each stage: the base, the main RL run and an SFT run matched to it.
    # A smaller model and fewer steps keep it quick, and must reach the rerun lines too
    reproduce.main(["--preset", "tiny", "--only", "C7", "--n-layer", "1", "--n-embd", "32", "--n-head", "2",
                    "--rl-steps", "2"])
    report = next((tmp_path / "runs" / "tiny").glob("variant-*/REPORT-C7.md")).read_text()
    first = {}  # script -> the first line recorded for it
    for line in runs.RERUN:
        assert line in report.splitlines()
        first.setdefault(shlex.split(line)[1], line)
    for script in ("pretrain.py", "rlvr.py", "distill.py"):
        line = first[script]
        args = shlex.split(line)[2:]
        at = args.index("--out") + 1
        study_out, args[at] = args[at], str(tmp_path / "rerun" / script.removesuffix(".py"))
        SCRIPTS[script].main(args)  # the same --base: the study's checkpoint, read, not written
        again = json.loads((tmp_path / "rerun" / script.removesuffix(".py") / "config.json").read_text())
        assert again == json.loads((tmp_path / study_out / "config.json").read_text()), line
    assert "--n-layer 1 --n-embd 32 --n-head 2" in first["pretrain.py"]
    assert "--steps 2" in first["rlvr.py"]
    # C7's SFT run takes RL's steps, learning rate and constant schedule (its rerun line says so)
    sft = shlex.split(first["distill.py"])
    for option, value in (("--teacher", "self"), ("--steps", "2"), ("--lr", "0.0003"), ("--min-lr", "0.0003"),
                          ("--warmup", "0")):
        assert sft[sft.index(option) + 1] == value, option
