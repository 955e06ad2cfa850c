"""The world: which tasks, formats and difficulties the model sees, and the held-out splits.

Everything here is deterministic given a seed. A problem belongs to the test region when the hash
of its canonical prompt (salted with `split_seed`) falls in the first `test_per_mille` of 1000
buckets; the training sampler rejects such problems, so no evaluation problem is ever trained on.

Distribution shift is always a knob of a split (DataAlchemy, arXiv 2508.01191):
- `length`: one and two levels above the highest trained difficulty;
- `composition`: modular chains mixing + or - with *, which training only shows apart;
- `format`: prompts perturbed by noise characters, spaces or a junk prefix, graded by strength.
"""
import random
import string
import zlib
import math
from dataclasses import asdict, dataclass, field

from data import addition, chain, compare, modular

TASKS = {module.NAME: module for module in (addition, modular, chain, compare)}
FORMATS = sorted({f for module in TASKS.values() for f in module.FORMATS})  # every task's formats
# `direct` is a minority format on purpose: the model never learns to add long numbers in its
# head, so its share caps the easy levels' accuracy (docs/log/experiments.md, runs A-D, G)
DEFAULT_FORMAT_MIX = {"column": 0.55, "chunk": 0.4, "direct": 0.05, "steps": 0.8, "chain": 0.8}
# levels of a task that the default world leaves out, used when `--tasks` names it (kept out of
# the default World so that its config, and so every cached stage's hash, stays as it was)
OPTIONAL_DIFFICULTY_WEIGHTS = {"compare": [0.2, 0.2, 0.2, 0.2, 0.2]}
PERTURBATIONS = ("noise", "spaces", "prefix")
SPLITS = ("id", "length", "composition", "format")


class WorldError(ValueError):
    """A world setting that cannot be used: the message says which and what is allowed."""


@dataclass
class World:
    task_weights: dict = field(default_factory=lambda: {"addition": 0.6, "modular": 0.2, "chain": 0.2})
    format_mix: dict = field(default_factory=lambda: dict(DEFAULT_FORMAT_MIX))
    # weight of each trained difficulty level, index 0 = level 1; the list's length is the highest
    # trained level. A rare hardest level, learned last, is what makes it hard but not impossible.
    difficulty_weights: dict = field(default_factory=lambda: {
        "addition": [0.25, 0.25, 0.2, 0.15, 0.1, 0.03],
        "modular": [0.2, 0.25, 0.3, 0.25],
        "chain": [0.2, 0.25, 0.3, 0.25]})
    split_seed: int = 0
    test_per_mille: int = 100

    def __post_init__(self):
        self.validate()

    def validate(self):
        if not self.task_weights:
            raise WorldError("the world needs at least one task; choose from " + ", ".join(TASKS))
        for fmt, weight in self.format_mix.items():
            if fmt not in FORMATS:
                raise WorldError(f"unknown format {fmt!r}; formats are {', '.join(FORMATS)}")
            if not 0 <= weight < math.inf:
                raise WorldError(f"format weight of {fmt!r} must be a finite number >= 0, got {weight}")
        for task, weight in self.task_weights.items():
            if task not in TASKS:
                raise WorldError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
            if not 0 < weight < math.inf:
                raise WorldError(f"task weight of {task!r} must be a finite positive number, got {weight}")
            self.format_weights(task)  # raises if the mix leaves a task no format
            weights = self.difficulty_weights.get(task)
            if not weights or any(not 0 <= w < math.inf for w in weights) or sum(weights) <= 0:
                raise WorldError(f"difficulty weights of {task!r} must be finite, non-negative and "
                                 f"with a positive sum, got {weights}")
        if not 0 < self.test_per_mille < 1000:
            raise WorldError(f"test_per_mille must be in 1..999, got {self.test_per_mille}")

    def format_weights(self, task):
        """This task's formats and their normalised weights; a format missing from the mix keeps
        its default weight, so `--format-mix column=1` changes addition and leaves the rest."""
        formats = TASKS[task].FORMATS
        weights = [self.format_mix.get(f, DEFAULT_FORMAT_MIX.get(f, 0.2)) for f in formats]
        if sum(weights) <= 0:
            raise WorldError(f"format mix gives task {task!r} no format with positive weight "
                             f"(its formats: {', '.join(formats)})")
        return formats, [w / sum(weights) for w in weights]

    def max_level(self, task):
        return len(self.difficulty_weights[task])

    def to_dict(self):
        return asdict(self)


def is_test(problem, world):
    bucket = zlib.crc32(f"{world.split_seed}:{problem.task}:{problem.key}".encode()) % 1000
    return bucket < world.test_per_mille


# ---------------------------------------------------------------- training stream

def sample_training_problem(world, rng, task=None, level=None):
    """A problem from the training mixture (never from the test region); `task` and `level`
    default to draws from the world's weights."""
    if task is None:
        task = rng.choices(list(world.task_weights), weights=list(world.task_weights.values()))[0]
    if level is None:
        weights = world.difficulty_weights[task]
        level = rng.choices(range(1, len(weights) + 1), weights=weights)[0]
    while True:
        problem = TASKS[task].sample(rng, level)
        if not is_test(problem, world):
            return problem


def sample_training_text(world, rng):
    """(prompt, completion) of one training example, in a format drawn from the mix."""
    problem = sample_training_problem(world, rng)
    formats, weights = world.format_weights(problem.task)
    fmt = rng.choices(formats, weights=weights)[0]
    return problem.prompt, TASKS[problem.task].render_completion(problem, fmt)


# ---------------------------------------------------------------- evaluation splits

