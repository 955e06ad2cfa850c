"""Multi-hop deduction over named facts. Difficulty = number of hops.

`q>m p>q m>x k>z | p 3` lists facts "q points to m", ... (shuffled, with two distractor facts) and
asks where 3 hops from `p` lead: p>q, q>m, m>x, so the answer is `x`.
Formats: `chain` (forward chaining, one fact per line, `p>q`) and `direct`.
"""
import re
import string

from data.core import Problem, render, verify_lines

NAME = "chain"
FORMATS = ("chain", "direct")
STEP_PATTERNS = {"chain": re.compile(r"[a-z]>[a-z]"), "direct": None}
DISTRACTORS = 2


def make(facts, start, hops):
    """facts: tuple of (source, target) letter pairs, in the order shown; sources are distinct."""
    follow = dict(facts)
    node = start
    for _ in range(hops):
        node = follow[node]
    prompt = " ".join(f"{s}>{t}" for s, t in facts) + f" | {start} {hops}\n"
    return Problem(NAME, hops, prompt, node, (tuple(facts), start, hops), key=prompt)


def sample(rng, difficulty):
    letters = rng.sample(string.ascii_lowercase, difficulty + 1 + DISTRACTORS)
    path, others = letters[:difficulty + 1], letters[difficulty + 1:]
    facts = [(path[i], path[i + 1]) for i in range(difficulty)]
    facts += [(s, rng.choice(string.ascii_lowercase)) for s in others]
    rng.shuffle(facts)
    return make(tuple(facts), path[0], difficulty)


def reference_steps(problem, fmt):
    if fmt == "direct":
        return []
    facts, node, hops = problem.data
    follow, steps = dict(facts), []
    for _ in range(hops):
        steps.append(f"{node}>{follow[node]}")
        node = follow[node]
    return steps


def render_completion(problem, fmt):
    return render(problem, fmt, reference_steps(problem, fmt))


def verify(problem, completion):
    return verify_lines(problem, completion, STEP_PATTERNS, reference_steps)
