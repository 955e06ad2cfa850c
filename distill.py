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
- `new`: the levels above the pretrained ones (longer additions), which the base never saw: the
  teacher brings new knowledge (and nothing else: the student forgets the shorter ones);
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
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

import eval as evaluation
import lab
from data import TASKS, CharTokenizer, verify
from data.world import sample_training_problem
from model import autocast, load_checkpoint, model_from_checkpoint, pick_device, save_checkpoint

TEACHERS = ("oracle", "checkpoint", "self")
ARMS = ("patterns", "known", "new", "all")


@dataclass
class DistillConfig:
    preset: str = "default"
    seed: int = 0
    device: str = "auto"
    base: str = ""              # the student; "": runs/<preset>/pretrain/seed<seed>/ckpt.pt
    teacher: str = "oracle"
    teacher_checkpoint: str = ""
    format: str = ""            # oracle format; "": each task's first format
    arm: str = "patterns"
    tasks: list = field(default_factory=lambda: ["addition"])
    problems: int = 2000        # distinct training problems the teacher is asked about
    samples: int = 4            # samples per problem for the checkpoint and self teachers
    steps: int = 100
    batch_size: int = 16        # rows per step
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 10
    decay: float = 1.0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    checkpoint_every: int = 50


PRESETS = {
    "tiny": DistillConfig(preset="tiny", problems=200, samples=2, steps=20, batch_size=8,
                          checkpoint_every=10),
    "small": DistillConfig(preset="small"),
    "default": DistillConfig(preset="default"),
    "gpu": DistillConfig(preset="gpu", problems=8000, steps=300, batch_size=64),
}
CLI_FIELDS = ("seed", "device", "base", "teacher", "teacher_checkpoint", "format", "arm", "problems",
              "samples", "steps", "batch_size", "lr", "min_lr", "warmup", "weight_decay",
              "grad_clip", "checkpoint_every")


def parse_args(argv=None):
    p = lab.ArgumentParser(description=__doc__.split("\n\n")[0],
                           formatter_class=lab.argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="default", choices=list(PRESETS))
    p.add_argument("--seed", type=lab.seed)
    p.add_argument("--device", help="auto (default), cpu, cuda or mps")
    p.add_argument("--base", type=lab.path, help="the student (default runs/<preset>/pretrain/seed<seed>/ckpt.pt)")
    p.add_argument("--teacher", choices=TEACHERS, help="oracle (default), checkpoint or self")
    p.add_argument("--teacher-checkpoint", dest="teacher_checkpoint", type=lab.path,
                   help="the teacher model for --teacher checkpoint")
    p.add_argument("--format", help="the oracle's format, e.g. chunk (default: column / steps / chain)")
    p.add_argument("--arm", choices=ARMS,
                   help="patterns (default): pretrained levels; known: those below the hardest; "
                        "new: the two levels above them; all: both")
    p.add_argument("--tasks", help="comma-separated tasks (default addition)")
    p.add_argument("--problems", type=lab.positive_int, help="distinct training problems (default 2000)")
    p.add_argument("--samples", type=lab.sample_count,
                   help="teacher samples per problem for checkpoint/self teachers (default 4)")
    p.add_argument("--steps", type=lab.positive_int, help="optimizer steps (default 100)")
    p.add_argument("--batch-size", dest="batch_size", type=lab.positive_int)
    p.add_argument("--lr", type=lab.learning_rate)
    p.add_argument("--min-lr", dest="min_lr", type=lab.min_learning_rate)
    p.add_argument("--warmup", type=lab.nonnegative_int)
    p.add_argument("--weight-decay", dest="weight_decay", type=lab.nonnegative_float)
    p.add_argument("--grad-clip", dest="grad_clip", type=lab.positive_float)
    p.add_argument("--checkpoint-every", dest="checkpoint_every", type=lab.positive_int)
    lab.add_run_options(p, "distill")
    return p.parse_args(argv)


def format_applies(config):
    """True when the oracle's format (if any) is a format of at least one of the distilled tasks."""
    return not config.format or any(config.format in TASKS[t].FORMATS for t in config.tasks)


def check_format(config, option):
    """The oracle's format must belong to at least one of the distilled tasks."""
    if not format_applies(config):
        raise lab.LabError(f"{option} {config.format!r} is not a format of "
                           f"{', '.join(config.tasks)}; formats: "
                           + ", ".join(f for t in config.tasks for f in TASKS[t].FORMATS))


def config_from_args(args):
    config = lab.resolve(dataclasses.replace(PRESETS[args.preset]), args, CLI_FIELDS)
    if args.tasks is not None:
        config.tasks = lab.task_list(args.tasks)
    if not config.tasks or any(t not in TASKS for t in config.tasks):
        raise lab.LabError(f"--tasks {args.tasks!r}: name tasks from {', '.join(TASKS)}")
    check_format(config, "--format")
    if config.teacher == "checkpoint" and not config.teacher_checkpoint:
        raise lab.LabError("--teacher checkpoint needs --teacher-checkpoint PATH")
    if config.teacher != "checkpoint" and config.teacher_checkpoint:
        raise lab.LabError(f"--teacher-checkpoint is read only with --teacher checkpoint (the "
                           f"teacher is {config.teacher!r}); add --teacher checkpoint or drop it")
    if config.min_lr > config.lr:
        raise lab.LabError(f"--min-lr ({config.min_lr}) must not exceed --lr ({config.lr})")
    if not config.base:
        config.base = os.path.join("runs", config.preset, "pretrain", f"seed{config.seed}", "ckpt.pt")
    pick_device(config.device)
    return config


