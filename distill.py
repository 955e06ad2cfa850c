"""Stage 2: chain-of-thought distillation, supervised fine-tuning on a teacher's traces.

Three teachers write the traces:
- `oracle`: the task's renderer, a perfect teacher, in one format (`--format`; default each
  task's first chain-of-thought format: column, steps, chain);
- `checkpoint`: another trained model (`--teacher-checkpoint`), sampled and kept only where the
  verifier accepts the answer;
- `self`: the student's own verified samples (rejection-sampling fine-tuning, self-distillation).

Three data arms decide which problems the traces are for:
- `patterns`: the levels the base was pretrained on; at the hardest of them the base is weak, so
  the oracle's traces there still teach it something;
- `known`: the pretrained levels below the hardest, which the base already solves: the teacher
  brings reasoning patterns (one clean format) and no new knowledge;
- `new`: the level two above the pretrained ones (longer additions), which the base never saw: the
  teacher brings new knowledge (and nothing else: the student forgets the shorter ones). The
  level in between stays untaught, so that capability can be scored where nobody trained (C4);
- `all`: the pretrained levels and the two above them: new knowledge without forgetting.

The loss is on completion tokens only (the prompt is given, not generated). Examples are packed
into rows as in pretraining; the learning rate warms up, then decays by a cosine.

    python distill.py --preset tiny                         # seconds
    python distill.py --seed 0                              # oracle, patterns arm, from seed 0
    python distill.py --seed 0 --arm new --out runs/default/distill/seed0-new
    python distill.py --seed 0 --teacher self --out runs/default/distill/seed0-self

Writes under runs/<preset>/distill/seed<seed>/ (or --out): ckpt.pt (evaluate it with eval.py),
config.json, data.jsonl (the teacher's traces), metrics.jsonl, summary.json.
"""
import argparse
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import cli
import lab
import rundir
from cli import option
from data import TASKS, CharTokenizer, verify
from data.world import sample_training_problem
from metrics import update_sparsity
from model import autocast, load_checkpoint, model_from_checkpoint, pick_device, save_checkpoint

TEACHERS = ("oracle", "checkpoint", "self")
ARMS = ("patterns", "known", "new", "all")


# ---------------------------------------------------------------- the algorithm

def sft_loss(model, x, y):
    """The distillation loss: mean cross-entropy of the student on the teacher's tokens.

    x, y: (rows, T) packed examples and their next tokens. The mask is y == -1: `lab.example_tokens`
    marks the BOS and the prompt (given, not generated) and `lab.pack_rows` the padding that way,
    so only the completion and its EOS (the student must learn where to stop) carry loss."""
    logits, _ = model(x)                                              # (rows, T, vocab)
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-1)


# ---------------------------------------------------------------- settings

@dataclass
class DistillConfig:
    preset: str = "default"
    seed: int = option(0, "seed of the run (its problems, samples and data order); also picks the base", cli.seed)
    device: str = option("auto", "auto, cpu, cuda or mps")
    base: str = option("", "the student (default runs/<preset>/pretrain/seed<seed>/ckpt.pt)", cli.path)
    teacher: str = option("oracle", "oracle, checkpoint or self", choices=TEACHERS)
    teacher_checkpoint: str = option("", "the teacher model for --teacher checkpoint", cli.path)
    format: str = option("", "the oracle's format, e.g. chunk (default each task's first: column / steps / chain)")
    arm: str = option("patterns", "patterns: pretrained levels; known: those below the hardest; "
                      "new: the level two above them; all: pretrained and the two above", choices=ARMS)
    tasks: list = option(["addition"], "comma-separated tasks", cli.task_list)
    problems: int = option(2000, "distinct training problems the teacher is asked about", cli.positive_int)
    samples: int = option(4, "teacher samples per problem for the checkpoint and self teachers", cli.sample_count)
    steps: int = option(100, "optimizer steps", cli.positive_int)
    batch_size: int = option(16, "rows per step", cli.positive_int)
    lr: float = option(1e-3, "peak AdamW learning rate", cli.learning_rate)
    min_lr: float = option(1e-4, "learning rate at the end of the decay", cli.min_learning_rate)
    warmup: int = option(10, "steps of linear warm-up", cli.nonnegative_int)
    decay: float = option(1.0, "share of the steps after warm-up spent in the cosine decay", cli=False)
    weight_decay: float = option(0.0, "AdamW weight decay", cli.nonnegative_float)
    grad_clip: float = option(1.0, "gradient norm clip", cli.positive_float)
    checkpoint_every: int = option(50, "steps between checkpoints", cli.positive_int)


