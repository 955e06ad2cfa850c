"""Evaluation: sample n completions per held-out problem, score them, compare models.

For every problem of the chosen splits (in distribution, longer inputs, unseen composition,
perturbed prompts) the model writes n completions at temperature 1 and one greedy completion.
Each is checked by its task's verifier, all are written to `predictions.jsonl`, then scored into
`metrics.json`:

- pass@k for k = 1, 2, 4, ..., n with the unbiased estimator of Chen et al. 2021 (arXiv
  2107.03374), 1 - C(n-c, k) / C(n, k), computed as a stable product; accuracy = pass@1,
  capability = pass@n; 95% bootstrap intervals over problems;
- the capability bins of Kim et al. 2025 (arXiv 2505.14216): problems by how many of 256 samples
  are correct, [0], [1-4], [5-16], [17-64], [65-128], [129-256] (scaled when n differs);
- format shares, well-formed rate, well-formed-but-wrong rate ("fluent but wrong"), step
  correctness, mean completion length, truncation rate.

    python eval.py --preset tiny                      # the tiny pretrained model, in seconds
    python eval.py --checkpoint runs/default/pretrain/seed0/ckpt.pt --samples 256
    python eval.py compare runs/default/pretrain/seed0/eval-default other/eval-default

`compare A B ...` prints the side-by-side table of pass@1 and pass@n, the bin transition matrix
from the first model to each other one, and draws pass@k curves (compare.png).
"""
import argparse
import dataclasses
import json
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

import cli
import lab
import rundir
from cli import option
from data import CharTokenizer, eval_problems, split_of, verify
from data.world import SPLITS
from metrics import BIN_EDGES_256, bin_labels, bootstrap_interval, capability_bin, ks_for, pass_at_k, transition_matrix
from model import load_checkpoint, model_from_checkpoint, pick_device

def split_list(text):
    """'id,length' -> ('id', 'length'), each a split of the world."""
    splits = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        what = f"unknown split(s) {', '.join(unknown)}" if unknown else "empty"
        raise argparse.ArgumentTypeError(f"{what}; choose from {', '.join(SPLITS)}")
    return splits


@dataclass
class EvalConfig:
    preset: str = "default"
    samples: int = option(256, "samples per in-distribution problem of the capability tasks", cli.sample_count)
    ood_samples: int = option(32, "samples per problem elsewhere: pass@1, formats and fluency need fewer",
                              cli.sample_count)
    capability_tasks: tuple = option(("addition",), "where pass@n (capability) is what the claims read", cli=False)
    per_level: int = option(16, "problems per task and level", cli.per_level)
    top_level_problems: int = option(64, "problems at the hardest trained level (capability claims)",
                                     cli.nonnegative_int)
    top_level_samples: int = option(0, "samples per problem at the hardest level of the capability tasks, "
                                    "where pass@k at large k is read (0: as --samples)", cli.nonnegative_int)
    splits: tuple = option(("id",), f"comma-separated, from {','.join(SPLITS)}", split_list)
    temperature: float = option(1.0, "sampling temperature", cli.temperature)
    seed: int = option(0, "seed of the problems' samples", cli.seed)
    batch_rows: int = option(256, "rows sampled together", cli.positive_int)
    device: str = option("auto", "auto, cpu, cuda or mps")


EVAL_PRESETS = {
    "tiny": EvalConfig(preset="tiny", samples=8, ood_samples=4, per_level=4, top_level_problems=4,
                       splits=SPLITS),
    # C1 reads pass@64 on the hardest level from 256 samples of each of its 96 problems (the
    # unbiased estimator; read from 64 samples one problem near 1/64 moved it by 0.5)
    "default": EvalConfig(preset="default", samples=64, ood_samples=16, per_level=12,
                          top_level_problems=96, top_level_samples=256, splits=SPLITS),
    "large": EvalConfig(preset="large", splits=SPLITS),
    "gpu": EvalConfig(preset="gpu", samples=1024, ood_samples=64, per_level=32,
                      top_level_problems=160, splits=SPLITS, batch_rows=4096),
}
cli.with_small(EVAL_PRESETS)


# ---------------------------------------------------------------- sampling and scoring

def problem_record(problem, world, outputs, greedy):
    """One line of predictions.jsonl: the problem, every completion and its verdict."""
    verdicts = [verify(problem, text) for text, _ in outputs]
    greedy_text, greedy_finished = greedy
    return {
        "split": split_of(problem, world), "task": problem.task, "level": problem.difficulty,
        "key": problem.key, "prompt": problem.prompt, "answer": problem.answer,
        "perturbation": dict(problem.meta),
        "completions": [text for text, _ in outputs],
        "finished": [f for _, f in outputs],
        "correct": [f and v.correct for (_, f), v in zip(outputs, verdicts)],
        "well_formed": [v.well_formed for v in verdicts],
        "format": [v.format for v in verdicts],
        "steps_written": [v.steps_written for v in verdicts],
        "steps_required": [v.steps_required for v in verdicts],
        "steps_correct": [v.steps_correct for v in verdicts],
        "greedy": greedy_text,
        "greedy_correct": greedy_finished and verify(problem, greedy_text).correct,
    }


