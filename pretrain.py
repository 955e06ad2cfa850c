"""Stage 0: pretrain a small GPT from scratch on the task world's mixture.

Next-token prediction on rendered problems (prompt, then a chain of thought in one of several
formats, then `ans <answer>`), with the loss on the generated part only: the completion and its
EOS. Examples are packed whole into rows of `seq_len` tokens. AdamW, linear warm-up then cosine
decay, gradient clipping; every `eval_every` steps the held-out loss and greedy accuracy by task
and difficulty are logged. With `--until-loss L` the model sets the length: the rate holds until
the mean training loss of the last 50 steps is at most L, then decays, so a seed that learns
late trains longer instead of ending undertrained.

The base model this produces is what every post-training stage starts from. It is tuned (see
docs/log/experiments.md) so that easy levels are solved, the hardest trained addition level is hard
but not impossible (pass@1 0.1-0.4, but solved at least once in 256 samples), and each format is
used about as often as the mix says: the raw material that RLVR and distillation then reshape.

    python pretrain.py --preset tiny          # ~20 s: a toy model, for tests and the notebook
    python pretrain.py                        # the default preset (the study's base model)
    python pretrain.py --format-mix column=0.8,chunk=0.1,direct=0.1 --out runs/mix80

Writes under runs/<preset>/pretrain/seed<seed>/ (or --out): ckpt.pt, config.json, metrics.jsonl,
loss.png.
"""
import argparse
import collections
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

import cli
import ddp
import lab
import rundir
from cli import option
from data import CharTokenizer, eval_problems, sample_training_text, verify, world_from_options
from data.world import SPLITS, World
from model import GPT, GPTConfig, autocast, pick_device, save_checkpoint


LOSS_WINDOW = 50  # steps whose mean training loss --until-loss compares (one step's loss is noisy)


@dataclass
class PretrainConfig:
    preset: str = "default"
    seed: int = option(0, "seed of the model's initialisation and of the data", cli.seed)
    device: str = option("auto", "auto (cuda, then mps, then cpu), cpu, cuda or mps")
    # model
    n_layer: int = option(4, "transformer blocks", cli.positive_int)
    n_head: int = option(4, "attention heads", cli.positive_int)
    n_embd: int = option(128, "width of the residual stream", cli.positive_int)
    seq_len: int = option(256, "tokens per packed training row; also the model's context", cli.positive_int)
    # optimisation
    steps: int = option(1000, "optimizer steps", cli.positive_int)
    batch_size: int = option(32, "rows per step", cli.positive_int)
    lr: float = option(3e-3, "peak AdamW learning rate", cli.learning_rate)
    min_lr: float = option(3e-4, "learning rate at the end of the decay", cli.min_learning_rate)
    warmup: int = option(100, "steps of linear warm-up", cli.nonnegative_int)
    decay: float = option(0.3, "share of the steps after warm-up spent in the cosine decay; before "
                          "it the rate holds at --lr (1.0: decay all the way)", cli.fraction)
    until_loss: float = option(0.0, "a length set by the model, not the clock: hold --lr until the "
                               f"mean training loss of the last {LOSS_WINDOW} steps is at most this, "
                               "then decay and stop; --steps is then the most steps (0: exactly --steps)",
                               cli.nonnegative_float)
    weight_decay: float = option(0.1, "AdamW weight decay of the matrices", cli.nonnegative_float)
    grad_clip: float = option(1.0, "gradient norm clip", cli.positive_float)
    # evaluation during training
    eval_every: int = option(250, "steps between held-out evaluations (and checkpoints)", cli.positive_int)
    eval_per_level: int = option(16, "problems per task and level in those evaluations", cli.per_level)
    # the world (None: the World defaults); set with --tasks, --format-mix, --difficulty-weights
    world: dict = field(default_factory=lambda: World().to_dict())