PRESETS = {
    "tiny": DistillConfig(preset="tiny", problems=200, samples=2, steps=20, batch_size=8,
                          checkpoint_every=10),
    # rows are the base's context: 32 rows of 128 tokens are the 16 x 256 of the other presets
    "default": DistillConfig(preset="default", batch_size=32),
    "large": DistillConfig(preset="large"),
    "gpu": DistillConfig(preset="gpu", problems=8000, steps=300, batch_size=64),
}
cli.with_small(PRESETS)


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_config_options(p, DistillConfig, PRESETS)
    cli.add_run_options(p, "distill")
    return p.parse_args(argv)


def format_applies(config):
    """True when the oracle's format (if any) is a format of at least one of the distilled tasks."""
    return not config.format or any(config.format in TASKS[t].FORMATS for t in config.tasks)


def check_format(config, option):
    """The oracle's format must belong to at least one of the distilled tasks."""
    if not format_applies(config):
        raise cli.LabError(f"{option} {config.format!r} is not a format of "
                           f"{', '.join(config.tasks)}; formats: "
                           + ", ".join(f for t in config.tasks for f in TASKS[t].FORMATS))


def check_tasks(config, option):
    """At least one task to distil, each a task of the world."""
    if not config.tasks:
        raise cli.LabError(f"{option} is empty; name at least one task, e.g. addition")
    if any(t not in TASKS for t in config.tasks):
        raise cli.LabError(f"{option} {','.join(config.tasks)!r}: name tasks from {', '.join(TASKS)}")


def config_from_args(args):
    config = cli.config_from_args(PRESETS, args)
    check_tasks(config, "--tasks")
    check_format(config, "--format")
    if config.teacher == "checkpoint" and not config.teacher_checkpoint:
        raise cli.LabError("--teacher checkpoint needs --teacher-checkpoint PATH")
    if config.teacher != "checkpoint" and config.teacher_checkpoint:
        raise cli.LabError(f"--teacher-checkpoint is read only with --teacher checkpoint (the "
                           f"teacher is {config.teacher!r}); add --teacher checkpoint or drop it")
    if config.min_lr > config.lr:
        raise cli.LabError(f"--min-lr ({config.min_lr}) must not exceed --lr ({config.lr})")
    if not config.base:
        config.base = rundir.base_checkpoint(config.preset, config.seed)
    pick_device(config.device)
    return config


def default_out(preset, seed):
    return rundir.run_dir(preset, "distill", f"seed{seed}")


# ---------------------------------------------------------------- the teacher's data

def arm_levels(arm, world, task):
    """patterns: the levels the base was pretrained on; known: those below the hardest; new: the
    level two above the hardest (the one between is left for scoring, untaught); all: the
    pretrained levels and the two above them."""
    top = world.max_level(task)
    if arm == "known" and top < 2:
        raise cli.LabError(f"--arm known needs at least two pretrained levels of {task}; "
                           f"the base has {top}")
    return {"patterns": list(range(1, top + 1)), "known": list(range(1, top)),
            "new": [top + 2], "all": list(range(1, top + 3))}[arm]


def arm_problems(config, world, rng):
    """`config.problems` distinct training-region problems of the arm's levels, uniform over
    tasks and levels (small levels may give fewer distinct problems)."""
    found, tries = {}, 0
    while len(found) < config.problems and tries < 20 * config.problems:
        tries += 1
        task = rng.choice(config.tasks)
        problem = sample_training_problem(world, rng, task, rng.choice(arm_levels(config.arm, world, task)))
        found.setdefault((task, problem.key), problem)
    return list(found.values())


def oracle_format(config, task):
    formats = TASKS[task].FORMATS
    return config.format if config.format in formats else formats[0]


def teacher_traces(config, world, problems, student, tokenizer, device, generator):
    """[(problem, completion)]: the oracle's renderings, or a model's verified samples."""
    if config.teacher == "oracle":
        return [(p, TASKS[p.task].render_completion(p, oracle_format(config, p.task))) for p in problems]
    if config.teacher == "checkpoint":
        payload = load_checkpoint(config.teacher_checkpoint, tokenizer.spec())
        teacher = model_from_checkpoint(payload, device, config.teacher_checkpoint)
    else:
        teacher = student
    outputs = lab.generate(teacher, tokenizer, problems, config.samples, 1.0, generator)
    traces = []
    for p, outs in zip(problems, outputs):
        kept = {text for text, finished in outs if finished and verify(p, text).correct}
        traces += [(p, text) for text in sorted(kept)]
    return traces


def examples_forever(traces, tokenizer, rng):
    """Endless (tokens, is_target) over the traces, reshuffled every epoch."""
    encoded = [lab.example_tokens(tokenizer, p.prompt, c) for p, c in traces]
    while True:
        order = list(range(len(encoded)))
        rng.shuffle(order)
        for i in order:
            yield encoded[i]


# ---------------------------------------------------------------- the run