def group_name(record):
    """Rows of the metrics table: split/task/level, or split/task/perturbation+strength."""
    p = record["perturbation"]
    level = f"{p['perturbation']}{p['strength']}" if p else str(record["level"])
    return f"{record['split']}/{record['task']}/{level}"


def score(records):
    """Metrics of a list of problem records (one group or a whole split)."""
    sizes = [len(r["correct"]) for r in records]
    counts = [sum(r["correct"]) for r in records]
    n = min(sizes)  # a group mixing sample counts reports k up to the smallest
    out = {"problems": len(records), "samples": n}
    out["pass_at_k"] = {str(k): float(np.mean([pass_at_k(m, c, k) for m, c in zip(sizes, counts)]))
                        for k in ks_for(n)}
    for k in (1, n):
        per_problem = [pass_at_k(m, c, k) for m, c in zip(sizes, counts)]
        out[f"pass_at_{'1' if k == 1 else 'n'}_ci"] = bootstrap_interval(per_problem)
    out["greedy_accuracy"] = float(np.mean([r["greedy_correct"] for r in records]))
    flat = lambda key: [x for r in records for x in r[key]]
    correct, well_formed, formats = flat("correct"), flat("well_formed"), flat("format")
    wrong = [w for w, c in zip(well_formed, correct) if not c]
    out["well_formed"] = float(np.mean(well_formed))
    out["well_formed_wrong"] = float(np.mean([w and not c for w, c in zip(well_formed, correct)]))
    out["fluent_share_of_wrong"] = float(np.mean(wrong)) if wrong else 0.0
    shares = Counter(f or "unknown" for f in formats)
    out["format_shares"] = {f: shares[f] / len(formats) for f in sorted(shares)}
    required, right, written = flat("steps_required"), flat("steps_correct"), flat("steps_written")
    with_steps = [(r, q, w) for r, q, w in zip(right, required, written) if q > 0]
    out["step_correctness"] = (float(np.mean([r / q for r, q, _ in with_steps]))
                               if with_steps else None)
    out["steps_written_vs_required"] = (float(np.mean([w == q for _, q, w in with_steps]))
                                        if with_steps else None)
    out["mean_length"] = float(np.mean([len(t) for r in records for t in r["completions"]]))
    out["truncated"] = 1.0 - float(np.mean(flat("finished")))
    bins = Counter(capability_bin(c, m) for m, c in zip(sizes, counts))
    out["bins"] = [bins[i] for i in range(len(BIN_EDGES_256))]
    return out


def score_all(records):
    groups = defaultdict(list)
    for r in records:
        groups[group_name(r)].append(r)
        groups[f"{r['split']}/{r['task']}"].append(r)
        groups[r["split"]].append(r)
    return {name: score(rs) for name, rs in sorted(groups.items())}


def checkpoint_stamp(checkpoint):
    """[size, modification time] of a checkpoint: an evaluation is reused only while they match."""
    return [os.path.getsize(checkpoint), os.path.getmtime(checkpoint)]


def samples_for(problem, split, world, config):
    """Samples per problem: many in distribution on the capability tasks, most at their hardest
    level (pass@k at large k), fewer elsewhere (pass@1, formats and fluency)."""
    if split != "id" or problem.task not in config.capability_tasks:
        return config.ood_samples
    if config.top_level_samples and problem.difficulty == world.max_level(problem.task):
        return config.top_level_samples
    return config.samples