# The `gpu` model learns every level of the default world (6-digit pass@1024 1.00), so its world
# goes to 8 digits with the top level rarer still (docs/log/experiments.md, 2026-11-26: with the
# 6-digit world it had nothing left to learn, so no narrowing could show).
GPU_ADDITION_WEIGHTS = [0.25, 0.25, 0.2, 0.15, 0.1, 0.03, 0.015, 0.005]
PRESETS = {
    "tiny": PretrainConfig(preset="tiny", n_layer=2, n_head=2, n_embd=64, seq_len=160, steps=300,
                           batch_size=16, warmup=20, eval_every=100, eval_per_level=4),
    # rows of 128 tokens: the longest evaluated problem needs 120, and a step of 64 x 128 trains
    # 1.2x faster per token than 32 x 256 on 2 CPU cores. The length is the model's: at a fixed
    # 800 steps one seed in four ended well trained and three about 150 steps behind it, one
    # with no 6-digit problem solved in 64 samples (docs/log/experiments.md, 2026-12-02), so
    # pretraining now stops when its loss reaches a target
    "default": PretrainConfig(preset="default", seq_len=128, steps=1200, warmup=50, decay=0.2,
                              until_loss=0.17, eval_every=400),
    # the older, larger study: rows of 256 tokens, a fixed 1000 steps
    "large": PretrainConfig(preset="large"),
    "gpu": PretrainConfig(preset="gpu", n_layer=6, n_head=6, n_embd=192, steps=3000, batch_size=64,
                          world=World(difficulty_weights={**World().difficulty_weights,
                                                          "addition": GPU_ADDITION_WEIGHTS}).to_dict()),
}
cli.with_small(PRESETS)


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_config_options(p, PretrainConfig, PRESETS)
    add_world_options(p)
    cli.add_run_options(p, "pretrain")
    return p.parse_args(argv)


def add_world_options(parser):
    """The options that change the world (its text is checked by `checked`): here and in reproduce.py."""
    parser.add_argument("--tasks", help="task weights, e.g. addition=0.6,modular=0.2,chain=0.2")
    parser.add_argument("--format-mix", help="format weights, e.g. column=0.45,chunk=0.35,direct=0.2")
    parser.add_argument("--difficulty-weights",
                        help="per-level weights, e.g. addition=1:1:2:2:3:1 (the list's length is the top level)")


def config_from_args(args):
    return checked(cli.config_from_args(PRESETS, args), args.tasks, args.format_mix, args.difficulty_weights)


