"""The synthetic world: tokenizer, tasks (generators, formats, verifiers) and splits."""
from data.core import Problem, Verdict  # noqa: F401 (the package's public names)
from data.tokenizer import CharTokenizer, TokenizerError
from data.world import (SPLITS, TASKS, World, WorldError, eval_problems, perturb,
                        sample_training_text, split_of, verify, world_from_options)
