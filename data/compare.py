"""Compare two sums. Difficulty = number of digits of the longest operand.

`4821+367?5102+93` asks which sum is larger: `a` (the first) or `b` (the second); the two sums are
never equal. Formats:
- `column`: the first addition column by column, exactly as in the addition task, then its total
  (`=5188`), the same for the second sum, then the answer;
- `direct`: the answer alone.
A wrong digit in one sum usually leaves the comparison right, so here, unlike in addition, a chain
with a wrong step can still end on the right answer (claim C8's "hollow" chains).
"""
import re

from data import addition
from data.core import Problem, render, verify_lines

NAME = "compare"
FORMATS = ("column", "direct")
STEP_PATTERNS = {"column": re.compile(r"\d\+\d\+[01]=\d\d|=\d+"), "direct": None}


def make(a, b, c, d, difficulty=None):
    if a + b == c + d:
        raise ValueError(f"the sums {a}+{b} and {c}+{d} are equal; compare needs a larger one")
    prompt = f"{a}+{b}?{c}+{d}\n"
    difficulty = difficulty or max(len(str(n)) for n in (a, b, c, d))
    return Problem(NAME, difficulty, prompt, "a" if a + b > c + d else "b", (a, b, c, d), key=prompt)


def sample(rng, difficulty):
    """Two sums drawn as the addition task draws one, at the same level, redrawn while equal."""
    while True:
        first, second = addition.sample(rng, difficulty), addition.sample(rng, difficulty)
        (a, b), (c, d) = first.data, second.data
        if a + b != c + d:
            return make(a, b, c, d, difficulty)


def reference_steps(problem, fmt):
    if fmt == "direct":
        return []
    a, b, c, d = problem.data
    steps = []
    for x, y in ((a, b), (c, d)):
        steps += addition.reference_steps(addition.make(x, y), "column") + [f"={x + y}"]
    return steps


def render_completion(problem, fmt):
    return render(problem, fmt, reference_steps(problem, fmt))


def verify(problem, completion):
    return verify_lines(problem, completion, STEP_PATTERNS, reference_steps)
