import random

import pytest

from data import World, WorldError, eval_problems, perturb, sample_training_text, world_from_options
from data.world import SPLITS, TASKS, is_test, sample_training_problem, split_of


def test_training_never_samples_a_test_problem_and_eval_only_samples_them():
    world = World()
    rng = random.Random(0)
    assert not any(is_test(sample_training_problem(world, rng), world) for _ in range(5000))
    for split in SPLITS:
        assert all(is_test(p, world) for p in eval_problems(world, split, 8))


def test_eval_sets_are_deterministic_distinct_and_labelled_with_their_split():
    world = World()
    for split in SPLITS:
        first, second = eval_problems(world, split, 8, seed=3), eval_problems(world, split, 8, seed=3)
        assert first == second and first
        assert all(split_of(p, world) == split for p in first)
        if split != "format":
            keys = [(p.task, p.key) for p in first]
            assert len(keys) == len(set(keys))


def test_length_split_is_above_every_trained_level_and_composition_mixes_operations():
    world = World()
    assert all(p.difficulty > world.max_level(p.task) for p in eval_problems(world, "length", 4))
    rng = random.Random(0)
    for _ in range(500):
        p = sample_training_problem(world, rng, "modular")
        assert split_of(p, world) == "id"  # training never composes + or - with *


def test_perturbation_keeps_the_problem_and_grows_with_strength():
    rng = random.Random(0)
    problem = TASKS["addition"].make(4821, 367)
    for kind in ("noise", "spaces", "prefix"):
        lengths = []
        for strength in (1, 2, 3):
            p = perturb(problem, kind, strength, rng)
            assert p.answer == problem.answer and p.key == problem.key and p.prompt.endswith("\n")
            lengths.append(len(p.prompt))
        assert lengths == sorted(lengths) and lengths[0] > len(problem.prompt)


def test_training_formats_follow_the_mix():
    world = world_from_options(tasks="addition", format_mix="column=0.6,chunk=0.3,direct=0.1")
    rng = random.Random(0)
    counts = {"column": 0, "chunk": 0, "direct": 0}
    for _ in range(4000):
        _, completion = sample_training_text(world, rng)
        counts[completion.split("\n")[0]] += 1
    assert abs(counts["column"] / 4000 - 0.6) < 0.03 and abs(counts["direct"] / 4000 - 0.1) < 0.02


def test_difficulty_weights_set_the_levels_seen():
    world = world_from_options(tasks="addition", difficulty_weights="addition=0:0:1")
    rng = random.Random(0)
    assert {sample_training_problem(world, rng).difficulty for _ in range(200)} == {3}
    assert world.max_level("addition") == 3


@pytest.mark.parametrize("options", [
    {"tasks": "addition=0"}, {"tasks": "algebra"}, {"tasks": "addition=x"},
    {"format_mix": "column=0,chunk=0,direct=0"}, {"format_mix": "diagonal=1"},
    {"format_mix": "column=-1"}, {"difficulty_weights": "addition=1:a"},
    {"difficulty_weights": "geometry=1:1"}, {"difficulty_weights": "addition=0:0"}])
def test_impossible_world_options_raise_world_error(options):
    with pytest.raises(WorldError):
        world_from_options(**options)
