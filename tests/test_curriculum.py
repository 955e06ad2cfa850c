"""Curricula: the competence estimate, edge-of-competence weighting, distill -> RL end to end."""
import dataclasses
import json
import os

import torch

import cli
import curriculum
import pretrain
import rlvr
from data import World
from model import load_checkpoint
import pytest



def source(prompts=64):
    config = dataclasses.replace(rlvr.PRESETS["default"], prompts=prompts)
    world = World()
    return curriculum.CompetenceSource(config, world, {"addition": [1, 2, 3, 4, 5, 6]}, "test")


def test_competence_estimate_matches_the_observed_solve_rates():
    s = source()
    g = torch.Generator().manual_seed(0)
    observed = {}
    for _ in range(3):  # three steps on the same source
        problems = s.draw()
        correct = torch.rand((len(problems), 8), generator=g) < torch.linspace(0, 1, len(problems))[:, None]
        s.observe(problems, correct)
        for p, row in zip(problems, correct.tolist()):
            solved, tried = observed.get(id(p), (0, 0))
            observed[id(p)] = (solved + sum(row), tried + len(row))
    for i, p in enumerate(s.pool):
        if id(p) in observed:
            solved, tried = observed[id(p)]
            assert s.estimate(i) == solved / tried
        else:
            assert s.estimate(i) is None


def test_edge_selection_prefers_problems_the_model_sometimes_solves():
    s = source(prompts=2000)
    s.solved[:3], s.attempts[:3] = [0, 64, 32], [64, 64, 64]
    for i in range(3, len(s.pool)):  # every other problem: always solved
        s.solved[i], s.attempts[i] = 64, 64
    drawn = [s.index[id(p)] for p in s.draw()]
    counts = [drawn.count(i) for i in range(3)]
    assert counts[2] > 5 * max(counts[0], counts[1])  # p = 0.5 beats p = 0 and p = 1


def test_selection_levels():
    assert curriculum.selection_levels("hard", 6) == (7, 8)
    assert curriculum.selection_levels("easy", 6) == (1, 2)


@pytest.mark.slow  # trains models
def test_distill_then_rl_runs_end_to_end_on_tiny(tmp_path):
    base = pretrain.train(dataclasses.replace(pretrain.PRESETS["tiny"], steps=40, device="cpu"),
                          str(tmp_path / "base"), quiet=True)
    top = World(**load_checkpoint(base)["world"]).max_level("addition")
    args = curriculum.parse_args(["--preset", "tiny", "--base", base, "--rl-steps", "2",
                                  "--distill-steps", "3", "--distill-format", "chunk", "--device", "cpu",
                                  "--distill-arm", "all", "--rl-max-level", str(top + 2)])
    d, rl, src = curriculum.configs(args)
    ckpt = curriculum.run(d, rl, src, str(tmp_path / "run"), quiet=True)
    assert load_checkpoint(ckpt)["stage"] == "rlvr"
    # the RL stage started from the distilled student, not from the base
    assert json.load(open(tmp_path / "run" / "rlvr" / "config.json"))["base"].endswith(
        os.path.join("distill", "ckpt.pt"))
    assert json.load(open(tmp_path / "run" / "distill" / "config.json"))["format"] == "chunk"
    traces = [json.loads(line) for line in open(tmp_path / "run" / "distill" / "data.jsonl")]
    assert any("chunk" in t["completion"] for t in traces) and not any("column" in t["completion"] for t in traces)
    # the all arm teaches the longer additions too, and the RL stage trains on them
    assert max(t["level"] for t in traces if t["task"] == "addition") == top + 2
    assert json.load(open(tmp_path / "run" / "rlvr" / "config.json"))["max_level"] == top + 2
    summary = json.load(open(tmp_path / "run" / "summary.json"))
    assert summary["compute"]["distill_steps"] == 3 and summary["compute"]["rl_steps"] == 2
    # --student: RL starts from a finished distillation made with these settings, nothing is
    # distilled again (the study's plan runs C5's distillation once, as its own stage)
    argv = ["--preset", "tiny", "--base", base, "--rl-steps", "2", "--distill-format", "chunk", "--device", "cpu",
            "--distill-arm", "all", "--rl-max-level", str(top + 2), "--student", str(tmp_path / "run" / "distill" / "ckpt.pt")]
    curriculum.main(argv + ["--distill-steps", "3", "--out", str(tmp_path / "again")])
    assert not (tmp_path / "again" / "distill").exists()
    assert json.load(open(tmp_path / "again" / "rlvr" / "config.json"))["base"] == str(tmp_path / "run" / "distill" / "ckpt.pt")
    # a student distilled with other settings is refused before anything is written
    with pytest.raises(cli.LabError, match="other settings"):
        curriculum.main(argv + ["--distill-steps", "4", "--out", str(tmp_path / "refused")])
    assert not (tmp_path / "refused" / "rlvr").exists()


@pytest.mark.slow  # trains models
def test_edge_selection_runs_and_resumes_its_estimates(tmp_path):
    base = pretrain.train(dataclasses.replace(pretrain.PRESETS["tiny"], steps=40, device="cpu"),
                          str(tmp_path / "base"), quiet=True)
    args = curriculum.parse_args(["--preset", "tiny", "--mode", "select", "--selection", "edge",
                                  "--base", base, "--rl-steps", "2", "--device", "cpu"])
    d, rl, src = curriculum.configs(args)
    ckpt = curriculum.run(d, rl, src, str(tmp_path / "edge"), quiet=True)
    state = load_checkpoint(ckpt)["rng"]["data"]
    assert sum(state["attempts"]) == 2 * rl.prompts * rl.group
