"""The claims of the study, measured from what the stages wrote (predictions, per-step logs).

Each `claim_*` function reads the runs of every seed and returns a `Claim`: its verdict, its
effect sizes with 95% intervals, on how many seeds it held, and the lines of its report section.

The three headline claims (C1-C3) are judged by the pre-registered rules of the table `RULES`:
per rule a metric, the side of a threshold the claim predicts and the threshold, one statistic
for all (`STATISTIC`: a hierarchical bootstrap over seeds and problems and a sign test over
seeds), and a negative control per claim (`CONTROLS`) that must not show the effect. C4-C9 keep
their per-seed rules (`OTHER_RULES`): *reproduced* when a claim held on every seed, *mixed* on at
least two but not all, *not reproduced* otherwise.
"""
import collections
from dataclasses import dataclass, field

import numpy as np

from data.core import ANSWER_LINE, all_steps_right
from eval import bin_labels, ks_for, pass_at_k, transition_matrix, update_sparsity
from study.stats import (arm_changes, arm_levels, by_level, fmt_ci, hierarchical_bootstrap,
                         load_predictions, paired_bootstrap, sample_count, sign_test, stratified_bootstrap)

CLAIMS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")
HEADLINE = ("C1", "C2", "C3")  # the headline study: `python reproduce.py` runs these


@dataclass
class Claim:
    name: str
    statement: str
    held: dict                      # seed -> bool
    effect: str                     # the headline effect size with its interval
    lines: list = field(default_factory=list)
    plots: list = field(default_factory=list)
    judged_verdict: str = None      # a headline claim's verdict by its pre-registered rules

    @property
    def verdict(self):
        return self.judged_verdict or verdict(sum(self.held.values()), len(self.held))


def verdict(held, seeds):
    if seeds == 1:
        return "indicative (1 seed): " + ("held" if held else "did not hold")
    if held == seeds:
        return "reproduced"
    if held >= 2:
        return "mixed"
    return "not reproduced"


# ---------------------------------------------------------------- the pre-registered rules
#
# The three headline claims are judged by the rules in this table, written down before the
# confirmation run that they judge (docs/experiments.md logs every change, before the measurement
# it affects). Each rule names a metric, measured on every seed, the side of a threshold the claim
# predicts, and the threshold. One statistic serves every rule (STATISTIC); a claim is reproduced
# when every one of its rules holds and its negative control does not show the effect.

@dataclass(frozen=True)
class Rule:
    claim: str
    name: str
    metric: str       # what one seed's measurement is
    direction: str    # ">" or "<": the side of the threshold the claim predicts
    threshold: float
    unit: str         # "problem": a value per test problem (problems resampled in the bootstrap); "seed": one per seed

    def beyond(self, value):
        return value > self.threshold if self.direction == ">" else value < self.threshold


ALPHA = 0.05       # the sign test's level
MIN_SEEDS = 5      # with fewer seeds a sign test cannot reach ALPHA (4 of 4: p = 0.0625): indicative only
TAIL_STEPS = 5     # C2 reads the end of a run as the mean of its last 5 logged steps

RULES = (
    Rule("C1", "pass@1 rises where RL trains",
         "change base -> RL in pass@1 on every addition level (RL trains on all of them), per problem, "
         "levels weighted equally", ">", 0.0, "problem"),
    Rule("C1", "pass@n falls on the hardest level",
         "change base -> RL in pass@n (n = the evaluation's samples) on the hardest addition level, "
         "which RL trains on too, per problem", "<", 0.0, "problem"),
    Rule("C2", "one format takes over",
         f"share of the most used known format among the beta = 0 run's samples, mean over its last "
         f"{TAIL_STEPS} steps", ">", 0.9, "seed"),
    Rule("C2", "the KL penalty keeps other formats",
         "minority share (samples in a known format other than the step's most used), mean over "
         "steps, beta > 0 run minus the beta = 0 run of the same length", ">", 0.0, "seed"),
    Rule("C3", "near-perfect in distribution",
         "student pass@1 on the in-distribution problems of the distilled tasks, per problem, every "
         "task and level weighted equally", ">", 0.9, "problem"),
    Rule("C3", "fails on longer inputs",
         "student pass@1 on the length split (one and two levels above the trained ones) divided by "
         "its in-distribution pass@1, per problem", "<", 0.5, "problem"),
    Rule("C3", "fails on unseen compositions",
         "the same ratio on the composition split (modular chains mixing operations)", "<", 0.5, "problem"),
    Rule("C3", "fails on perturbed formats",
         "the same ratio on the format split (perturbed prompts, three kinds at strengths 1-3)", "<", 0.5, "problem"),
    Rule("C3", "fluent when wrong",
         "share of the wrong answers on the shifted splits that are well-formed chains", ">", 0.5, "seed"),
)
STATISTIC = (f"the pooled effect over seeds with a 95% hierarchical bootstrap interval (seeds resampled, "
             f"then problems, a problem shared by seeds resampled jointly); a rule holds when the whole "
             f"interval lies on the predicted side of the threshold and a one-sided sign test over seeds "
             f"(each seed's own estimate on the predicted side or not) gives p <= {ALPHA}")
