"""Distillation: the data arms, the teachers' traces, loss masking, resume."""
import dataclasses
import json
import random

import pytest
import torch

import cli
import distill
import lab
import pretrain
from data import TASKS, CharTokenizer, World, verify
from data.world import is_test
from model import load_checkpoint


def arm_config(arm, tasks=("addition", "modular")):
    return dataclasses.replace(distill.PRESETS["default"], arm=arm, tasks=list(tasks), problems=400)


def test_patterns_and_new_arms_do_not_overlap_and_never_touch_the_test_region():
    world = World()
    patterns = distill.arm_problems(arm_config("patterns"), world, random.Random(0))
    new = distill.arm_problems(arm_config("new"), world, random.Random(0))
    known = distill.arm_problems(arm_config("known"), world, random.Random(0))
    assert len(patterns) == len(new) == len(known) == 400
    for p in patterns:  # within the pretrained levels
        assert p.difficulty <= world.max_level(p.task)
    assert {p.difficulty for p in patterns if p.task == "addition"} == set(range(1, world.max_level("addition") + 1))
    for p in known:  # below the hardest level: nothing the base has not mastered
        assert p.difficulty < world.max_level(p.task)
    for p in new:  # two above the hardest: the level between stays untaught (C4 scores it)
        assert p.difficulty == world.max_level(p.task) + 2
    assert not {(p.task, p.key) for p in patterns + known} & {(p.task, p.key) for p in new}
    assert not any(is_test(p, world) for p in patterns + new + known)


def test_the_all_arm_covers_the_trained_levels_and_the_new_ones():
    world = World()
    top = world.max_level("addition")
    everything = distill.arm_problems(arm_config("all", ("addition",)), world, random.Random(0))
    assert {p.difficulty for p in everything} == set(range(1, top + 3))
    assert not any(is_test(p, world) for p in everything)


def test_the_known_arm_needs_a_level_below_the_hardest():
    world = World(difficulty_weights={"addition": [1.0], "modular": [0.5, 0.5], "chain": [0.5, 0.5]})
    assert distill.arm_levels("known", world, "modular") == [1]
    with pytest.raises(cli.LabError, match="two pretrained levels"):
        distill.arm_levels("known", world, "addition")


def test_oracle_traces_verify_in_the_chosen_format():
    world = World()
    for fmt in ("column", "chunk"):
        config = dataclasses.replace(arm_config("patterns"), format=fmt)
        problems = distill.arm_problems(config, world, random.Random(1))
        traces = distill.teacher_traces(config, world, problems, None, CharTokenizer(), "cpu", None)
        assert len(traces) == len(problems)
        for p, completion in traces:
            v = verify(p, completion)
            assert v.correct and v.well_formed
            expected = fmt if p.task == "addition" else TASKS[p.task].FORMATS[0]
            assert v.format == expected


def test_prompt_tokens_carry_no_loss():
    tok = CharTokenizer()
    traces = [(type("P", (), {"prompt": "12+34\n"})(), "direct\nans 46")] * 8
    x, y = lab.pack_rows(distill.examples_forever(traces, tok, random.Random(0)), 1, 60, tok.pad_id)
    prompt = tok.encode("12+34\n")
    completion = tok.encode("direct\nans 46") + [tok.eos_id]
    per_example = 1 + len(prompt) + len(completion) - 1
    targets = y[0, :per_example].tolist()
    # BOS predicts the first prompt character, ..., the last prompt character predicts the
    # completion's first token: only those completion targets (and EOS) count
    assert targets[:len(prompt)] == [-1] * len(prompt)
    assert targets[len(prompt):] == completion


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory):
    work = tmp_path_factory.mktemp("distill")
    config = dataclasses.replace(pretrain.PRESETS["tiny"], steps=60, device="cpu")
    return work, pretrain.train(config, str(work / "base"), quiet=True)


def test_model_teachers_keep_only_verified_finished_samples(monkeypatch):
    world = World()
    config = dataclasses.replace(arm_config("patterns", ("addition",)), teacher="self", problems=30)
    problems = distill.arm_problems(config, world, random.Random(2))

    def fake_generate(model, tokenizer, problems, n, *args, **kwargs):
        # per problem: a right answer, a wrong one, a right one cut off, the right one again
        out = []
        for p in problems:
            right = TASKS[p.task].render_completion(p, "column")
            out.append([(right, True), (right.replace("ans ", "ans 9"), True), (right, False), (right, True)])
        return out

    monkeypatch.setattr(lab, "generate", fake_generate)
    traces = distill.teacher_traces(config, world, problems, None, CharTokenizer(), "cpu", None)
    assert len(traces) == len(problems)  # one per problem: wrong, truncated and duplicates dropped
    assert all(verify(p, c).correct for p, c in traces)


@pytest.mark.slow
def test_distill_resume_after_ctrl_c_matches_an_uninterrupted_run(tiny_student, ctrl_c_at_batch):
    work, ckpt = tiny_student
    config = dataclasses.replace(distill.PRESETS["tiny"], base=ckpt, steps=8, checkpoint_every=3,
                                 device="cpu")
    (work / "a").mkdir()
    (work / "b").mkdir()
    distill.train(config, str(work / "a"), quiet=True)
    ctrl_c_at_batch(5)  # while the 5th batch is built
    with pytest.raises(SystemExit):
        distill.train(config, str(work / "b"), quiet=True)
    assert load_checkpoint(str(work / "b" / "ckpt.pt"))["step"] == 4
    ctrl_c_at_batch(None)
    distill.train(config, str(work / "b"), resume_from=str(work / "b" / "ckpt.pt"), quiet=True)
    a = load_checkpoint(str(work / "a" / "ckpt.pt"))["model"]
    b = load_checkpoint(str(work / "b" / "ckpt.pt"))["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = lambda d: [m["loss"] for m in map(json.loads, open(work / d / "metrics.jsonl"))]
    assert losses("a") == losses("b")