def distinct_test_problems(world, sampler, count, rng, max_tries=50):
    """Up to `count` distinct test-region problems from `sampler(rng)`; fewer when the space is
    small (one-digit addition has only 100 problems, ~10 of them in the test region)."""
    found, tries = {}, 0
    while len(found) < count and tries < max_tries * count:
        tries += 1
        problem = sampler(rng)
        if is_test(problem, world) and problem.key not in found:
            found[problem.key] = problem
    return list(found.values())


def perturb(problem, kind, strength, rng):
    """The same problem with its prompt perturbed; `strength` grades how much (1, 2, 3, ...)."""
    body = problem.prompt[:-1]  # keep the final newline: it marks where the answer starts
    if kind == "noise":      # noise characters inside the prompt
        chars = list(body)
        for _ in range(strength):
            chars.insert(rng.randrange(1, len(chars)), "_")
        body = "".join(chars)
    elif kind == "spaces":   # other delimiters: spaces between symbols
        chars = list(body)
        for _ in range(strength):
            chars.insert(rng.randrange(1, len(chars)), " ")
        body = "".join(chars)
    elif kind == "prefix":   # an irrelevant preamble
        junk = "".join(rng.choice(string.ascii_lowercase) for _ in range(2 * strength))
        body = f"# {junk}: {body}"
    else:
        raise WorldError(f"unknown perturbation {kind!r}; choose from {', '.join(PERTURBATIONS)}")
    meta = (("perturbation", kind), ("strength", strength))
    return type(problem)(problem.task, problem.difficulty, body + "\n", problem.answer,
                         problem.data, problem.key, meta)


def eval_problems(world, split, per_level, seed=0, tasks=None, strengths=(1, 2, 3)):
    """The held-out problems of one split, as a list of Problem.

    id: every trained level of every task; length: the two levels above; composition: modular
    chains mixing operations (levels 2..max); format: id problems of the top half of the levels,
    each perturbation kind at each strength.
    """
    if split not in SPLITS:
        raise WorldError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    rng = random.Random(f"eval:{seed}:{split}")
    tasks = list(tasks or world.task_weights)
    problems = []
    for task in tasks:
        module, top = TASKS[task], world.max_level(task)
        if split == "id":
            levels = range(1, top + 1)
        elif split == "length":
            levels = range(top + 1, top + 3)
        elif split == "composition":
            if task != "modular":
                continue
            levels = range(2, top + 1)
        else:
            levels = range((top + 1) // 2 + 1, top + 1)
        for level in levels:
            if split == "composition":
                sampler = lambda r, level=level: module.sample(r, level, composition=True)
            else:
                sampler = lambda r, level=level: module.sample(r, level)
            found = distinct_test_problems(world, sampler, per_level, rng)
            if split == "format":
                found = [perturb(p, kind, s, rng) for p in found[:max(1, per_level // 3)]
                         for kind in PERTURBATIONS for s in strengths]
            problems.extend(found)
    return problems


def split_of(problem, world):
    """Which split a (possibly perturbed) problem belongs to."""
    if problem.meta:
        return "format"
    if problem.difficulty > world.max_level(problem.task):
        return "length"
    if problem.task == "modular" and modular.is_composed(problem):
        return "composition"
    return "id"


def verify(problem, completion):
    return TASKS[problem.task].verify(problem, completion)


# ---------------------------------------------------------------- command-line parsing

def parse_weights(text, what):
    """`a=0.5,b=0.3` -> {"a": 0.5, "b": 0.3}; a bare name means weight 1."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, value = item.partition("=")
        try:
            out[name.strip()] = float(value) if value else 1.0
        except ValueError:
            raise WorldError(f"{what}: {value!r} is not a number (expected name=weight,...)") from None
    if not out:
        raise WorldError(f"{what}: empty; expected name=weight,name=weight")
    return out


def parse_difficulty_weights(text):
    """`addition=1:1:2:2:3:1,modular=1:1:1:1` (a bare `1:1:2` applies to addition)."""
    out = {}
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise WorldError("--difficulty-weights: empty; expected e.g. addition=1:1:2:2:3:1")
    for item in items:
        task, _, levels = item.rpartition("=")
        task = task.strip() or "addition"
        if not item.count("=") and len(items) > 1 or task in out:
            raise WorldError(f"--difficulty-weights {text!r}: give each task once, as "
                             "task=w1:w2:..., levels separated by ':' (e.g. addition=1:1:2,modular=1:1)")
        try:
            out[task] = [float(w) for w in levels.split(":")]
        except ValueError:
            raise WorldError(f"--difficulty-weights: {levels!r} is not a list of numbers like "
                             "1:1:2:2:3:1") from None
    for task in out:
        if task not in TASKS:
            raise WorldError(f"--difficulty-weights: unknown task {task!r}; choose from {', '.join(TASKS)}")
    return out


def world_from_options(tasks=None, format_mix=None, difficulty_weights=None, base=None):
    """A World from the CLI strings, on top of `base` (a dict) or the defaults."""
    world = World(**(base or {}))
    fields = world.to_dict()
    if tasks is not None:
        fields["task_weights"] = parse_weights(tasks, "--tasks")
        for task, levels in OPTIONAL_DIFFICULTY_WEIGHTS.items():
            if task in fields["task_weights"]:
                fields["difficulty_weights"].setdefault(task, list(levels))
    if format_mix is not None:
        fields["format_mix"] = {**fields["format_mix"], **parse_weights(format_mix, "--format-mix")}
    if difficulty_weights is not None:
        fields["difficulty_weights"] = {**fields["difficulty_weights"],
                                        **parse_difficulty_weights(difficulty_weights)}
    return World(**fields)