def evaluate(checkpoint, config, out_dir, quiet=False):
    """Sample, verify, write predictions.jsonl and metrics.json; returns the metrics."""
    device = pick_device(config.device)
    tokenizer = CharTokenizer()
    payload, world = rundir.load_trained(checkpoint, "checkpoint")
    model = model_from_checkpoint(payload, device, checkpoint)
    problems = []
    for split in config.splits:
        per_level = config.per_level
        found = eval_problems(world, split, per_level, seed=config.seed)
        if split == "id" and config.top_level_problems > per_level:  # more at the hardest level
            extra = [p for p in eval_problems(world, "id", config.top_level_problems, seed=config.seed + 1)
                     if p.difficulty == world.max_level(p.task)]
            seen = {p.key for p in found}
            found += [p for p in extra if p.key not in seen][:config.top_level_problems - per_level]
        problems += [(p, samples_for(p, split, world, config)) for p in found]
    generator = torch.Generator(device=device).manual_seed(config.seed)
    total = sum(n for _, n in problems) + len(problems)
    rundir.ensure_writable_dir(out_dir)
    if os.path.exists(os.path.join(out_dir, "metrics.json")):  # stale once new predictions land
        os.remove(os.path.join(out_dir, "metrics.json"))
    records = []
    with tqdm(total=total, desc="eval samples", disable=quiet, dynamic_ncols=True, mininterval=2.0) as bar:
        for n in sorted({n for _, n in problems}):
            batch = [p for p, m in problems if m == n]
            outputs = lab.generate(model, tokenizer, batch, n, config.temperature, generator,
                                   config.batch_rows, bar)
            greedy = lab.generate(model, tokenizer, batch, 1, 0.0, None, config.batch_rows, bar)
            records += [problem_record(p, world, o, g[0]) for p, o, g in zip(batch, outputs, greedy)]
    rundir.write_lines(os.path.join(out_dir, "predictions.jsonl"), (json.dumps(r) for r in records))
    metrics = {"checkpoint": checkpoint, "checkpoint_stamp": checkpoint_stamp(checkpoint),
               "config": dataclasses.asdict(config), "code": rundir.code_version("eval"), "groups": score_all(records)}
    rundir.write_json(os.path.join(out_dir, "metrics.json"), metrics)
    plot_pass_at_k({os.path.basename(os.path.dirname(checkpoint)) or "model": metrics},
                   os.path.join(out_dir, "pass_at_k.png"), by_level=True)
    return metrics


# ---------------------------------------------------------------- tables and plots

def print_table(metrics, file=sys.stdout):
    print(f"{'group':28s} {'probs':>5s} {'pass@1':>7s} {'pass@n':>7s} {'greedy':>7s} "
          f"{'w-formed':>8s} {'fluent-wrong':>12s} {'steps ok':>8s}  formats", file=file)
    for name, m in metrics["groups"].items():
        n = m["samples"]
        steps = "" if m["step_correctness"] is None else f"{m['step_correctness']:.2f}"
        formats = " ".join(f"{f}:{s:.2f}" for f, s in m["format_shares"].items())
        print(f"{name:28s} {m['problems']:5d} {m['pass_at_k']['1']:7.3f} {m['pass_at_k'][str(n)]:7.3f} "
              f"{m['greedy_accuracy']:7.3f} {m['well_formed']:8.3f} {m['well_formed_wrong']:12.3f} "
              f"{steps:>8s}  {formats}", file=file)