# the negative control of each headline claim, and the rules it is judged by: it must not show the effect
CONTROLS = {
    "C1": ("RLVR with a coin-flip reward (independent of the output) on the same data, for as many steps",
           ("pass@1 rises where RL trains", "pass@n falls on the hardest level")),
    "C2": ("the coin-flip RLVR run of C1's control, read as the beta = 0 run", ("one format takes over",)),
    "C3": ("the base model on the same shifts, judged as the student is", tuple(r.name for r in RULES if r.claim == "C3")),
}
# the rules of C4-C9 (per seed, verdict by the count of seeds; not yet on the pooled statistic)
OTHER_RULES = {
    "C4": "new-knowledge arm: pass@n on the lengths it was taught rises (interval above 0); known and self arms: pass@1 rises, pass@n does not",
    "C5": "distill -> RLVR reaches a higher pass@1 on the longer additions than distillation alone and RLVR alone",
    "C6": "the edge-of-competence arm gains more pass@1 than the easy and hard arms",
    "C7": "RLVR changes a smaller share of weights than self-distillation",
    "C8": "step correctness among right answers falls under RLVR on a task where a wrong step can reach the right answer",
    "C9": "a spurious reward (coin flip, format) or one problem recovers much of the full reward's pass@1 gain",
}


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
    """The verdict of a headline claim from its judged rules and its control's."""
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


def headline_claim(name, statement, judged, control, control_label, intro, effect_rule=0):
    """A Claim from judged rules: held per seed = every rule's estimate on the predicted side."""
    seeds = list(judged[0].per_seed)
    held = {s: all(j.rule.beyond(j.per_seed[s][0]) for j in judged) for s in seeds}
    main = judged[effect_rule]
    claim = Claim(name, statement, held, f"{main.rule.name}: {fmt_est(*main.pooled)}",
                  intro + [""] + rule_lines(judged, control, control_label))
    claim.judged_verdict = headline_verdict(judged, control)
    return claim


# ---------------------------------------------------------------- C1: capability narrowing

def c1_effects(pairs, top_level):
    """pairs {seed: (base eval dir, RL eval dir)} -> (the two rules' effects, levels by key, n)."""
    pass1, hardest, levels, n = {}, {}, {}, None
    for seed, (base_dir, rl_dir) in pairs.items():
        base, rl = load_predictions(base_dir), load_predictions(rl_dir)
        keys = [k for k in base if k in rl]
        n = min(len(d[k]["correct"]) for d in (base, rl) for k in keys)
        p = lambda r, k: pass_at_k(n, sum(r["correct"][:n]), k)
        pass1[seed] = {k: p(rl[k], 1) - p(base[k], 1) for k in keys}
        hardest[seed] = {k: p(rl[k], n) - p(base[k], n) for k in keys if base[k]["level"] == top_level}
        levels.update({k: base[k]["level"] for k in keys})
    return {"pass@1 rises where RL trains": pass1, "pass@n falls on the hardest level": hardest}, levels, n


def judge_all(claim, effects, levels=None, names=None):
    return [judge(r, effects[r.name], levels) for r in RULES
            if r.claim == claim and (names is None or r.name in names)]


def claim_c1(pairs, top_level, control):
    """pairs, control: {seed: (base eval dir, eval dir of RL on every addition level)}, RL by the
    verifier's reward and by a coin flip."""
    effects, levels, n = c1_effects(pairs, top_level)
    judged = judge_all("C1", effects, levels)
    c_effects, c_levels, _ = c1_effects(control, top_level)
    judged_control = judge_all("C1", c_effects, c_levels, CONTROLS["C1"][1])
    intro = [f"RL trains on additions of 1-{top_level} digits and is evaluated on every level ({n} samples "
             "per problem). Narrowing is the pass@k curves crossing where RL trains: pass@1 rises, and "
             f"pass@n falls on the {top_level}-digit level, the only one the base does not solve at large n "
             "(on the easier levels the base solves nearly every problem at n samples, so pass@n has no "
             "room to fall there; see the last table). A model RL merely damaged fails the first rule."]
    claim = headline_claim("C1", "RLVR raises pass@1 where it trains and lowers pass@k on the hardest "
                           "problems it trains on (capability narrowing)", judged, judged_control,
                           CONTROLS["C1"][0], intro)
    lost = [row for seed, (b, r) in pairs.items() for row in lost_problems(b, r, seed)]
    formats = collections.Counter(f for row in lost for f in row["formats"])
    claim.lines += ["", f"Problems the base solved at least once and RL never did, all seeds: {len(lost)}; the "
                    "formats of the base's right answers to them: "
                    + (", ".join(f"{f} {c}" for f, c in formats.most_common()) or "none") + "."]
    claim.lines += ["", "Problems of every level by how often the base and RL solved them, all seeds:", ""]
    claim.lines += transitions_table(pairs)
    return claim


