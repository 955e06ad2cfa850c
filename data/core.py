"""What every task shares: the Problem and Verdict records, rendering and line-based verification.

A completion is always a few lines: the format's name, the format's steps (none for `direct`),
and a final answer line `ans <answer>`. Each task says which formats it has, what one step of each
looks like (a regular expression) and what the reference steps of a problem are; the verifier
below is then the same for every task.
"""
import re
from dataclasses import dataclass, field

ANSWER_LINE = re.compile(r"ans ([0-9a-z]+)")


@dataclass(frozen=True)
class Problem:
    task: str
    difficulty: int
    prompt: str          # what the model sees, ending with a newline
    answer: str
    data: tuple = ()     # the task's own description (operands, operations, facts)
    key: str = ""        # canonical identity: the unperturbed prompt; splits hash this
    meta: tuple = field(default=(), compare=False)  # e.g. (("perturbation", "noise"), ("strength", 2))


@dataclass(frozen=True)
class Verdict:
    correct: bool          # the final line is exactly `ans <the right answer>`
    well_formed: bool      # known format line, every step well formed, final answer line present
    format: str | None     # the format named on the first line, if it is one of the task's
    answer: str | None     # what the final line answers, if it is an answer line
    steps_written: int     # step lines between the format line and the answer line
    steps_required: int    # steps the reference chain of that format has
    steps_correct: int     # steps equal to the reference step at the same position


def all_steps_right(required, correct, written):
    """A chain of at least one step, each equal to the reference step and none extra: what claim
    C8 calls a sound (not hollow) chain and what `rlvr.py --reward steps` pays for."""
    return required > 0 and correct == required == written


def render(problem, fmt, steps):
    """The completion text for `problem` in `fmt` given the reference `steps`."""
    return "".join(line + "\n" for line in [fmt, *steps]) + f"ans {problem.answer}"


def verify_lines(problem, completion, step_patterns, reference_steps):
    """Strict check of a completion: only the last line can answer, no substring credit.

    step_patterns: {format name: compiled regex of one step, or None for a format with no steps}
    reference_steps: function(problem, fmt) -> list of the correct step strings
    """
    lines = completion.split("\n")
    final = ANSWER_LINE.fullmatch(lines[-1])
    answer = final.group(1) if final else None
    fmt = lines[0] if lines[0] in step_patterns else None
    steps = lines[1:-1] if len(lines) >= 2 else []
    required, right = 0, 0
    well_formed = final is not None and fmt is not None and len(lines) >= 2
    if fmt is not None:
        pattern = step_patterns[fmt]
        if pattern is None:
            well_formed = well_formed and not steps
        else:
            well_formed = well_formed and all(pattern.fullmatch(s) for s in steps)
        reference = reference_steps(problem, fmt)
        required = len(reference)
        right = sum(1 for s, r in zip(steps, reference) if s == r)
    return Verdict(correct=answer == problem.answer, well_formed=well_formed, format=fmt,
                   answer=answer, steps_written=len(steps), steps_required=required,
                   steps_correct=right)
