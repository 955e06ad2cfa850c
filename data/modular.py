"""Modular arithmetic: a chain of operations mod 7, evaluated left to right.

Difficulty = number of operations. `mod7 3+5*2-4` means ((3+5)*2-4) mod 7 = 5.
In training, a chain is either additive (+ and - only) or multiplicative (* only); a chain that
mixes the two is the *composition* shift: both operations were seen, never together.
Formats: `steps` (one reduction per line, `3+5=1`) and `direct`.
"""
import re

from data.core import Problem, render, verify_lines

NAME = "modular"
MODULUS = 7
FORMATS = ("steps", "direct")
STEP_PATTERNS = {"steps": re.compile(r"\d[+\-*]\d=\d"), "direct": None}
APPLY = {"+": lambda x, y: (x + y) % MODULUS, "-": lambda x, y: (x - y) % MODULUS,
         "*": lambda x, y: (x * y) % MODULUS}


def make(start, ops, difficulty=None):
    """ops: tuple of (operator, operand) pairs."""
    value = start
    for op, y in ops:
        value = APPLY[op](value, y)
    prompt = f"mod{MODULUS} {start}" + "".join(f"{op}{y}" for op, y in ops) + "\n"
    return Problem(NAME, difficulty or len(ops), prompt, str(value), (start, tuple(ops)), key=prompt)


def sample(rng, difficulty, composition=False):
    """composition=False: an additive or a multiplicative chain; True: a chain mixing + or - with *."""
    while True:
        if composition:
            operators = [rng.choice("+-*") for _ in range(difficulty)]
            if "*" not in operators or set(operators) == {"*"}:
                continue
        elif rng.random() < 0.5:
            operators = ["*"] * difficulty
        else:
            operators = [rng.choice("+-") for _ in range(difficulty)]
        ops = tuple((op, rng.randrange(1, MODULUS) if op == "*" else rng.randrange(MODULUS))
                    for op in operators)
        return make(rng.randrange(MODULUS), ops, difficulty)


def is_composed(problem):
    operators = {op for op, _ in problem.data[1]}
    return "*" in operators and len(operators) > 1


def reference_steps(problem, fmt):
    if fmt == "direct":
        return []
    value, steps = problem.data[0], []
    for op, y in problem.data[1]:
        result = APPLY[op](value, y)
        steps.append(f"{value}{op}{y}={result}")
        value = result
    return steps


def render_completion(problem, fmt):
    return render(problem, fmt, reference_steps(problem, fmt))


def verify(problem, completion):
    return verify_lines(problem, completion, STEP_PATTERNS, reference_steps)