def train(config, out, resume_from=None, quiet=False):
    """Distil into the student; returns the path of the final checkpoint."""
    device = pick_device(config.device)
    tokenizer = CharTokenizer()
    base, world = rundir.load_trained(config.base, "student checkpoint")
    for task in config.tasks:
        if task not in world.task_weights:
            raise cli.LabError(f"task {task!r} was not in the student's pretraining mix")
    torch.manual_seed(config.seed)
    student = model_from_checkpoint(base, device, config.base)
    initial = {k: v.detach().clone() for k, v in student.state_dict().items()}
    rng = random.Random(f"distill:{config.seed}")
    generator = torch.Generator(device=device).manual_seed(config.seed)
    problems = arm_problems(config, world, rng)
    traces = teacher_traces(config, world, problems, student, tokenizer, device, generator)
    if not traces:
        raise cli.LabError(f"the {config.teacher} teacher produced no verified trace for "
                           f"{len(problems)} problems; try more --samples or another arm")
    with open(os.path.join(out, "data.jsonl"), "w") as f:
        for p, c in traces:
            f.write(json.dumps({"task": p.task, "level": p.difficulty, "prompt": p.prompt,
                                "completion": c}) + "\n")
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.lr, betas=(0.9, 0.95),
                                  weight_decay=config.weight_decay)
    data_rng = random.Random(f"distill-data:{config.seed}")
    start_state = data_rng.getstate()  # the stream is replayed from here on --resume
    state = lab.RunState(step=0, used=0)  # used: examples trained on, to skip on --resume
    if resume_from:
        state.used = rundir.restore(resume_from, student, optimizer, state)["rng"]["used"]
    examples = examples_forever(traces, tokenizer, data_rng)
    for _ in range(state.used):  # on --resume: skip the examples the killed run already trained on
        next(examples)
    log = lab.open_log(out, dataclasses.asdict(config), state.step, resume_from)
    ckpt_path = os.path.join(out, "ckpt.pt")
    seq_len = base["model_config"]["block_size"]

    def checkpoint(state, finished):
        save_checkpoint(ckpt_path, rundir.checkpoint_payload(
            "distill", student.state_dict(), base["model_config"], base["world"], dataclasses.asdict(config),
            optimizer=optimizer.state_dict(), step=state.step, finished=finished,
            rng={"data": start_state, "used": state.used}))

    counting = CountingIterator(examples, state.used)

    def train_step(state):
        at = state.step
        lr = lab.learning_rate_at(at, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = lab.pack_rows(counting, config.batch_size, seq_len, tokenizer.pad_id)
        x, y = x.to(device), y.to(device)
        with autocast(device):
            loss = sft_loss(student, x, y)
        if not torch.isfinite(loss):
            raise cli.LabError(f"loss became {loss.item()} at step {at + 1}; the last good "
                               f"checkpoint is kept. Try a lower --lr")
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(student.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state.step, state.used = at + 1, counting.count
        return {"step": state.step, "loss": loss.item(), "lr": lr, "grad_norm": grad_norm.item(),
                "seconds": time.time() - started}

    if not quiet:
        levels = sorted({p.difficulty for p, _ in traces})
        print(f"distilling {len(traces)} traces ({config.teacher} teacher, {config.arm} arm, "
              f"levels {levels[0]}-{levels[-1]}) into {config.base} on {device}: {config.steps} "
              f"steps x {config.batch_size} rows -> {out}")
    student.train()
    started = time.time()
    lab.training_loop(state, config.steps, train_step, checkpoint, ckpt_path, log,
                      config.checkpoint_every, "distill", quiet,
                      postfix=lambda r: {"loss": f"{r['loss']:.4f}"})
    rundir.write_json(os.path.join(out, "summary.json"), {
        "steps": state.step, "problems": len(problems), "traces": len(traces),
        "problems_with_a_trace": len({p.key for p, _ in traces}),
        "update_share": update_sparsity(initial, student.state_dict())})
    return ckpt_path


class CountingIterator:
    """Wraps an iterator and counts how many items were taken (the data position to resume)."""

    def __init__(self, iterator, count=0):
        self.iterator, self.count = iterator, count

    def __iter__(self):
        return self

    def __next__(self):
        self.count += 1
        return next(self.iterator)


def main(argv=None):
    args = parse_args(argv)
    config = config_from_args(args)
    out = args.out or default_out(config.preset, config.seed)
    resume_from = rundir.prepare_out_dir(out, dataclasses.asdict(config), args.resume, args.force,
                                      inputs=(config.base, config.teacher_checkpoint))
    path = train(config, out, resume_from)
    print(f"done: {path}\nevaluate it with: python eval.py --checkpoint {path}")


if __name__ == "__main__":
    cli.entry(main)