def default_out(preset, seed):
    return os.path.join("runs", preset, "distill", f"seed{seed}")


# ---------------------------------------------------------------- the teacher's data

def arm_levels(arm, world, task):
    """patterns: the levels the base was pretrained on; known: those below the hardest; new: the
    two above them; all: patterns and new together."""
    top = world.max_level(task)
    if arm == "known" and top < 2:
        raise lab.LabError(f"--arm known needs at least two pretrained levels of {task}; "
                           f"the base has {top}")
    return {"patterns": list(range(1, top + 1)), "known": list(range(1, top)),
            "new": [top + 1, top + 2], "all": list(range(1, top + 3))}[arm]


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
        teacher = model_from_checkpoint(payload, device)
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
    base, world = lab.load_trained(config.base, "student checkpoint")
    for task in config.tasks:
        if task not in world.task_weights:
            raise lab.LabError(f"task {task!r} was not in the student's pretraining mix")
    torch.manual_seed(config.seed)
    student = model_from_checkpoint(base, device)
    initial = {k: v.detach().clone() for k, v in student.state_dict().items()}
    rng = random.Random(f"distill:{config.seed}")
    generator = torch.Generator(device=device).manual_seed(config.seed)
    problems = arm_problems(config, world, rng)
    traces = teacher_traces(config, world, problems, student, tokenizer, device, generator)
    if not traces:
        raise lab.LabError(f"the {config.teacher} teacher produced no verified trace for "
                           f"{len(problems)} problems; try more --samples or another arm")
    with open(os.path.join(out, "data.jsonl"), "w") as f:
        for p, c in traces:
            f.write(json.dumps({"task": p.task, "level": p.difficulty, "prompt": p.prompt,
                                "completion": c}) + "\n")
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.lr, betas=(0.9, 0.95),
                                  weight_decay=config.weight_decay)
    data_rng = random.Random(f"distill-data:{config.seed}")
    start_state = data_rng.getstate()  # the stream is replayed from here on --resume
    step, used = 0, 0
    if resume_from:
        payload = load_checkpoint(resume_from, tokenizer.spec())
        student.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        step, used = payload["step"], payload["rng"]["used"]
    examples = examples_forever(traces, tokenizer, data_rng)
    for _ in range(used):  # on --resume: skip the examples the killed run already trained on
        next(examples)
    lab.write_json(os.path.join(out, "config.json"), dataclasses.asdict(config))
    log_path = os.path.join(out, "metrics.jsonl")
    if resume_from:
        lab.trim_log(log_path, step)
    log = lab.JsonlLog(log_path, append=resume_from is not None)
    ckpt_path = os.path.join(out, "ckpt.pt")
    seq_len = base["model_config"]["block_size"]

    def checkpoint(finished):
        save_checkpoint(ckpt_path, {
            "model": student.state_dict(), "model_config": base["model_config"],
            "tokenizer": tokenizer.spec(), "world": base["world"], "stage": "distill",
            "config": dataclasses.asdict(config), "optimizer": optimizer.state_dict(),
            "step": step, "finished": finished, "rng": {"data": start_state, "used": used}})

    counting = CountingIterator(examples, used)
    if not quiet:
        levels = sorted({p.difficulty for p, _ in traces})
        print(f"distilling {len(traces)} traces ({config.teacher} teacher, {config.arm} arm, "
              f"levels {levels[0]}-{levels[-1]}) into {config.base} on {device}: {config.steps} "
              f"steps x {config.batch_size} rows -> {out}")
    student.train()
    bar = tqdm(total=config.steps, initial=step, desc="distill", disable=quiet, dynamic_ncols=True,
               mininterval=2.0)
    started = time.time()
    try:
        while step < config.steps:
            lr = lab.learning_rate_at(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = lab.pack_rows(counting, config.batch_size, seq_len, tokenizer.pad_id)
            x, y = x.to(device), y.to(device)
            with autocast(device):
                _, loss = student(x, y)
            if not torch.isfinite(loss):
                raise lab.LabError(f"loss became {loss.item()} at step {step + 1}; the last good "
                                   f"checkpoint is kept. Try a lower --lr")
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(student.parameters(), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step, used = step + 1, counting.count
            log.write({"step": step, "loss": loss.item(), "lr": lr, "grad_norm": grad_norm.item(),
                       "seconds": time.time() - started})
            if step % config.checkpoint_every == 0 and step < config.steps:
                checkpoint(finished=False)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        checkpoint(finished=False)
        log.close()
        lab.exit_interrupted(f"step {step}", ckpt_path)
    bar.close()
    checkpoint(finished=True)
    log.close()
    lab.write_json(os.path.join(out, "summary.json"), {
        "steps": step, "problems": len(problems), "traces": len(traces),
        "problems_with_a_trace": len({p.key for p, _ in traces}),
        "update_share": evaluation.update_sparsity(initial, student.state_dict())})
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
    resume_from = lab.prepare_out_dir(out, dataclasses.asdict(config), args.resume, args.force,
                                      inputs=(config.base, config.teacher_checkpoint))
    path = train(config, out, resume_from)
    print(f"done: {path}\nevaluate it with: python eval.py --checkpoint {path}")


if __name__ == "__main__":
    lab.entry(main)
