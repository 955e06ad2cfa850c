"""Judging: a rule of study/rules.py applied to every seed's measurements, a claim's verdict, and
the report's table of its rules (pooled effect, each seed's own estimate and interval)."""
from dataclasses import dataclass, field

from study.rules import ALPHA, MIN_SEEDS, RULES, Rule
from study.stats import hierarchical_bootstrap, sign_test


@dataclass
class Claim:
    name: str
    statement: str
    held: dict                      # seed -> bool: every rule's estimate on the predicted side
    effect: str                     # the headline effect size with its interval
    verdict: str                    # by the pre-registered rules (headline_verdict)
    lines: list = field(default_factory=list)
    plots: list = field(default_factory=list)
    dose: list = field(default_factory=list)  # C1: the dose-response rows (dose_response)
    figure: dict = field(default_factory=dict)  # C11, C12: what their figure draws


@dataclass
class Judged:
    """One rule judged on the measurements of every seed."""
    rule: Rule
    per_seed: dict      # seed -> (estimate, (low, high))
    pooled: tuple       # (estimate, (low, high))
    agreeing: int       # seeds whose estimate lies on the predicted side
    p: float            # one-sided sign test

    @property
    def interval_held(self):  # the pooled interval alone, for runs with too few seeds for the sign test
        low, high = self.pooled[1]
        return bool(low > self.rule.threshold if self.rule.direction == ">" else high < self.rule.threshold)

    @property
    def held(self):
        return self.interval_held and self.p <= ALPHA


def rule_named(claim, name):
    return next(r for r in RULES if r.claim == claim and r.name == name)


def judge(rule, effects, levels=None):
    """Judge `rule` on effects {seed: {problem key: value}} (a "seed" rule has one key per seed);
    levels {key: stratum} weights strata (difficulty levels) equally."""
    levels = levels if rule.unit == "problem" else None
    per_seed = {s: hierarchical_bootstrap({s: e}, levels) for s, e in effects.items()}
    agreeing = sum(rule.beyond(est) for est, _ in per_seed.values())
    return Judged(rule, per_seed, hierarchical_bootstrap(effects, levels), agreeing,
                  sign_test(agreeing, len(effects)))


def headline_verdict(judged, control):
    """The verdict of a claim from its judged rules and its control's (none: `control` is empty)."""
    seeds = len(next(iter(judged)).per_seed)
    control_shows = bool(control) and all(j.held if seeds >= MIN_SEEDS else j.interval_held for j in control)
    if seeds < MIN_SEEDS:
        ok = all(j.interval_held for j in judged)
        return (f"indicative ({seeds} seed{'s' if seeds > 1 else ''}): " + ("held" if ok else "did not hold")
                + ("; the control shows it too" if control_shows else ""))
    if control_shows:
        return "not reproduced: the negative control shows the effect, so the rule does not measure it"
    return "reproduced" if all(j.held for j in judged) else "not reproduced"


def fmt_est(est, ci):
    if ci[0] == ci[1] == est:  # one value per seed: no problems to resample
        return f"{est:.3f}"
    return f"{est:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def rule_lines(judged, control, control_label):
    """The report's table of a headline claim's rules, then its per-seed table."""
    by_name = {j.rule.name: j for j in control}
    lines = ["| rule | predicted | pooled (95% interval) | seeds on the predicted side | sign test p | "
             "held | control: pooled | control held |", "|---|---|---|---|---|---|---|---|"]
    n = len(judged[0].per_seed)

    def held(j):  # with too few seeds for the sign test, a rule is read from its interval alone
        if n < MIN_SEEDS:
            return ("**yes**" if j.interval_held else "no") + " (interval only)"
        return "**yes**" if j.held else "no"
    for j in judged:
        c = by_name.get(j.rule.name)
        lines.append(f"| {j.rule.name} | {j.rule.direction} {j.rule.threshold:g} | {fmt_est(*j.pooled)} | "
                     f"{j.agreeing} of {n} | {j.p:.3f} | {held(j)} | "
                     + (f"{fmt_est(*c.pooled)} | {held(c)} |" if c else "(not judged) | |"))
    seeds = list(judged[0].per_seed)
    lines += ["", f"Control: {control_label}. Each seed's estimate, with its 95% interval where it is a mean over problems (problems resampled):", "",
              "| seed | " + " | ".join(j.rule.name for j in judged) + " |", "|---" * (len(judged) + 1) + "|"]
    for s in seeds:
        lines.append(f"| {s} | " + " | ".join(fmt_est(*j.per_seed[s]) + ("" if j.rule.beyond(j.per_seed[s][0]) else " ✗")
                                                for j in judged) + " |")
    if any(not j.rule.beyond(j.per_seed[s][0]) for j in judged for s in seeds):
        lines += ["", "✗: this seed's estimate is not on the predicted side."]
    return lines


def judged_claim(name, statement, judged, control, control_label, intro, effect_rule=0):
    """A Claim from judged rules: held per seed = every rule's estimate on the predicted side."""
    seeds = list(judged[0].per_seed)
    held = {s: all(j.rule.beyond(j.per_seed[s][0]) for j in judged) for s in seeds}
    main = judged[effect_rule]
    return Claim(name, statement, held, f"{main.rule.name}: {fmt_est(*main.pooled)}",
                 headline_verdict(judged, control), intro + [""] + rule_lines(judged, control, control_label))


def judge_all(claim, effects, levels=None, names=None):
    return [judge(r, effects[r.name], levels) for r in RULES
            if r.claim == claim and (names is None or r.name in names)]