def plot_pass_at_k(models, path, by_level=False, split="id"):
    """pass@k against k, one panel per task; by level for one model, by model for several."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    first = next(iter(models.values()))
    tasks = sorted({name.split("/")[1] for name in first["groups"] if name.startswith(split + "/")
                    and name.count("/") >= 1})
    if not tasks:
        return
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for label, metrics in models.items():
            groups = metrics["groups"]
            names = ([g for g in groups if g.startswith(f"{split}/{task}/")] if by_level
                     else [f"{split}/{task}"])
            for g in sorted(names, key=lambda s: int(s.rsplit("/", 1)[1]) if by_level else 0):
                curve = groups.get(g)
                if curve is None:
                    continue
                ks = sorted(int(k) for k in curve["pass_at_k"])
                name = f"level {g.rsplit('/', 1)[1]}" if by_level else label
                ax.plot(ks, [curve["pass_at_k"][str(k)] for k in ks], "o-", ms=3, label=name)
        ax.set(xscale="log", xlabel="k (samples)", ylabel="pass@k", title=f"{task} ({split})",
               ylim=(0, 1.02))
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=7)
    if by_level:
        fig.suptitle(", ".join(models), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def load_eval(directory):
    """(metrics, {(split, key, perturbation): record}) of an evaluation directory."""
    damaged = cli.LabError(f"the evaluation in {directory} is missing or damaged; evaluate again "
                           f"with python eval.py --checkpoint <its checkpoint> --out {directory}")
    metrics = rundir.read_json(os.path.join(directory, "metrics.json"))
    if not isinstance(metrics, dict) or not isinstance(metrics.get("groups"), dict):
        raise damaged
    records = {}
    try:
        with open(os.path.join(directory, "predictions.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                records[(r["split"], r["key"], json.dumps(r["perturbation"], sort_keys=True))] = r
    except (OSError, ValueError, KeyError, TypeError):
        raise damaged from None
    return metrics, records


def compare(directories, out_dir):
    loaded = [load_eval(d) for d in directories]  # a list: the same directory may come twice
    groups = list(loaded[0][0]["groups"])
    header = "".join(f" {'p@1 ' + str(i):>9s} {'p@n ' + str(i):>9s}" for i in range(len(loaded)))
    for i, d in enumerate(directories):
        print(f"model {i}: {d}")
    print(f"{'group':28s}{header}")
    for g in groups:
        row = ""
        for metrics, _ in loaded:
            m = metrics["groups"].get(g)
            if m is None:
                row += f" {'-':>9s} {'-':>9s}"
            else:
                row += f" {m['pass_at_k']['1']:9.3f} {m['pass_at_k'][str(m['samples'])]:9.3f}"
        print(f"{g:28s}{row}")
    base_records = loaded[0][1]
    if not any(r["split"] == "id" for r in base_records.values()):
        raise cli.LabError(f"model 0 ({directories[0]}) has no in-distribution results, which the bin "
                           "transitions start from; evaluate it with --splits id, or put first a model that has them")
    n = max(len(r["correct"]) for r in base_records.values() if r["split"] == "id")
    labels = bin_labels(n)
    for i, (_, records) in enumerate(loaded[1:], start=1):
        matrix = transition_matrix(base_records, records)
        print(f"\nbin transitions (id split), rows: model 0, columns: model {i} "
              f"(correct samples, bins of Kim et al. scaled to n={n})")
        print(f"{'':>9s}" + "".join(f"{label:>9s}" for label in labels))
        for label, row in zip(labels, matrix):
            print(f"{label:>9s}" + "".join(f"{v:9d}" for v in row))
    rundir.ensure_writable_dir(out_dir)
    plot_pass_at_k({f"model {i}": metrics for i, (metrics, _) in enumerate(loaded)},
                   os.path.join(out_dir, "compare.png"))
    print(f"\npass@k curves: {os.path.join(out_dir, 'compare.png')}")


def show_samples(checkpoint, prompt, n, config):
    """Print n completions of one prompt (the quickest way to look at what a model writes)."""
    from model import sample
    tokenizer = CharTokenizer()
    text = prompt if prompt.endswith("\n") else prompt + "\n"
    ids = [tokenizer.bos_id, *tokenizer.encode(text)]  # raises a clear error on a foreign character
    model = model_from_checkpoint(load_checkpoint(checkpoint, tokenizer.spec()), pick_device(config.device), checkpoint)
    budget = model.config.block_size - len(ids)
    if budget < 1:
        raise cli.LabError(f"the prompt is {len(ids)} tokens; the model reads at most {model.config.block_size}")
    out = sample(model, [ids] * n, min(budget, 160), tokenizer.eos_id, tokenizer.pad_id,
                 temperature=config.temperature, generator=torch.Generator().manual_seed(config.seed))
    for i, (completion, finished) in enumerate(zip(out.completions, out.finished)):
        print(f"--- sample {i}{'' if finished else ' (truncated)'}\n{text}{tokenizer.decode(completion)}")


# ---------------------------------------------------------------- command line

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "compare":
        p = cli.ArgumentParser(prog="eval.py compare", description="compare evaluated models")
        p.add_argument("dirs", nargs="+", help="evaluation directories (with metrics.json)")
        p.add_argument("--out", type=cli.path, default=os.path.join("runs", "compare"))
        args = p.parse_args(argv[1:])
        if len(args.dirs) < 2:
            raise cli.LabError("compare needs at least two evaluation directories")
        for d in args.dirs:
            if os.path.isfile(d):
                raise cli.LabError(f"{d} is a file; pass the evaluation directory that holds it: "
                                   f"{os.path.dirname(d) or '.'}")
            if not os.path.exists(os.path.join(d, "metrics.json")):
                raise cli.LabError(f"{d} has no metrics.json; run python eval.py --out {d} first")
        compare(args.dirs, args.out)
        return
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_config_options(p, EvalConfig, EVAL_PRESETS)
    p.add_argument("--checkpoint", type=cli.path, help="default runs/<preset>/pretrain/seed0/ckpt.pt")
    p.add_argument("--out", type=cli.path, help="output directory (default: eval-<preset> beside the checkpoint)")
    p.add_argument("--prompt", help='sample completions for one prompt instead, e.g. "4821+367"')
    args = p.parse_args(argv)
    config = cli.config_from_args(EVAL_PRESETS, args)
    checkpoint = args.checkpoint or rundir.base_checkpoint(args.preset, 0)
    if args.prompt is not None:
        show_samples(checkpoint, args.prompt, args.samples or 4, config)
        return
    out = args.out or os.path.join(os.path.dirname(checkpoint), f"eval-{config.preset}")
    metrics = evaluate(checkpoint, config, out)
    print_table(metrics)
    print(f"\npredictions and metrics: {out}")


if __name__ == "__main__":
    cli.entry(main)
