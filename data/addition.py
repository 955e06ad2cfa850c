"""Multi-digit addition. Difficulty = number of digits of the longer operand.

Formats, with different strengths on purpose:
- `column`: right to left, one digit pair and the carry per step (`7+5+1=13`); many short, local
  steps, the most reliable on long inputs.
- `chunk`: two-digit chunks with the carry (`47+85+1=133`); half as many steps, each harder.
- `direct`: the answer alone; the model must carry in its head.
Step sums are zero-padded (`08`, `051`) so every step has the same shape and the answer digits
are the last digits of the step sums, read bottom up.
"""
import re

from data.core import Problem, render, verify_lines

NAME = "addition"
FORMATS = ("column", "chunk", "direct")
STEP_PATTERNS = {
    "column": re.compile(r"\d\+\d\+[01]=\d\d"),
    "chunk": re.compile(r"\d\d\+\d\d\+[01]=\d\d\d"),
    "direct": None,
}


def random_number(rng, digits):
    if digits == 1:
        return rng.randrange(10)
    return rng.randrange(10 ** (digits - 1), 10 ** digits)


def make(a, b, difficulty=None):
    prompt = f"{a}+{b}\n"
    difficulty = difficulty or max(len(str(a)), len(str(b)))
    return Problem(NAME, difficulty, prompt, str(a + b), (a, b), key=prompt)


def sample(rng, difficulty):
    """Half the time both operands have `difficulty` digits, else one is shorter."""
    a = random_number(rng, difficulty)
    short = difficulty if difficulty == 1 or rng.random() < 0.5 else rng.randint(1, difficulty - 1)
    b = random_number(rng, short)
    if rng.random() < 0.5:
        a, b = b, a
    return make(a, b, difficulty)


def reference_steps(problem, fmt):
    a, b = problem.data
    if fmt == "direct":
        return []
    base = 10 if fmt == "column" else 100
    width = 1 if fmt == "column" else 2
    n = -(-max(len(str(a)), len(str(b))) // width)  # ceil: number of digits (or chunks)
    steps, carry = [], 0
    for i in range(n):
        x, y = (a // base ** i) % base, (b // base ** i) % base
        total = x + y + carry
        steps.append(f"{x:0{width}d}+{y:0{width}d}+{carry}={total:0{width + 1}d}")
        carry = total // base
    return steps


def render_completion(problem, fmt):
    return render(problem, fmt, reference_steps(problem, fmt))


def verify(problem, completion):
    return verify_lines(problem, completion, STEP_PATTERNS, reference_steps)
