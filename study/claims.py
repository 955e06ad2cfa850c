"""The claims of the study, measured from what the stages wrote (predictions, per-step logs).

Each `claim_*` function reads the runs of every seed and returns a `Claim` (study/judge.py): its
verdict by the pre-registered rules of study/rules.py, its effect sizes with 95% intervals, on
how many seeds it held, and the lines of its report section. C4-C9, the extended study, have no
negative control yet, and each section names what its rules cannot tell.
"""
import collections
import math

import numpy as np

from data.core import ANSWER_LINE, all_steps_right
from metrics import bin_labels, ks_for, pass_at_k, transition_matrix, update_sparsity
from study.judge import fmt_est, judge, judge_all, judged_claim
from study.rules import C1_K, CONTROLS, OVERLAP, RULES, TAIL_STEPS
from study.stats import (arm_changes, level_balanced_pass, fmt_ci, hierarchical_bootstrap, load_predictions, power,
                         sample_count, stratified_bootstrap)


# ---------------------------------------------------------------- C1: capability narrowing

def c1_k(n):
    """C1's large k for n samples per hardest-level problem: 64, or n // 4 when n < 256."""
    return max(1, min(C1_K, n // 4))


def hardest_samples(pairs, top_level):
    """The fewest samples any hardest-level problem has, in any evaluation of `pairs`."""
    return min(len(r["correct"]) for ds in pairs.values() for d in ds
               for r in load_predictions(d).values() if r["level"] == top_level)


def c1_effects(pairs, top_level, k=None):
    """pairs {seed: (base eval dir, arm eval dir)} -> (the two rules' effects, levels by key, k):
    pass@1 on every level, pass@k at C1's large k on the hardest level (k: as given, else from
    the pairs' own samples)."""
    k = k or c1_k(hardest_samples(pairs, top_level))
    pass1, levels, _ = pass_changes(pairs, 1)
    pass_k, _, _ = pass_changes(pairs, k)
    return {"pass@1 rises where RL trains": pass1,
            "large-k pass@k falls on the hardest level": at_level(pass_k, levels, top_level)}, levels, k


def addition_pass1(metrics, top_level):
    """Mean pass@1 over in-distribution addition levels 1..top (levels weighted equally), from an
    evaluation's metrics.json."""
    groups = metrics["groups"]
    return float(np.mean([groups[f"id/addition/{lvl}"]["pass_at_k"]["1"] for lvl in range(1, top_level + 1)
                          if f"id/addition/{lvl}" in groups]))


def crossover_k(base, arm, level):
    """The smallest k (1, 2, 4, ... n) at which the arm's mean pass@k on one level falls below
    the base's (Yue et al.'s crossing), or None if it never does. base, arm: {key: record}."""
    keys = [k for k in base if k in arm and base[k]["level"] == level]
    if not keys:
        return None
    n = min(min(len(base[k]["correct"]), len(arm[k]["correct"])) for k in keys)
    curve = lambda recs, k: np.mean([pass_at_k(n, sum(recs[key]["correct"][:n]), k) for key in keys])
    return next((k for k in ks_for(n) if curve(arm, k) < curve(base, k) - 1e-12), None)


def dose_response(steps, top_level, k):
    """steps {seed: {RL step: eval dir}} (step 0: the base) -> rows per step: (step, pooled pass@1
    change, pooled large-k pass@k change on the hardest level, seeds with the pass@k change below
    0, crossover k per seed)."""
    rows = []
    for step in sorted(set.intersection(*(set(d) for d in steps.values()))):
        if step == 0:
            continue
        pairs = {s: (d[0], d[step]) for s, d in steps.items()}
        effects, levels, _ = c1_effects(pairs, top_level, k)
        one = hierarchical_bootstrap(effects["pass@1 rises where RL trains"], levels)
        hard = effects["large-k pass@k falls on the hardest level"]
        falls = sum(float(np.mean(list(e.values()))) < 0 for e in hard.values())
        cross = {s: crossover_k(load_predictions(b), load_predictions(a), top_level) for s, (b, a) in pairs.items()}
        rows.append((step, one, hierarchical_bootstrap(hard), falls, cross))
    return rows


def power_lines(judged, problems, k):
    """What a confirmation run on new seeds would need, if the effect these seeds measured is real
    (study.stats.power: a normal model of seed-to-seed and problem noise fitted to them)."""
    rows = []
    for seeds in (10, 15, 20):
        for planned in (problems, 2 * problems):
            holds, excluded, mu, tau, se = power(judged.per_seed, seeds, (problems, planned),
                                                 excluding=math.ceil(0.7 * seeds))
            rows.append(f"| {seeds} | {planned} | {holds:.2f} | {excluded:.2f} |")
    _, _, mu, tau, se = power(judged.per_seed)
    return ["", f"Power, from these seeds (per seed: mean {mu:+.3f}, seed-to-seed spread {tau:.3f}, problem "
            f"noise {se:.3f} with {problems} problems): the chance that a run on new seeds confirms the pass@{k} "
            "rule, and that at least 7 in 10 of its seeds have their own interval below 0, if this effect "
            "is real:", "", "| new seeds | hardest-level problems | P(rule holds) | P(>= 70% of seeds' "
            "intervals below 0) |", "|---|---|---|---|", *rows]


def reference_lines(label, pairs, top_level, k):
    """One line of a reference arm (not judged): its pooled changes in C1's two metrics."""
    effects, levels, _ = c1_effects(pairs, top_level, k)
    one = hierarchical_bootstrap(effects["pass@1 rises where RL trains"], levels)
    hard = hierarchical_bootstrap(effects["large-k pass@k falls on the hardest level"])
    return f"| {label} | {fmt_ci(*one)} | {fmt_ci(*hard)} |"


def claim_c1(pairs, top_level, control, steps=None, damage=None, sharpened=None):
    """pairs: {seed: (base eval dir, eval dir of RL's last step)}; control: {seed: (base eval dir,
    eval dir of the oracle-distilled student)}, the arm that must not narrow; steps: {seed: {RL
    step: eval dir}} for the dose-response; damage: the coin-flip RL run's pairs; sharpened:
    (temperature by seed, pairs of the base at that temperature). The last three are references,
    not judged."""
    effects, levels, k = c1_effects(pairs, top_level)
    judged = judge_all("C1", effects, levels)
    c_effects, c_levels, _ = c1_effects(control, top_level, k)
    judged_control = judge_all("C1", c_effects, c_levels, CONTROLS["C1"][1])
    n = hardest_samples(pairs, top_level)
    intro = [f"RL trains on additions of 1-{top_level} digits, levels drawn as in pretraining (the "
             f"{top_level}-digit level stays rare), and is evaluated on every level; the {top_level}-digit "
             f"problems get {n} samples each, so that pass@{k} is read without bias from n = {n} > k. "
             f"Narrowing is the pass@k curves crossing where RL trains: pass@1 rises, and pass@{k} falls "
             f"on the {top_level}-digit level, the only one the base does not solve at large k (on the "
             "easier levels the base solves nearly every problem, so pass@k has no room to fall there). "
             "A model RL merely damaged fails the first rule."]
    claim = judged_claim("C1", "RLVR raises pass@1 where it trains and lowers pass@k at large k on the "
                           "hardest problems it trains on (capability narrowing)", judged, judged_control,
                           CONTROLS["C1"][0], intro)
    hard = judged[1]
    excluding = sum(ci[1] < 0 for _, ci in hard.per_seed.values())
    claim.lines += ["", f"Seeds whose own 95% interval of the pass@{k} change lies wholly below 0 (problems "
                    f"resampled, {len(next(iter(effects[hard.rule.name].values())))} per seed): **{excluding} "
                    f"of {len(hard.per_seed)}**."]
    if len(hard.per_seed) >= 3:
        claim.lines += power_lines(hard, len(next(iter(effects[hard.rule.name].values()))), k)
    if steps:
        rows = dose_response(steps, top_level, k)
        claim.dose = rows
        claim.lines += ["", "**Dose-response**: the same RL run read at several steps (each step's "
                        "checkpoint evaluated on the same problems and samples), change from the base:", "",
                        f"| RL step | pass@1, every level | pass@{k}, {top_level} digits | seeds with pass@{k} down | "
                        "crossover k (median over seeds; none: never below the base) |", "|---|---|---|---|---|"]
        for step, one, hardk, falls, cross in rows:
            ks = [c for c in cross.values() if c is not None]
            med = f"{int(np.median(ks))} ({len(ks)} of {len(cross)} seeds cross)" if ks else "none"
            claim.lines.append(f"| {step} | {fmt_ci(*one)} | {fmt_ci(*hardk)} | {falls} of {len(cross)} | {med} |")
    refs = [("RLVR (judged above)", pairs), ("distillation, every level (the control)", control)]
    if sharpened:
        temps, sharp_pairs = sharpened
        refs.append((f"pure sharpening: the base at temperature {', '.join(f'{t:g}' for t in sorted(set(temps.values())))} "
                     "(matched to RL's pass@1 per seed)", sharp_pairs))
    if damage:
        refs.append(("coin-flip reward (damage reference)", damage))
    claim.lines += ["", "Arms beside RLVR on the same problems and samples (pooled change from the base, "
                    "95% interval; only RLVR and the control are judged):", "",
                    f"| arm | pass@1, every level | pass@{k}, {top_level} digits |", "|---|---|---|"]
    claim.lines += [reference_lines(label, arm_pairs, top_level, k) for label, arm_pairs in refs]
    if sharpened:
        diff = {s: {key: v - sharp_hard[s].get(key, v) for key, v in e.items()}
                for sharp_hard in [c1_effects(sharpened[1], top_level, k)[0]["large-k pass@k falls on the hardest level"]]
                for s, e in effects["large-k pass@k falls on the hardest level"].items() if s in sharp_hard}
        est, ci = hierarchical_bootstrap(diff)
        below = sum(float(np.mean(list(e.values()))) < 0 for e in diff.values())
        claim.lines += ["", f"Does RL narrow more than sharpening alone? RL's pass@{k} change minus "
                        f"sharpening's, per problem: {fmt_ci(est, ci)} (below 0 on {below} of {len(diff)} seeds)."]
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
        n = max(len(r["correct"]) for r in base.values())
    labels = bin_labels(n)
    lost = int(sum(transitions[i, :i].sum() for i in range(1, len(labels))))
    gained = int(sum(transitions[i, i + 1:].sum() for i in range(len(labels))))
    lines = [f"Rows: base bin, columns: RL bin (correct samples out of {n}, Kim et al.'s bins scaled to "
             f"each problem's own samples); {lost} problems moved to a "
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
    claim = judged_claim("C2", "RLVR collapses the format mix onto one format; a KL penalty slows it",
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
    claim = judged_claim("C3", "Distilled chain-of-thought fails out of distribution while still looking fluent",
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


# ---------------------------------------------------------------- C4-C9: what their rules read

C5_SPLITS = ("id", "length")  # the trained lengths and the two longer ones the teacher brings

def update_share(before, after):
    """Share of parameter entries changed from checkpoint `before` to `after`: by more than 1e-5
    in fp32, and at all once both are rounded to bf16."""
    import torch
    load = lambda path: torch.load(path, map_location="cpu", weights_only=True)["model"]
    share = update_sparsity(load(before), load(after), thresholds=(1e-5,))
    return {"fp32": share["1e-05"], "bf16": share["bf16"]}


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


# ---------------------------------------------------------------- C4-C9: the extended study

def pass_changes(pairs, k, splits=("id",), task="addition"):
    """pairs {seed: (eval dir before, eval dir after)} -> ({seed: {problem: pass@k after - before}},
    {problem: level}, n). k is "n" (as many samples as every problem of both evaluations has, per
    seed: one n for all) or a number (pass@k from all the samples each problem has in both, the
    unbiased estimator, so the hardest level's extra samples count); n: the smallest such count."""
    effects, levels, ns = {}, {}, []
    for seed, (before_dir, after_dir) in pairs.items():
        load = lambda d: {key: r for s in splits for key, r in load_predictions(d, s, task).items()}
        before, after = load(before_dir), load(after_dir)
        keys = [key for key in before if key in after]
        own = {key: min(len(before[key]["correct"]), len(after[key]["correct"])) for key in keys}
        n = min(own.values(), default=0)
        m = (lambda key: n) if k == "n" else own.get
        at = n if k == "n" else k
        p = lambda r, key: pass_at_k(m(key), sum(r["correct"][:m(key)]), at)
        effects[seed] = {key: p(after[key], key) - p(before[key], key) for key in keys}
        levels.update({key: before[key]["level"] for key in keys})
        ns.append(n)
    return effects, levels, min(ns, default=0)


def at_level(effects, levels, level):
    """{seed: {key: value}} -> the same, keeping only the keys (problems) of one level."""
    return {s: {k: v for k, v in e.items() if levels[k] == level} for s, e in effects.items()}


def per_seed(values):
    """{seed: value} -> effects of a rule measured once per seed."""
    return {s: {"seed": v} for s, v in values.items()}


def extended_claim(name, statement, effects, levels, intro, effect_rule=0):
    """A claim of C4-C9 judged by its rules in RULES; effects {rule name: {seed: {key: value}}}."""
    judged = [judge(r, effects[r.name], levels) for r in RULES if r.claim == name]
    return judged_claim(name, statement, judged, [], "none (the extended study has no negative controls yet)",
                          intro, effect_rule)


def claim_c4(arms, top_level):
    """arms: {seed: {"base", "new", "patterns": eval dirs}}, each evaluated on the trained lengths
    and the two longer ones (the length split). new: the student taught every level, the two
    longer ones included (new knowledge, no forgetting); patterns: the student taught one format on
    the levels below the hardest (no new knowledge), the same tasks and steps."""
    pairs = lambda a, b: {s: (d[a], d[b]) for s, d in arms.items()}
    capability, levels, n = pass_changes(pairs("patterns", "new"), "n", ("length",))
    accuracy, lv, _ = pass_changes(pairs("base", "patterns"), 1)
    levels.update(lv)
    k = c1_k(hardest_samples({s: tuple(d.values()) for s, d in arms.items()}, top_level))
    narrowing, lv, _ = pass_changes(pairs("base", "patterns"), k)
    control, _, _ = pass_changes(pairs("base", "new"), k)
    effects = {"new knowledge raises capability": capability,
               "patterns-only distillation raises pass@1": accuracy,
               "patterns-only distillation lowers pass@k on the hardest level": at_level(narrowing, lv, top_level)}
    judged = judge_all("C4", effects, levels)
    label, names = CONTROLS["C4"]
    controls = judge_all("C4", {names[0]: at_level(control, lv, top_level)}, levels, names)
    absolute = lambda arm, split, k: hierarchical_bootstrap(
        {s: {key: pass_at_k(len(r["correct"]), sum(r["correct"]), min(k, len(r["correct"])))
             for key, r in load_predictions(d[arm], split, "addition").items()} for s, d in arms.items()}, levels)
    forgot, _, _ = pass_changes(pairs("base", "new"), 1)
    intro = ["Kim et al.'s test. Two students distilled from the same base with the same steps, tasks "
             "and number of problems: *new* (the oracle's traces on every level, the two longer than "
             f"pretraining included: {top_level + 1} and {top_level + 2} digits; new knowledge without "
             "forgetting) and *patterns-only* (the oracle's traces in one format on the pretrained levels "
             "below the hardest, which the base already solves). Capability is scored on held-out "
             f"problems of the longer lengths (pass@{n}): the base's there is "
             f"{fmt_est(*absolute('base', 'length', n))}, the patterns-only arm's "
             f"{fmt_est(*absolute('patterns', 'length', n))}, the new arm's {fmt_est(*absolute('new', 'length', n))}. "
             f"Kim's second finding, that patterns-only distillation lowers pass@k on the hardest level the "
             f"base had, as RLVR does (C1), is judged at k = {k} on the hardest pretrained level; the new arm, taught "
             "that level too, is the control. The new arm's change in pass@1 on the pretrained lengths "
             f"(not a rule): {fmt_est(*hierarchical_bootstrap(forgot, levels))}. What the rules cannot tell: "
             "the new arm sees more levels than the patterns-only arm in the same steps, so each level "
             "gets fewer of its steps."]
    return judged_claim("C4", "Distillation raises capability only when the teacher brings new knowledge; "
                        "patterns-only distillation raises pass@1 and narrows as RLVR does", judged, controls,
                        label, intro)


def claim_c5(arms, compute, top_level):
    """arms: {seed: {"base", "distill", "RLVR", "distill -> RLVR": eval dirs}}, each evaluated on
    C5_SPLITS; compute: {arm: description of its compute}."""
    pairs = lambda a, b: {s: (d[a], d[b]) for s, d in arms.items()}
    effects, levels = {}, {}
    for rule, before in (("distill -> RLVR beats distillation alone", "distill"),
                         ("distill -> RLVR beats RLVR alone", "RLVR")):
        effects[rule], lv, n = pass_changes(pairs(before, "distill -> RLVR"), 1, C5_SPLITS)
        levels.update(lv)
    rows = []
    for seed, dirs in arms.items():
        n = sample_count(*dirs.values(), splits=C5_SPLITS)
        for a, d in dirs.items():
            (p1, ci1), (pn, cin), n, per_level = level_balanced_pass(d, n, C5_SPLITS)
            short = np.mean([v for level, v in per_level.items() if level <= top_level] or [np.nan])
            long_ = np.mean([v for level, v in per_level.items() if level > top_level] or [np.nan])
            rows.append(f"| {seed} | {a} | {fmt_est(p1, ci1)} | {fmt_est(pn, cin)} | {short:.3f} | "
                        f"{long_:.3f} | {compute.get(a, '-')} |")
    intro = [f"Four arms on addition of 1 to {top_level + 2} digits (levels weighted equally): the trained "
             f"lengths and the two longer ones ({top_level + 1}-{top_level + 2} digits) that only the teacher "
             f"knows. The distilled student learns oracle traces for 1-{top_level + 2} digits (and modular "
             f"arithmetic, so that it forgets nothing); both RL arms train on 1-{top_level + 2} digits, where "
             "RL alone never sees a reward on the longer problems and RL after distillation does. The "
             "distill arm has as many optimizer steps as distill -> RLVR in all (its student's steps, then "
             "RL's), so that beating it is not training longer. What the rules cannot tell: RLVR alone "
             "has only RL's steps (last column), so beating it may be more compute, not the order of the "
             "stages."]
    claim = extended_claim("C5", "Distillation then RLVR beats either alone", effects, levels, intro)
    claim.lines += ["", "Each arm, seed by seed:", "",
                    f"| seed | arm | pass@1 | pass@n | pass@1, 1-{top_level} digits | pass@1, "
                    f"{top_level + 1}-{top_level + 2} digits | compute |", "|---|---|---|---|---|---|---|", *rows]
    return claim


def claim_c6(arms, steps):
    """arms: {seed: {selection: (base eval dir, arm eval dir, RL metrics)}}; steps: RL steps."""
    pairs = lambda a, b: {s: (sel[a][1], sel[b][1]) for s, sel in arms.items()}
    effects, levels = {}, {}
    for rule, before in (("edge-of-competence data beats uniform data", "uniform"),
                         ("edge-of-competence data beats easy data", "easy")):
        effects[rule], lv, _ = pass_changes(pairs(before, "edge"), 1)
        levels.update(lv)
    effects["too-hard data gives no learning signal"] = per_seed(
        {s: float(np.mean([m["zero_variance_groups"] for m in sel["hard"][2]])) for s, sel in arms.items()})
    rows = []
    for seed, sel in arms.items():
        for name, (base_dir, arm_dir, metrics) in sel.items():
            d1, dn, n = arm_changes(base_dir, arm_dir)
            rows.append(f"| {seed} | {name} | {np.mean([m['zero_variance_groups'] for m in metrics]):.2f} | "
                        f"{np.mean([m['reward'] for m in metrics]):.2f} | {fmt_ci(*stratified_bootstrap(d1))} | "
                        f"pass@{n} {fmt_ci(*stratified_bootstrap(dn))} |")
    intro = [f"RLVR from the same base on four kinds of data, {steps} steps each: uniform (every trained "
             "level), easy (1-2 digits), hard (two levels above the trained ones) and edge (problems the "
             "model solves sometimes, estimated from its own group samples). What the rules cannot tell: "
             "with no KL penalty a step whose groups all got the same reward makes no update, so the hard "
             "arm stays the base wherever its third rule holds; that rule checks the mechanism, not a "
             "finding."]
    claim = extended_claim("C6", "RLVR on too-hard data learns nothing; edge-of-competence data helps most",
                           effects, levels, intro)
    claim.lines += ["", "Each arm against the base, seed by seed:", "",
                    "| seed | data | zero-variance groups | reward | change in pass@1 | change in pass@n |",
                    "|---|---|---|---|---|---|", *rows]
    return claim


def claim_c7(runs, window=10):
    """runs: {seed: (RL metrics, base checkpoint, RL checkpoint, SFT checkpoint of the same
    number of steps)}."""
    lengths, sparsity, table = {}, {}, []
    for seed, (metrics, base_ckpt, rl_ckpt, sft_ckpt) in runs.items():
        first = float(np.mean([m["length"] for m in metrics[:window]]))
        last = float(np.mean([m["length"] for m in metrics[-window:]]))
        winner = max(metrics[-1]["formats"].items(), key=lambda kv: kv[1])[0]
        within = lambda ms: np.mean([m["length_by_format"][winner] for m in ms
                                     if winner in m.get("length_by_format", {})] or [float("nan")])
        rl_share, sft_share = update_share(base_ckpt, rl_ckpt), update_share(base_ckpt, sft_ckpt)
        lengths[seed], sparsity[seed] = last - first, rl_share["bf16"] - sft_share["bf16"]
        table.append(f"| {seed} | {first:.1f} -> {last:.1f} | {winner}: {within(metrics[:window]):.1f} -> "
                     f"{within(metrics[-window:]):.1f} | {rl_share['fp32']:.3f} / {rl_share['bf16']:.3f} | "
                     f"{sft_share['fp32']:.3f} / {sft_share['bf16']:.3f} |")
    intro = [f"Mean completion length (tokens) over the first and the last {window} RL steps, and the share "
             "of parameter entries an update changed (by more than 1e-5 in fp32 / at all once rounded to "
             "bf16). The SFT run fine-tunes the base on its own verified samples with RL's optimizer "
             "steps, learning rate and constant schedule, so that the shares compare the two algorithms, "
             "not learning rate x steps. What the rules cannot tell: the two still see different data "
             "(RL its own fresh samples, SFT a fixed set)."]
    claim = extended_claim("C7", "RL shortens chains; the RL update is sparse relative to SFT's",
                           {"RL shortens chains": per_seed(lengths),
                            "the RL update is sparser than SFT's": per_seed(sparsity)}, {}, intro)
    claim.lines += ["", "| seed | length, first steps -> last steps | within the winning format | "
                    "params changed, RL (fp32 > 1e-5 / bf16) | same, SFT |", "|---|---|---|---|---|", *table]
    return claim


def claim_c8(arms, addition_arms=None, task="chain"):
    """arms: {seed: {"base", "RLVR", "distill": eval dirs}}, the RLVR and distill arms trained on
    `task` (one of C8_TASKS); addition_arms: the same for the study's addition arms (shown, not
    judged)."""
    quality = {s: {arm: chain_quality(d, task) for arm, d in dirs.items()} for s, dirs in arms.items()}
    accuracy, levels, _ = pass_changes({s: (d["base"], d["distill"]) for s, d in arms.items()}, 1, task=task)
    effects = {"distillation raises accuracy": accuracy,
               "distillation's right answers are more often hollow": per_seed(
                   {s: q["distill"]["hollow"] - q["base"]["hollow"] for s, q in quality.items()}),
               "RLVR tightens step coherence": per_seed(
                   {s: q["RLVR"]["step_correctness"] - q["base"]["step_correctness"] for s, q in quality.items()})}
    quality_rows = lambda seed, q: [f"| {seed} | {arm} | {v['chain_share']:.2f} | {v['all_accuracy']:.3f} | {v['chains']} | "
                                    f"{v['accuracy']:.3f} | {v['hollow']:.4f} | {v['step_correctness']:.3f} |"
                                    for arm, v in q.items()]
    table = ["| seed | arm | share of samples written as chains | accuracy, all samples | chains | "
             "accuracy of chains | hollow share of correct chains | step correctness |",
             "|---|---|---|---|---|---|---|---|"]
    intro = [f"Measured on {C8_TASKS[task]} (in addition a wrong step almost always makes a wrong answer: "
             "see the last table). *Hollow*: a correct final answer whose chain has a wrong, missing or "
             f"extra step. Arms: the base; RLVR on the {task} task; distillation of the base's own samples "
             "on that task, kept when the answer is right (the verifier checks answers, not steps, so "
             "hollow chains are kept)."]
    claim = extended_claim("C8", "Distillation can raise accuracy while step quality falls; RLVR tightens "
                           "step coherence", effects, levels, intro)
    claim.lines += ["", *table, *[row for s, q in quality.items() for row in quality_rows(s, q)]]
    if addition_arms:
        extra = [row for seed, dirs in addition_arms.items()
                 for row in quality_rows(seed, {arm: chain_quality(d) for arm, d in dirs.items()})]
        claim.lines += ["", "In-distribution addition, the study's arms (RLVR: the main run; distill: the "
                        "oracle-taught student of C3), shown and not judged:", "", *table, *extra]
    return claim


def claim_c9(arms):
    """arms: {seed: {"base": dir, "full": dir, "one problem": dir, "random reward": dir,
    "format reward": dir}}."""
    change = {name: pass_changes({s: (d["base"], d[name]) for s, d in arms.items()}, 1)
              for name in ("full", "one problem", "random reward", "format reward")}
    full, levels, n = change["full"]
    half_of_full = lambda name: {s: {k: v - 0.5 * full[s][k] for k, v in e.items() if k in full[s]}
                                 for s, e in change[name][0].items()}
    effects = {"full RLVR raises pass@1": full,
               "one problem recovers half the gain": half_of_full("one problem"),
               "a coin-flip reward recovers half the gain": half_of_full("random reward")}
    intro = ["RLVR on a single training problem, and with rewards unrelated to correctness (a coin flip; "
             "well-formedness only, shown and not judged), against full RLVR, the same steps each. A run "
             "recovers half the gain when its per-problem change in pass@1 exceeds half of full RLVR's "
             "(a difference, not a ratio of two estimates). Change in pass@1 from the base, all seeds: "
             + ", ".join(f"{name} {fmt_est(*hierarchical_bootstrap(e, levels))}"
                         for name, (e, _, _) in change.items()) + "."]
    claim = extended_claim("C9", "RLVR mostly elicits: one problem, and a spurious reward, each recover at "
                           "least half of full RLVR's gain", effects, levels, intro)
    claim.lines += ["", "What each run writes (in-distribution addition, every sample): the share of "
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
            claim.lines.append(f"| {seed} | {name} | {w['well_formed']:.3f} | {steps} | "
                               f"{w['common']} ({w['common_share']:.1%}) |")
            if seed == first:
                examples.append(f"- {name}: {one_line(w['example'][1])}")
                shown = shown or w["example"][0]  # the base's problem: every arm shows the same one
    if shown is not None:
        claim.lines += ["", f"One problem, {one_line(shown)}, and the first sample each run of seed "
                        f"{first} wrote for it:", "", *examples]
    return claim


# ---------------------------------------------------------------- C10-C12: three mechanisms of the essays

def quarters(metrics, key):
    """The mean of a per-step value (`key` of each step's log) over each quarter of the run's steps;
    steps that have no value (None) are left out, a quarter with none is nan."""
    n = len(metrics)
    bounds = [round(i * n / 4) for i in range(5)]
    values = [[m[key] for m in metrics[a:b] if m.get(key) is not None] for a, b in zip(bounds, bounds[1:])]
    return [float(np.mean(v)) if v else float("nan") for v in values]


def entropy_phases(metrics):
    """C10's two measurements of one RL run: the change in execution entropy, last quarter minus
    first, and in plan entropy, last quarter minus second; with the quarters of each."""
    execution, plan = quarters(metrics, "entropy_execution"), quarters(metrics, "entropy_plan")
    return {"execution entropy settles": execution[3] - execution[0],
            "planning entropy rises later": plan[3] - plan[1]}, execution, plan


def claim_c10(runs, control):
    """runs, control: {seed: per-step log} of the main RL run and of the coin-flip run."""
    measured = {s: entropy_phases(m) for s, m in runs.items()}
    effects = {name: per_seed({s: m[0][name] for s, m in measured.items()}) for name in measured[next(iter(runs))][0]}
    control_effects = {"execution entropy settles": per_seed(
        {s: entropy_phases(m)[0]["execution entropy settles"] for s, m in control.items()})}
    judged = judge_all("C10", effects)
    label, names = CONTROLS["C10"]
    intro = ["The entropy of the sampling policy at each RL step (rlvr.py logs it), apart on the plan "
             "tokens (the completion's first line: the format header, where a chain's plan is chosen) "
             "and on the execution tokens (the steps and the answer). The essays' two phases: "
             "execution entropy settles first; then the planning entropy rises. What the rules cannot "
             "tell: in this world the plan is one of three formats, so a plan entropy that falls is "
             "the format collapse of C2, not a model that stopped planning."]
    claim = judged_claim("C10", "RL learns in two phases: execution entropy settles, then planning entropy rises",
                         judged, judge_all("C10", control_effects, names=names), label, intro)
    claim.lines += ["", "Entropy per token (nats), mean over each quarter of the run's steps:", "",
                    "| seed | execution, quarters 1-4 | plan, quarters 1-4 | coin flip: execution, quarters 1-4 |",
                    "|---|---|---|---|"]
    q = lambda values: " / ".join(f"{v:.3f}" for v in values)
    for s, (_, execution, plan) in measured.items():
        claim.lines.append(f"| {s} | {q(execution)} | {q(plan)} | "
                           f"{q(entropy_phases(control[s])[1]) if s in control else '-'} |")
    return claim


def model_weights(ckpt):
    import torch
    return torch.load(ckpt, map_location="cpu", weights_only=True)["model"]


def claim_c11(runs):
    """runs: {seed: (base checkpoint, RL, RL of seed + 1000, SFT, SFT of seed + 1000 checkpoints)}.
    The control pairs each seed's RL run with the next seed's (cyclically), each from its own base."""
    from functools import lru_cache
    from metrics import update_overlap
    weights = lru_cache(maxsize=8)(model_weights)  # a seed's base and RL run serve again as the next one's control
    seeds, rows, rl_over, more, cross, figure = list(runs), [], {}, {}, {}, {}
    for i, s in enumerate(seeds):
        base, rl_a, rl_b, sft_a, sft_b = (weights(c) for c in runs[s])
        j_rl, chance = update_overlap(base, rl_a, rl_b, OVERLAP)
        j_sft, _ = update_overlap(base, sft_a, sft_b, OVERLAP)
        rl_over[s], more[s] = j_rl / chance, j_rl - j_sft
        line = f"| {s} | {j_rl:.3f} | {j_sft:.3f} | {chance:.4f} |"
        if len(seeds) > 1:
            t = seeds[(i + 1) % len(seeds)]
            j_cross, _ = update_overlap(base, rl_a, weights(runs[t][1]), OVERLAP, initial_b=weights(runs[t][0]))
            cross[s] = j_cross / chance
            line += f" {j_cross:.3f} (with seed {t}) |"
        rows.append(line if len(seeds) > 1 else line + " - |")
        figure[s] = (j_rl, j_sft, cross[s] * chance if s in cross else None, chance)
    effects = {"RL's most changed weights recur across seeds": per_seed(rl_over),
               "more than SFT's recur": per_seed(more)}
    label, names = CONTROLS["C11"]
    control = judge_all("C11", {names[0]: per_seed(cross)}, names=names) if cross else []
    intro = [f"The {OVERLAP:.0%} of weight entries each run changed most (absolute change from the base, "
             "every parameter; the tied embedding counted once), compared between two runs by the "
             "Jaccard index (shared entries over entries in either). Two RL runs from one base with "
             "different RL seeds (other prompts, other samples); two SFT runs (C7's: the base's own "
             "verified samples, RL's steps and learning rate) with different seeds; chance: two "
             "independent choices of that many entries. What the rules cannot tell: Adam moves every "
             "entry with a steady gradient sign by about the learning rate per step, so entries that "
             "recur may be where the gradient is steady, not a subnetwork the reward picked."
             + ("" if cross else " The control needs two seeds: with one it is not judged.")]
    claim = judged_claim("C11", "RL's updates are sparse and nearly identical across seeds", judge_all("C11", effects),
                         control, label if cross else "none: it needs at least two seeds", intro)
    claim.lines += ["", "| seed | Jaccard, two RL runs | Jaccard, two SFT runs | chance | control: Jaccard with another seed's RL run |",
                    "|---|---|---|---|---|", *rows]
    claim.figure = figure
    return claim


def correct_texts(record, part=slice(None)):
    return [c for c, ok in zip(record["completions"][part], record["correct"][part]) if ok]


def likelihood_effects(base_dir, arm_dir, scores):
    """C12's two per-problem measurements of one arm against the base (in-distribution addition):
    the base's mean log-likelihood per token of the arm's right answers minus that of its own, and
    the share of the arm's right answers absent from the first half of the base's right answers
    minus that share for the second half. scores: {(prompt, completion): base log-likelihood}."""
    base, arm = load_predictions(base_dir, "id", "addition"), load_predictions(arm_dir, "id", "addition")
    likely, novel, levels = {}, {}, {}
    for key, b in base.items():
        a = arm.get(key)
        if a is None:
            continue
        mine, theirs = correct_texts(b), correct_texts(a)
        if mine and theirs:
            ll = lambda texts: float(np.mean([scores[(b["prompt"], t)] for t in texts]))
            likely[key], levels[key] = ll(theirs) - ll(mine), b["level"]
        half = len(b["completions"]) // 2
        first, second = set(correct_texts(b, slice(0, half))), correct_texts(b, slice(half, None))
        if second and theirs:
            absent = lambda texts: sum(t not in first for t in texts) / len(texts)
            novel[key], levels[key] = absent(theirs) - absent(second), b["level"]
    return {"RL's right answers are less likely under the base": likely,
            "RL's right answers are ones the base does not write": novel}, levels


def texts_to_score(eval_dirs):
    """Every (prompt, right answer) of in-distribution addition in these evaluations, once."""
    return sorted({(r["prompt"], t) for d in eval_dirs for r in load_predictions(d, "id", "addition").values()
                   for t in correct_texts(r)})


def claim_c12(arms, scores):
    """arms: {seed: {"base", "RLVR", "coin flip": eval dirs}}; scores: {seed: {(prompt, completion):
    that seed's base log-likelihood per token}} of every right answer of the three."""
    effects, control, levels = {}, {}, {}
    for s, d in arms.items():
        for target, arm in ((effects, "RLVR"), (control, "coin flip")):
            measured, lv = likelihood_effects(d["base"], d[arm], scores[s])
            levels.update(lv)
            for name, values in measured.items():
                target.setdefault(name, {})[s] = values
    label, names = CONTROLS["C12"]
    intro = ["Kim et al.'s second finding: RLVR writes right answers that were absent from the base's "
             "output distribution. Both arms are scored by the base model (mean log-likelihood per "
             "token at temperature 1, EOS included) on in-distribution addition. A problem counts where "
             "both the base and the arm wrote a right answer. The second rule compares with the base "
             "itself: the share of right answers that the first half of the base's samples never wrote, "
             "for RL and for the base's own second half (the same share if RL wrote what the base "
             "writes). What the rules cannot tell: a right chain is nearly fixed by its format, so an "
             "absent answer is mostly a format or a chain the base wrote rarely."]
    claim = judged_claim("C12", "RLVR's right answers include ones the base would not write",
                         judge_all("C12", effects, levels), judge_all("C12", control, levels, names), label, intro)
    claim.figure = {arm: [scores[s][(r["prompt"], t)] for s, d in arms.items()
                          for r in load_predictions(d[arm], "id", "addition").values() for t in correct_texts(r)]
                    for arm in ("base", "RLVR", "coin flip")}
    return claim