def lost_problems(base_dir, rl_dir, seed=None):
    """The problems the base solved at least once and RL never: per problem its level, the base's
    right answers out of its samples, and the format of each of those right answers."""
    base, rl = load_predictions(base_dir), load_predictions(rl_dir)
    return [{"seed": seed, "key": k, "level": base[k]["level"], "prompt": base[k]["prompt"],
             "base": f"{sum(base[k]['correct'])}/{len(base[k]['correct'])}",
             "formats": [f for f, ok in zip(base[k]["format"], base[k]["correct"]) if ok]}
            for k in base if k in rl and any(base[k]["correct"]) and not any(rl[k]["correct"])]


def transitions_table(pairs):
    """Capability-bin transitions base -> RL over all seeds, with problems lost and gained."""
    transitions, n = 0, None
    for base_dir, rl_dir in pairs.values():
        base = load_predictions(base_dir)
        transitions = transitions + transition_matrix(base, load_predictions(rl_dir))
        n = min(len(r["correct"]) for r in base.values())
    labels = bin_labels(n)
    lost = int(sum(transitions[i, :i].sum() for i in range(1, len(labels))))
    gained = int(sum(transitions[i, i + 1:].sum() for i in range(len(labels))))
    lines = [f"Rows: base bin, columns: RL bin (correct samples out of {n}); {lost} problems moved to a "
             f"lower bin, {gained} to a higher one, {int(transitions[1:, 0].sum())} that the base solved "
             "at least once were never solved after RL.", "",
             "| base \\ RL | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    lines += [f"| {labels[i]} | " + " | ".join(str(v) for v in row) + " |" for i, row in enumerate(transitions)]
    return lines


# ---------------------------------------------------------------- C2: format collapse

def known_formats(m):
    """A step's format shares without `unknown` (samples in no known format): a run that writes
    nonsense has not collapsed onto a format, and nonsense is not a minority format either."""
    return {f: v for f, v in m["formats"].items() if f != "unknown"}


def minority_share(metrics):
    """Mean over steps of the share of samples in a known format other than the step's most used."""
    return float(np.mean([sum(k.values()) - max(k.values(), default=0.0) for k in map(known_formats, metrics)]))


def top_share(metrics, tail=TAIL_STEPS):
    """Share of the most used known format, mean over the last `tail` steps."""
    return float(np.mean([max(known_formats(m).values(), default=0.0) for m in metrics[-tail:]]))


def winner_of(m):
    """The most used known format of a step."""
    return max(known_formats(m).items(), key=lambda kv: kv[1], default=("none", 0.0))[0]


def c2_effects(runs):
    """runs {seed: (metrics of the beta = 0 run, metrics of the beta > 0 run or None)}."""
    out = {"one format takes over": {s: {"run": top_share(m0)} for s, (m0, _) in runs.items()}}
    if all(mk is not None for _, mk in runs.values()):
        out["the KL penalty keeps other formats"] = {
            s: {"run": minority_share(mk) - minority_share(m0[:len(mk)])} for s, (m0, mk) in runs.items()}
    return out


def claim_c2(runs, control, beta, other=None):
    """runs: {seed: (metrics of the beta = 0 run, metrics of the beta > 0 run)}; control: {seed:
    metrics of the coin-flip run}; other: (format mix, metrics of a beta = 0 run from a base
    pretrained on that mix) or None."""
    judged = judge_all("C2", c2_effects(runs))
    judged_control = judge_all("C2", c2_effects({s: (m, None) for s, m in control.items()}),
                               names=CONTROLS["C2"][1])
    steps = {len(m0) for m0, _ in runs.values()} | {len(mk) for _, mk in runs.values()}
    winners = collections.Counter(winner_of(m0[-1]) for m0, _ in runs.values())
    intro = [f"The beta = 0 and beta = {beta} runs have the same data and length ({', '.join(map(str, sorted(steps)))} "
             "steps). Samples in no known format count for no format. The winning format at the last "
             "step of the beta = 0 run, by seed count: " + ", ".join(f"{f} {c}" for f, c in winners.most_common()) + "."]
    claim = headline_claim("C2", "RLVR collapses the format mix onto one format; a KL penalty slows it",
                           judged, judged_control, CONTROLS["C2"][0], intro)
    if other:
        mix, metrics = other
        start, end = metrics[0]["formats"], metrics[-1]["formats"]
        winner = winner_of(metrics[-1])
        claim.lines += ["", f"Another mix (`--format-mix {mix}`, seed {next(iter(runs))}, one run, "
                        f"{len(metrics)} RL steps at beta 0): formats at the first step "
                        + ", ".join(f"{f} {v:.2f}" for f, v in start.items()) + "; at the last step "
                        + ", ".join(f"{f} {v:.2f}" for f, v in end.items())
                        + f". The winner is **{winner}** against {', '.join(sorted(winners))} with the "
                        "preset's mix: " + ("the winner changed with the mix." if winner not in winners
                                            else "the winner did not change with the mix.")]
    return claim


# ---------------------------------------------------------------- C3: distilled CoT out of distribution

C3_TASKS = ("addition", "modular")
C3_AXES = {"fails on longer inputs": "length", "fails on unseen compositions": "composition",
           "fails on perturbed formats": "format"}


def c3_records(eval_dir, split):
    """{task:key(|perturbation): record} of the distilled tasks in one split of an evaluation."""
    return {f"{t}:{k}": r for t in C3_TASKS for k, r in load_predictions(eval_dir, split, t).items()}


def stratum(record):
    p = record.get("perturbation") or {}
    return f"{record['task']}/{p['perturbation']}{p['strength']}" if p else f"{record['task']}/{record['level']}"


def c3_effects(evals):
    """evals {seed: eval dir with every split} -> (the rules' effects, strata by key). A split
    that was not evaluated leaves its rule without problems: it cannot hold."""
    out = {r.name: {} for r in RULES if r.claim == "C3"}
    levels = {}
    for seed, d in evals.items():
        ident = c3_records(d, "id")
        acc = {k: float(np.mean(r["correct"])) for k, r in ident.items()}
        levels.update({k: stratum(r) for k, r in ident.items()})
        id_acc = float(np.mean([np.mean([acc[k] for k in acc if levels[k] == s])
                                for s in {levels[k] for k in acc}])) if acc else 0.0
        id_acc = id_acc or float("nan")  # no in-distribution accuracy: no ratio
        out["near-perfect in distribution"][seed] = acc
        wrong = fluent = 0
        for name, split in C3_AXES.items():
            recs = c3_records(d, split)
            levels.update({k: stratum(r) for k, r in recs.items()})
            out[name][seed] = {k: float(np.mean(r["correct"])) / id_acc for k, r in recs.items()}
            for r in recs.values():
                for ok, formed in zip(r["correct"], r["well_formed"]):
                    wrong += not ok
                    fluent += (not ok) and bool(formed)
        out["fluent when wrong"][seed] = {"all": fluent / wrong if wrong else float("nan")}
    return out, levels


def claim_c3(students, bases, curves=None):
    """students, bases: {seed: eval dir with every split} of the oracle-distilled student and of
    the base it was distilled from (the control); curves: {"student"|"base": shift_curve(...)}."""
    effects, levels = c3_effects(students)
    judged = judge_all("C3", effects, levels)
    c_effects, c_levels = c3_effects(bases)
    judged_control = judge_all("C3", c_effects, c_levels, CONTROLS["C3"][1])
    intro = ["The student: the base fine-tuned on oracle traces (" + ", ".join(C3_TASKS) + ", one format per "
             "task, the trained levels only). Each shifted problem's pass@1 is divided by the seed's "
             "in-distribution pass@1: a ratio of 1 is no loss out of distribution."]
    claim = headline_claim("C3", "Distilled chain-of-thought fails out of distribution while still looking fluent",
                           judged, judged_control, CONTROLS["C3"][0], intro, effect_rule=1)
    if curves:
        student, base = curves["student"], curves["base"]
        claim.lines += ["", "Accuracy and fluent-but-wrong share against the strength of the shift, mean "
                        "over seeds (student / base):", "", "| shift | pass@1 | well-formed but wrong |",
                        "|---|---|---|"]
        claim.lines += [f"| {k} | {student[k][0]:.3f} / {base[k][0]:.3f} | {student[k][1]:.3f} / {base[k][1]:.3f} |"
                        for k in student]
    return claim


def shift_curve(evals, world_top):
    """{shift label: (mean pass@1, mean share of samples well-formed but wrong)} over seeds for
    addition: in distribution, one and two digits longer, and the format perturbations by strength."""
    curve = collections.defaultdict(list)
    for d in evals.values():
        for split in ("id", "length", "format"):
            for r in load_predictions(d, split).values():
                p = r.get("perturbation") or {}
                if split == "id":
                    label = "in distribution"
                elif split == "length":
                    label = f"+{r['level'] - world_top} digit{'s' if r['level'] - world_top > 1 else ''}"
                else:
                    label = f"format strength {p['strength']}"
                wrong_formed = np.mean([(not c) and bool(w) for c, w in zip(r["correct"], r["well_formed"])])
                curve[label].append((float(np.mean(r["correct"])), float(wrong_formed)))
    order = ["in distribution", "+1 digit", "+2 digits", "format strength 1", "format strength 2", "format strength 3"]
    return {k: tuple(np.mean(curve[k], axis=0)) for k in order if k in curve}


# ---------------------------------------------------------------- C4: when distillation adds capability

def claim_c4(arms, top_level):
    """arms: {seed: {"base": eval dir, "new": eval dir, "known": eval dir, "self": eval dir}}.
    New knowledge is judged on the length split (the levels the new arm was taught), the other
    arms on the in-distribution addition problems."""
    held, rows = {}, []
    pooled = {"new": ([], []), "known": ([], []), "self": ([], [])}
    n_of = {}
    for seed, dirs in arms.items():
        ok = True
        # the new arm on the trained lengths: shown (what it forgot), not part of the rule
        for arm, split in (("new", "length"), ("known", "id"), ("self", "id"), ("new", "id")):
            base, post = load_predictions(dirs["base"], split), load_predictions(dirs[arm], split)
            keys = [k for k in base if k in post]
            n = min(len(base[k]["correct"]) for k in keys)
            p = lambda r, k: pass_at_k(n, sum(r["correct"][:n]), k)
            d1 = by_level(keys, base, [p(post[k], 1) - p(base[k], 1) for k in keys])
            dn = by_level(keys, base, [p(post[k], n) - p(base[k], n) for k in keys])
            m1, ci1 = stratified_bootstrap(d1)
            mn, cin = stratified_bootstrap(dn)
            if (arm, split) == ("new", "id"):
                rows.append(f"| {seed} | new | id addition | {len(keys)} | {fmt_ci(m1, ci1)} | "
                            f"pass@{n} {fmt_ci(mn, cin)} | (not in the rule) |")
                continue
            n_of[arm] = n
            pooled[arm][0].extend(d1), pooled[arm][1].extend(dn)
            if arm == "new":
                arm_ok = cin[0] > 0            # capability rises where the new knowledge is needed
            else:
                arm_ok = ci1[0] > 0 and cin[0] <= 0  # accuracy rises, capability does not
            ok = ok and arm_ok
            rows.append(f"| {seed} | {arm} | {split} addition | {len(keys)} | {fmt_ci(m1, ci1)} | "
                        f"pass@{n} {fmt_ci(mn, cin)} | {'yes' if arm_ok else 'no'} |")
        held[seed] = bool(ok)
    summary = []
    for arm in pooled:
        m1, ci1 = stratified_bootstrap(pooled[arm][0])
        mn, cin = stratified_bootstrap(pooled[arm][1])
        summary.append(f"| {arm} | {fmt_ci(m1, ci1)} | pass@{n_of[arm]} {fmt_ci(mn, cin)} |")
    lines = ["Three students, each distilled from the same base for the same number of steps: "
             "*new* (oracle traces for additions one and two digits longer than pretraining), "
             "*known* (oracle traces in one format for the pretrained levels below the hardest, "
             "which the base already solves: patterns without new knowledge) and *self* (the "
             "base's own verified samples, rejection-sampling fine-tuning). Held on a seed when "
             "the new arm's pass@n on the longer additions rises (interval above 0), and the known and self "
             "arms raise in-distribution pass@1 (interval above 0) without raising pass@n "
             "(interval reaches 0 or below). Levels weigh equally. The new arm's change on the "
             "trained lengths is shown too: traces for the longer additions alone make it forget "
             "the shorter ones (C5's student learns both).", "",
             "| arm | change in pass@1, all seeds | change in pass@n |", "|---|---|---|", *summary, "",
             "| seed | arm | problems | count | change in pass@1 | change in capability | as claimed |",
             "|---|---|---|---|---|---|---|", *rows]
    m, ci = stratified_bootstrap(pooled["new"][1])
    return Claim("C4", "Distillation raises capability only when the teacher brings new knowledge; "
                 "patterns-only and self-distillation behave like RLVR", held,
                 f"new-knowledge arm, pass@{n_of['new']} on longer additions {fmt_ci(m, ci)}", lines)


# ---------------------------------------------------------------- C5, C6: curricula

C5_SPLITS = ("id", "length")  # the trained lengths and the two longer ones the teacher brings


def claim_c5(arms, compute, top_level):
    """arms: {seed: {"base", "distill", "RLVR", "distill -> RLVR": eval dirs}}, each evaluated on
    C5_SPLITS with the same samples; compute: {arm: description of its compute}."""
    held, rows, pooled = {}, [], ([], [])
    mean_of = lambda means: float(np.mean(means)) if means else float("nan")
    for seed, dirs in arms.items():
        n = sample_count(*dirs.values(), splits=C5_SPLITS)
        vals = {a: arm_levels(d, n, C5_SPLITS) for a, d in dirs.items()}
        best = max(vals, key=lambda a: vals[a][0][0])
        d1, dn, n = arm_changes(dirs["distill"], dirs["distill -> RLVR"], n, C5_SPLITS)
        pooled[0].extend(d1), pooled[1].extend(dn)
        m, ci = stratified_bootstrap(dn)
        held[seed] = bool(best == "distill -> RLVR" and ci[1] >= 0)
        for a, ((p1, ci1), (pn, cin), n, per_level) in vals.items():
            short = mean_of([v for level, v in per_level.items() if level <= top_level])
            long_ = mean_of([v for level, v in per_level.items() if level > top_level])
            rows.append(f"| {seed} | {a} | {p1:.3f} [{ci1[0]:.3f}, {ci1[1]:.3f}] | "
                        f"{pn:.3f} [{cin[0]:.3f}, {cin[1]:.3f}] | {short:.3f} | {long_:.3f} | "
                        f"{compute.get(a, '-')} |")
        rows.append(f"| {seed} | distill -> RLVR minus distill, pass@{n} | | {fmt_ci(m, ci)} | | | |")
    lines = [f"The four arms on addition of 1 to {top_level + 2} digits (levels weighted equally): "
             f"the trained lengths, and the two longer ones ({top_level + 1}-{top_level + 2} "
             "digits) that only the teacher knows. The distilled student learns oracle traces "
             f"for 1-{top_level + 2} digits (and modular arithmetic, so that it forgets nothing); "
             f"both RL arms train on 1-{top_level + 2} digits, where RL alone never sees a reward "
             "on the longer problems and RL after distillation does. Compute is counted in "
             "optimizer steps and sampled completions. Held on a seed when distill -> RLVR has the "
             "highest pass@1 of the four and its pass@n is not below distillation's (the interval "
             "of the difference reaches 0 or above).", "",
             f"| seed | arm | pass@1 | pass@n | pass@1, 1-{top_level} digits | pass@1, "
             f"{top_level + 1}-{top_level + 2} digits | compute |", "|---|---|---|---|---|---|---|", *rows]
    (m1, ci1), (mn, cin) = stratified_bootstrap(pooled[0]), stratified_bootstrap(pooled[1])
    return Claim("C5", "Distillation then RLVR beats either alone", held,
                 f"distill -> RLVR minus distill: pass@1 {fmt_ci(m1, ci1)}, pass@{n} {fmt_ci(mn, cin)}", lines)


def claim_c6(arms, steps):
    """arms: {seed: {selection: (base eval dir, arm eval dir, RL metrics)}}; steps: RL steps."""
    held, rows, edge_minus_uniform = {}, [], []
    for seed, sel in arms.items():
        gains = {}
        n = sample_count(*(d for _, d, _ in sel.values()))
        for name, (base_dir, arm_dir, metrics) in sel.items():
            d1, dn, n = arm_changes(base_dir, arm_dir, n)
            g1, ci1 = stratified_bootstrap(d1)
            gn, cin = stratified_bootstrap(dn)
            zero = float(np.mean([m["zero_variance_groups"] for m in metrics]))
            gains[name] = (g1 / steps, zero, g1)
            rows.append(f"| {seed} | {name} | {zero:.2f} | {np.mean([m['reward'] for m in metrics]):.2f} | "
                        f"{fmt_ci(g1, ci1)} | pass@{n} {fmt_ci(gn, cin)} | {g1 / steps * 1000:+.2f} |")
        hard_ok = gains["hard"][1] >= 0.9 and gains["hard"][2] <= 0.5 * max(gains["uniform"][2], 0)
        edge_ok = max(gains, key=lambda k: gains[k][0]) == "edge"
        held[seed] = bool(hard_ok and edge_ok)
        edge_minus_uniform.append(gains["edge"][2] - gains["uniform"][2])
    lines = ["RLVR from the same base on four kinds of data, the same number of steps each: "
             "uniform (every trained level), easy (1-2 digits), hard (7-8 digits, never trained) "
             "and edge (problems the model solves sometimes, estimated from its own group "
             "samples). Held on a seed when the hard arm has at least 90% zero-variance groups and "
             "at most half the uniform arm's pass@1 gain, and the edge arm has the largest gain "
             "per step.", "",
             "| seed | data | zero-variance groups | reward | change in pass@1 | change in pass@n | "
             "pass@1 gain per 1000 steps |", "|---|---|---|---|---|---|---|", *rows]
    return Claim("C6", "RLVR on too-hard data learns nothing; edge-of-competence data helps most",
                 held, "edge minus uniform, pass@1 gain by seed: "
                 + ", ".join(f"{v:+.3f}" for v in edge_minus_uniform), lines)


# ---------------------------------------------------------------- C7: chain length and sparsity

def update_share(before, after):
    """Share of parameter entries changed from checkpoint `before` to `after`: by more than 1e-5
    in fp32, and at all once both are rounded to bf16."""
    import torch
    load = lambda path: torch.load(path, map_location="cpu", weights_only=True)["model"]
    share = update_sparsity(load(before), load(after), thresholds=(1e-5,))
    return {"fp32": share["1e-05"], "bf16": share["bf16"]}


def claim_c7(runs, window=10):
    """runs: {seed: (RL metrics, base checkpoint, RL checkpoint, SFT checkpoint of the same
    number of steps)}."""
    held, table = {}, ["| seed | length, first steps -> last steps | change | same, within the winning format | "
                       "params changed, RL (fp32 > 1e-5 / bf16) | same, SFT | held |", "|---|---|---|---|---|---|---|"]
    changes = []
    for seed, (metrics, base_ckpt, rl_ckpt, sft_ckpt) in runs.items():
        first = np.mean([m["length"] for m in metrics[:window]])
        last = np.mean([m["length"] for m in metrics[-window:]])
        winner = max(metrics[-1]["formats"].items(), key=lambda kv: kv[1])[0]
        within = lambda ms: np.mean([m["length_by_format"][winner] for m in ms
                                     if winner in m.get("length_by_format", {})] or [float("nan")])
        rl_share, sft_share = update_share(base_ckpt, rl_ckpt), update_share(base_ckpt, sft_ckpt)
        shorter = last < first
        sparser = rl_share["bf16"] < sft_share["bf16"]
        held[seed] = bool(shorter and sparser)
        changes.append([last - first])
        table.append(f"| {seed} | {first:.1f} -> {last:.1f} | {last - first:+.1f} | {winner}: "
                     f"{within(metrics[:window]):.1f} -> {within(metrics[-window:]):.1f} | "
                     f"{rl_share['fp32']:.3f} / {rl_share['bf16']:.3f} | {sft_share['fp32']:.3f} / "
                     f"{sft_share['bf16']:.3f} | {'yes' if held[seed] else 'no'} |")
    c, ci = paired_bootstrap(changes)
    lines = [f"Mean completion length (tokens) over the first and the last {window} RL steps (all "
             "samples, and the samples of the format that won), and the share of parameter entries "
             "the update changed: by more than 1e-5 in fp32, and at all once rounded to bf16. The "
             "SFT run is the self-distillation student (the base's own verified samples), trained "
             "for as many steps as RL. Held on a seed when chains got shorter and the RL update "
             "changed fewer bf16 entries than SFT.", ""] + table
    return Claim("C7", "RL shortens chains; the RL update is sparse relative to SFT's", held,
                 f"length change {c:+.1f} tokens (seeds {min(x[0] for x in changes):+.1f} to "
                 f"{max(x[0] for x in changes):+.1f})", lines)


# ---------------------------------------------------------------- C8: right answers, wrong steps

# the tasks where a chain with a wrong step can still end on the right answer, in order of
# preference; C8 is asked on the first one the world has
C8_TASKS = {
    "compare": "the compare task (which of two sums is larger, `a` or `b`), whose chain writes both "
               "additions and their totals: a wrong digit in one sum usually leaves the comparison "
               "right",
    "chain": "the multi-hop `chain` task, where the answer is one of the few letters in the prompt, "
             "so a wrong chain can still end on the right one",
}


def c8_task(task_weights):
    """The task C8 is asked on in a world with these tasks, or None."""
    return next((t for t in C8_TASKS if t in task_weights), None)


def chain_quality(eval_dir, task="addition"):
    """In-distribution samples of a task written as chains (not `direct`): accuracy, the share of
    correct answers whose chain has a wrong or missing step ("hollow"), and step correctness."""
    correct, hollow, step_ok, n, samples, right_answers = 0, 0, [], 0, 0, 0
    for r in load_predictions(eval_dir, task=task).values():
        for ok, fmt, req, right, written in zip(r["correct"], r["format"], r["steps_required"],
                                                r["steps_correct"], r["steps_written"]):
            samples += 1
            right_answers += ok
            if not req:
                continue
            n += 1
            perfect = all_steps_right(req, right, written)
            step_ok.append(right / req)
            correct += ok
            hollow += ok and not perfect
    return {"accuracy": correct / max(n, 1), "hollow": hollow / max(correct, 1),
            "step_correctness": float(np.mean(step_ok)) if step_ok else float("nan"), "chains": n,
            "chain_share": n / max(samples, 1), "all_accuracy": right_answers / max(samples, 1)}


def claim_c8(arms, addition_arms=None, task="chain"):
    """arms: {seed: {"base", "RLVR", "distill": eval dirs}}, the RLVR and distill arms trained on
    `task` (one of C8_TASKS); addition_arms: the same for the study's addition arms (shown, not
    judged)."""
    held, rows = {}, []
    quality_rows = lambda seed, q: [f"| {seed} | {arm} | {v['chain_share']:.2f} | {v['all_accuracy']:.3f} | {v['chains']} | "
                                    f"{v['accuracy']:.3f} | {v['hollow']:.4f} | {v['step_correctness']:.3f} |"
                                    for arm, v in q.items()]
    table = ["| seed | arm | share of samples written as chains | accuracy, all samples | chains | "
             "accuracy of chains | hollow share of correct chains | step correctness |",
             "|---|---|---|---|---|---|---|---|"]
    for seed, dirs in arms.items():
        q = {arm: chain_quality(d, task) for arm, d in dirs.items()}
        b, rl, d = q["base"], q["RLVR"], q["distill"]
        # distillation buys accuracy with hollow chains; RLVR tightens step coherence
        held[seed] = bool(d["accuracy"] > b["accuracy"] and d["hollow"] > b["hollow"]
                          and rl["step_correctness"] > b["step_correctness"])
        rows += quality_rows(seed, q)
    lines = [f"Measured on {C8_TASKS[task]} (in addition a wrong "
             "step almost always makes a wrong answer: see the second table). *Hollow*: a correct "
             "final answer whose chain has a wrong, missing or extra step. Arms: the base; RLVR on "
             f"the {task} task; distillation of the base's own samples on that task, kept when "
             "the answer is right (the verifier checks answers, not steps, so hollow chains are "
             "kept). Held on a seed when the distilled model is more accurate than the base with "
             "a larger hollow share, and RLVR has a higher step correctness than the base (an arm "
             "that stopped writing chains has none: nan).", "",
             *table, *rows]
    if addition_arms:
        extra = []
        for seed, dirs in addition_arms.items():
            extra += quality_rows(seed, {arm: chain_quality(d) for arm, d in dirs.items()})
        lines += ["", "In-distribution addition, the study's arms (RLVR: the main run; distill: the "
                  "oracle-taught student of C3), shown and not judged:", "", *table, *extra]
    first = next(iter(arms))
    q = {arm: chain_quality(d, task) for arm, d in arms[first].items()}
    return Claim("C8", "Distillation can raise accuracy while step quality falls; RLVR tightens "
                 "step coherence", held,
                 f"{task} task, hollow share of correct answers, seed {first}: "
                 + ", ".join(f"{a} {v['hollow']:.3f}" for a, v in q.items()), lines)


# ---------------------------------------------------------------- C9: eliciting what the base can do

def what_it_writes(eval_dir):
    """In-distribution addition, every sample: the share that is well formed, step correctness of
    the chains, the most common final answer and its share, and one fixed problem's first sample
    (the first 3-digit problem, or the first problem, in key order) as (prompt, completion)."""
    recs = load_predictions(eval_dir)
    if not recs:
        return None
    answers = collections.Counter(found[-1] for r in recs.values() for c in r["completions"]
                                  if (found := ANSWER_LINE.findall(c)))
    flags = [f for r in recs.values() for f in r["well_formed"]]
    keys = sorted(recs)
    shown = next((k for k in keys if recs[k]["level"] == 3), keys[0])
    common, count = answers.most_common(1)[0] if answers else ("-", 0)
    return {"well_formed": float(np.mean(flags)), "step_correctness": chain_quality(eval_dir)["step_correctness"],
            "common": common, "common_share": count / max(len(flags), 1),
            "example": (recs[shown]["prompt"], recs[shown]["completions"][0])}


def one_line(text):
    return "`" + text.strip().replace("\n", " / ").replace("`", "'") + "`"


def claim_c9(arms):
    """arms: {seed: {"base": dir, "full": dir, "one problem": dir, "random reward": dir,
    "format reward": dir}}."""
    held, rows = {}, []
    pooled = {"full": [], "one problem": [], "random reward": [], "format reward": []}
    for seed, dirs in arms.items():
        n = sample_count(*dirs.values())
        full, _, _ = arm_changes(dirs["base"], dirs["full"], n)
        pooled["full"].extend(full)
        full_gain = stratified_bootstrap(full)[0]
        recovered = {}
        for name in ("one problem", "random reward", "format reward"):
            d1, dn, n = arm_changes(dirs["base"], dirs[name], n)
            pooled[name].extend(d1)
            g1, ci1 = stratified_bootstrap(d1)
            gn, cin = stratified_bootstrap(dn)
            recovered[name] = g1 / full_gain if full_gain > 0 else float("nan")
            rows.append(f"| {seed} | {name} | {fmt_ci(g1, ci1)} | {recovered[name]:.0%} of {full_gain:+.3f} | "
                        f"pass@{n} {fmt_ci(gn, cin)} |")
        held[seed] = bool(max(recovered["one problem"], recovered["random reward"]) >= 0.5)
    lines = ["RLVR on a single training problem, and with rewards unrelated to correctness (a coin "
             "flip; well-formedness only), against full RLVR, the same steps each. Held on a seed "
             "when the one-problem or the random-reward run recovers at least half of full RLVR's "
             "pass@1 gain.", "",
             "| seed | run | change in pass@1 | share of full RLVR's gain | change in pass@n |",
             "|---|---|---|---|---|", *rows, "",
             "What each run writes (in-distribution addition, every sample): the share of "
             "well-formed completions, the share of correct steps in the chains, and the most "
             "common final answer over all problems with its share of the samples (a run that "
             "answers the same number everywhere has collapsed).", "",
             "| seed | run | well formed | step correctness | most common answer |", "|---|---|---|---|---|"]
    first, examples, shown = next(iter(arms)), [], None
    for seed, dirs in arms.items():
        for name, d in dirs.items():
            w = what_it_writes(d)
            if w is None:
                continue
            steps = "no chains" if np.isnan(w["step_correctness"]) else f"{w['step_correctness']:.3f}"
            lines.append(f"| {seed} | {name} | {w['well_formed']:.3f} | {steps} | "
                         f"{w['common']} ({w['common_share']:.1%}) |")
            if seed == first:
                examples.append(f"- {name}: {one_line(w['example'][1])}")
                shown = shown or w["example"][0]  # the base's problem: every arm shows the same one
    if shown is not None:
        lines += ["", f"One problem, {one_line(shown)}, and the first sample each run of seed "
                  f"{first} wrote for it:", "", *examples]
    effect = "pass@1 change, pooled: " + ", ".join(f"{name} {fmt_ci(*stratified_bootstrap(v))}"
                                                   for name, v in pooled.items())
    return Claim("C9", "RLVR mostly elicits: one problem or a spurious reward recovers much of the gain",
                 held, effect, lines)