def checked(config, tasks=None, format_mix=None, difficulty_weights=None):
    """`config` with its world changed by the world options (text as typed: --tasks,
    --format-mix, --difficulty-weights; None keeps the preset's), after the checks no run can
    pass: whoever built it, this CLI or reproduce.py."""
    config.world = world_from_options(tasks, format_mix, difficulty_weights, base=config.world).to_dict()
    if config.n_embd % config.n_head or (config.n_embd // config.n_head) % 2:
        raise cli.LabError(f"--n-embd ({config.n_embd}) must be a multiple of --n-head "
                           f"({config.n_head}) with an even head size (RoPE rotates pairs)")
    pick_device(config.device)  # fail now, not after the output directory is touched
    if config.min_lr > config.lr:
        raise cli.LabError(f"--min-lr ({config.min_lr}) must not exceed --lr ({config.lr})")
    need, problem = longest_problem(World(**config.world))
    if need > config.seq_len:
        raise cli.LabError(f"the context of {config.seq_len} tokens (--seq-len) is too short for this world: its {problem.task} "
                           f"problems of level {problem.difficulty}, which the evaluation uses, need "
                           f"{need} tokens; give pretrain.py --seq-len {need} or more, or train fewer levels "
                           "with --difficulty-weights")
    return config


def longest_problem(world):
    """(tokens, problem): the evaluation problem (of any split) that needs the most context,
    prompt and longest answer together; the model must read that many."""
    tokenizer = CharTokenizer()
    problems = [p for split in SPLITS for p in eval_problems(world, split, 2)]
    need = lambda p: lab.context_needed(tokenizer, p)
    longest = max(problems, key=need)
    return need(longest), longest


def default_out(preset, seed):
    return rundir.run_dir(preset, "pretrain", f"seed{seed}")


def training_examples(world, tokenizer, rng):
    """An endless stream of (tokens, is_target) from the training mixture."""
    while True:
        yield lab.example_tokens(tokenizer, *sample_training_text(world, rng))


def held_out_batch(world, tokenizer, config):
    """A fixed batch of test-region problems, rendered in mix formats: the held-out loss."""
    import data.world as W
    rng = random.Random(f"heldout:{config.seed}")
    formats_rng = random.Random(1)
    problems = eval_problems(world, "id", 8, seed=config.seed)

    def examples():
        while True:
            p = problems[rng.randrange(len(problems))]
            formats, weights = world.format_weights(p.task)
            fmt = formats_rng.choices(formats, weights=weights)[0]
            yield lab.example_tokens(tokenizer, p.prompt, W.TASKS[p.task].render_completion(p, fmt))
    x, y = lab.pack_rows(examples(), 8, config.seq_len, tokenizer.pad_id)
    return x, y


@torch.no_grad()
def evaluate(model, world, tokenizer, config, device, heldout):
    """Held-out loss and greedy accuracy by task and level."""
    model.eval()
    x, y = heldout
    with autocast(device):
        _, loss = model(x.to(device), y.to(device))
    problems = eval_problems(world, "id", config.eval_per_level, seed=config.seed)
    outputs = lab.generate(model, tokenizer, problems, 1, temperature=0.0)
    accuracy = {}
    for problem, [(text, finished)] in zip(problems, outputs):
        accuracy.setdefault(f"{problem.task}/{problem.difficulty}", []).append(
            finished and verify(problem, text).correct)
    model.train()
    return {"heldout_loss": loss.item(),
            "greedy": {k: sum(v) / len(v) for k, v in sorted(accuracy.items())}}


def plot_loss(metrics, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [m["step"] for m in metrics if "loss" in m]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [m["loss"] for m in metrics if "loss" in m], lw=0.8, label="train")
    evals = [m for m in metrics if "heldout_loss" in m]
    ax.plot([m["step"] for m in evals], [m["heldout_loss"] for m in evals], "o-", label="held-out")
    ax.set(xlabel="step", ylabel="loss (nats/token, completion only)", yscale="log", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(config, out, resume_from=None, quiet=False):
    """Pretrain; returns the path of the final checkpoint.

    Under torchrun every rank builds the same global batch and trains on its share of the rows;
    DistributedDataParallel averages the gradients. The loss is summed over a rank's tokens and
    divided by the global batch's token count, so the result equals a single process training
    on the whole batch. Only rank 0 writes, evaluates and prints."""
    device = pick_device(config.device)
    rank, world_size, device = ddp.distributed(device)
    if config.batch_size % world_size:
        raise cli.LabError(f"--batch-size {config.batch_size} must be a multiple of the number of "
                           f"processes ({world_size})")
    lead = rank == 0  # the one process that writes, evaluates and prints
    quiet = quiet or not lead
    world = World(**config.world)
    tokenizer = CharTokenizer()
    torch.manual_seed(config.seed)
    model_config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=config.seq_len,
                             n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd)
    model = GPT(model_config).to(device)
    net = model  # what the training step calls: the model, or its DDP wrapper
    if world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=config.lr, betas=(0.9, 0.95), fused=device == "cuda")
    data_rng = random.Random(f"pretrain:{config.seed}")
    # --until-loss: the last step, `end`, moves to (where the loss first reached the target) + the
    # decay; `recent` holds the last losses that decide it, `data` the data position
    state = lab.RunState(step=0, end=config.steps, recent=collections.deque(maxlen=LOSS_WINDOW))
    decay_steps = lab.decay_length(config)
    if resume_from:
        payload = rundir.restore(resume_from, model, optimizer, state)
        state.end = payload.get("end", config.steps)
        state.recent.extend(payload.get("recent", []))
        data_rng.setstate(payload["rng"]["data"])
        torch.set_rng_state(payload["rng"]["torch"])
    examples = training_examples(world, tokenizer, data_rng)
    state.data = data_rng.getstate()  # the data position at the last completed step
    heldout = held_out_batch(world, tokenizer, config)
    log = lab.open_log(out, dataclasses.asdict(config), state.step, resume_from, lead)
    ckpt_path = os.path.join(out, "ckpt.pt")

    def checkpoint(state, finished):
        if not lead:
            return
        save_checkpoint(ckpt_path, rundir.checkpoint_payload(
            "pretrain", model.state_dict(), dataclasses.asdict(model_config), config.world, dataclasses.asdict(config),
            optimizer=optimizer.state_dict(), step=state.step, finished=finished, end=state.end,
            recent=list(state.recent), rng={"data": state.data, "torch": torch.get_rng_state()}))

    def train_step(state):
        at = state.step
        lr = lab.learning_rate_at(at, config, state.end)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = lab.pack_rows(examples, config.batch_size, config.seq_len, tokenizer.pad_id)
        targets = (y != -1).sum().item()  # of the global batch
        rows = slice(rank * config.batch_size // world_size, (rank + 1) * config.batch_size // world_size)
        x, y = x[rows].to(device), y[rows].to(device)
        with autocast(device):
            _, loss_sum = net(x, y, loss_reduction="sum")
        (loss_sum * world_size / targets).backward()  # DDP divides the summed gradients by world_size
        loss = loss_sum.detach() / targets
        if world_size > 1:
            torch.distributed.all_reduce(loss)
        if not torch.isfinite(loss):
            raise cli.LabError(f"loss became {loss.item()} at step {at + 1}; the last good "
                               f"checkpoint is kept. Try a lower --lr")
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step = state.step = at + 1
        state.data = data_rng.getstate()
        state.tokens_seen += x.numel() * world_size
        record = {"step": step, "loss": loss.item(), "lr": lr, "grad_norm": grad_norm.item(),
                  "tokens_per_s": state.tokens_seen / (time.time() - started)}
        state.recent.append(record["loss"])
        mean = sum(state.recent) / len(state.recent)
        if (config.until_loss and state.end == config.steps and step >= config.warmup
                and len(state.recent) == LOSS_WINDOW and mean <= config.until_loss
                and step + decay_steps < config.steps):
            state.end = step + decay_steps  # the target is reached: decay from here, then stop
            record["decay_from"] = step
            if not quiet:
                tqdm.write(f"step {step}: mean training loss of the last {LOSS_WINDOW} steps "
                           f"{mean:.4f} <= {config.until_loss}: the rate decays "
                           f"from here and training stops at step {state.end}")
        if lead and (step % config.eval_every == 0 or step == state.end):
            record.update(evaluate(model, world, tokenizer, config, device, heldout))
            if not quiet:
                greedy = " ".join(f"{k}:{v:.2f}" for k, v in record["greedy"].items())
                tqdm.write(f"step {step}: held-out loss {record['heldout_loss']:.4f} | greedy {greedy}")
        return record

    if not quiet:
        print(f"pretraining {model.num_params() / 1e6:.2f}M parameters on {device} for "
              + (f"until the mean loss is {config.until_loss} (then {decay_steps} steps of decay), at most "
                 if config.until_loss else "")
              + f"{config.steps} steps x {config.batch_size} rows x {config.seq_len} tokens -> {out}")
    model.train()
    started, state.tokens_seen = time.time(), 0
    lab.training_loop(state, lambda: state.end, train_step, checkpoint, ckpt_path, log, config.eval_every,
                      "pretrain", quiet, lead=lead,
                      postfix=lambda r: {"loss": f"{r['loss']:.4f}", "tok_s": f"{r['tokens_per_s']:.0f}"})
    if lead:
        plot_loss(log.records(), os.path.join(out, "loss.png"),
                  f"pretraining, preset {config.preset}, seed {config.seed}")
    ddp.end_distributed(world_size)
    return ckpt_path


def main(argv=None):
    args = parse_args(argv)
    config = config_from_args(args)
    out = args.out or default_out(config.preset, config.seed)
    resume_from = rundir.prepare_out_dir(out, dataclasses.asdict(config), args.resume, args.force)
    lead = os.environ.get("RANK", "0") == "0"
    if lead:
        print("config:", json.dumps(dataclasses.asdict(config)))
    path = train(config, out, resume_from)
    if lead:
        print(f"checkpoint: {path}")


if __name__ == "__main__":
    cli.entry(main)
