"""Stage 1: RLVR, reinforcement learning with verifiable rewards (GRPO).

Each step draws `prompts` training problems, samples a group of `group` completions for each from
the current policy, and rewards each completion with the task's verifier: 1 for a finished
completion whose last line gives the right answer, 0 otherwise (a completion cut off at
max_new_tokens is rewarded 0 and counted). The advantage of a completion is its reward minus the
mean reward of its group, optionally divided by the group's standard deviation (GRPO; Dr. GRPO,
arXiv 2503.20783, drops the division). The loss is the token-level policy gradient

    - min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)  [+ beta * k3 KL to the initial policy]

over completion tokens and their EOS, normalised by the number of completion tokens in the whole
batch ("tokens") or by a constant, prompts x group x max_new_tokens ("constant"). With
`--updates 1` the ratio is 1 and this is plain REINFORCE with a group baseline; with more updates
per batch the ratio to the sampling policy is clipped as in PPO. A group whose completions all get
the same reward has advantage 0 and gives no gradient: it is logged (zero-variance share) and,
when beta = 0, not even run through the model.

    python rlvr.py --preset tiny                      # a few steps on the tiny base, in seconds
    python rlvr.py --seed 0                           # the default run, from the seed-0 base
    python rlvr.py --seed 0 --beta 0.1 --out runs/default/rlvr/seed0-kl

Writes under runs/<preset>/rlvr/seed<seed>/ (or --out): ckpt.pt (evaluate it with eval.py),
config.json, metrics.jsonl (one line per step), samples.txt (decoded samples every
`log_samples_every` steps), summary.json (update sparsity) and rl.png.
"""
import argparse
import copy
import dataclasses
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from tqdm import tqdm

import cli
import ddp
import lab
import rundir
from cli import option
from data import TASKS, CharTokenizer, verify
from data.core import all_steps_right
from data.world import sample_training_problem
from metrics import update_sparsity
from model import model_from_checkpoint, pick_device, save_checkpoint


# ---------------------------------------------------------------- the algorithm

REWARDS = ("correct", "steps", "format", "random")
NEWLINE = CharTokenizer().encode("\n")[0]  # ends a completion's first line, its plan (`plan_tokens`)


def reward_of(verdict, finished, kind, rng):
    """The reward of one sample: 1 or 0 by the verifier (`correct`, `steps`, `format`), or a coin
    flip (`random`), a spurious reward that must not depend on the sample at all: the coin is
    tossed for truncated samples too, which every other reward pays 0."""
    if kind == "random":
        return float(rng.random() < 0.5)
    if not finished:  # truncated: no answer line was written
        return 0.0
    if kind == "correct":
        return float(verdict.correct)
    if kind == "steps":  # a process check: the verifier also compares every step to the reference
        return float(verdict.correct and all_steps_right(verdict.steps_required, verdict.steps_correct,
                                                         verdict.steps_written))
    return float(verdict.well_formed)  # format


def group_advantages(rewards, scale_std):
    """rewards (P, G) -> advantages (P, G): reward - group mean [/ group std]. A group with one
    reward for all has advantage exactly 0."""
    adv = rewards - rewards.mean(1, keepdim=True)
    if scale_std:
        adv = adv / (rewards.std(1, keepdim=True) + 1e-4)
    return adv


def grpo_loss(logp, old_logp, ref_logp, adv, mask, config, denominator):
    """The clipped policy-gradient loss (+ beta * k3 KL) summed over tokens / denominator, with
    the clip fraction and mean KL for the log."""
    ratio = torch.exp(logp - old_logp)
    a = adv[:, None]
    clipped = ratio.clamp(1 - config.clip, 1 + config.clip)
    per_token = -torch.min(ratio * a, clipped * a)
    kl = None
    if ref_logp is not None:
        d = ref_logp - logp
        kl_tokens = torch.exp(d) - d - 1  # k3: an unbiased, non-negative estimate of KL(pi||ref)
        per_token = per_token + config.beta * kl_tokens
        kl = (kl_tokens * mask).sum() / mask.sum().clamp(min=1)
    loss = (per_token * mask).sum() / denominator
    clip_frac = (((ratio - clipped).abs() > 1e-6).float() * mask).sum() / mask.sum().clamp(min=1)
    return loss, clip_frac, kl


def token_logprobs(model, x, y, temperature=1.0):
    """Log-probability of each target token (0 where y is -1) under the distribution it was
    sampled from, softmax(logits / temperature), and those logits. In full precision, as the
    sampler runs: under bf16 autocast the ratio's two sides would be different distributions."""
    logits, _ = model(x)
    logits = logits.float() / temperature                                   # (B, T, vocab)
    nll = F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1), ignore_index=-1,
                          reduction="none")
    return -nll.view(y.shape), logits


# ---------------------------------------------------------------- settings

@dataclass
class RLConfig:
    preset: str = "default"
    seed: int = option(0, "seed of the RL run (its problems and samples); also picks the base", cli.seed)
    device: str = option("auto", "auto, cpu, cuda or mps")
    base: str = option("", "the checkpoint to start from (default runs/<preset>/pretrain/seed<seed>/ckpt.pt)", cli.path)
    steps: int = option(100, "RL steps", cli.positive_int)
    prompts: int = option(32, "problems per step", cli.positive_int)
    group: int = option(16, "samples per problem, G (>= 2)", cli.sample_count)
    temperature: float = option(1.0, "sampling temperature", cli.temperature)
    lr: float = option(3e-4, "AdamW learning rate (constant)", cli.learning_rate)
    weight_decay: float = option(0.0, "AdamW weight decay", cli.nonnegative_float)
    grad_clip: float = option(1.0, "gradient norm clip", cli.positive_float)
    scale_std: bool = option(True, "on (GRPO) or off (Dr. GRPO): divide advantages by the group std", cli.on_off)
    loss_norm: str = option("tokens", "tokens: mean over the batch's completion tokens; constant: "
                            "sum / (prompts x group x max new tokens)", choices=("tokens", "constant"))
    updates: int = option(1, "optimizer steps per sampled batch; > 1 uses the PPO clip", cli.positive_int)
    clip: float = option(0.2, "PPO clip epsilon", cli.positive_float)
    beta: float = option(0.0, "KL penalty to the initial policy, k3 estimator (0: no reference model)",
                         cli.nonnegative_float)
    max_new_tokens: int = option(0, "completion budget; longer samples are truncated and rewarded 0 "
                                 "(0: per problem, its longest reference chain + 8)", cli.positive_int)
    tasks: list = option(["addition"], "comma-separated training tasks", cli.task_list)
    min_level: int = option(1, "lowest difficulty trained on", cli.positive_int)
    max_level: int = option(0, "highest difficulty trained on (0: each task's highest pretrained level)",
                            cli.positive_int)
    reward: str = option("correct", "correct, steps (the right answer through a chain whose every step "
                         "is right; no chain, no reward), format (well-formed only) or random (a coin flip)",
                         choices=REWARDS)
    pool: int = option(0, "train on a fixed pool of N problems (0: fresh problems)", cli.nonnegative_int)
    level_weights: str = option("uniform", "how fresh problems' levels are drawn: uniform (every level "
                                "alike) or pretraining (at the base's pretraining weights, so the hardest "
                                "level stays as rare as the base saw it)", choices=("uniform", "pretraining"))
    snapshots: list = option([], "comma-separated steps at which a copy of the policy is kept as "
                             "step<N>.pt (to evaluate the run part-way)", cli.step_list)
    log_samples_every: int = option(25, "steps between decoded samples in samples.txt", cli.positive_int)
    checkpoint_every: int = option(25, "steps between checkpoints", cli.positive_int)


PRESETS = {
    "tiny": RLConfig(preset="tiny", steps=6, prompts=8, group=8, max_level=2, log_samples_every=3,
                     checkpoint_every=3, snapshots=[3]),
    # C1 reads the run at steps 10, 30, 60 and 100 (narrowing grows with RL's length, as in Yue et
    # al.'s figure); levels at the pretraining weights keep the hardest level as rare and rarely
    # rewarded as in pretraining. C2 reads the first 30 steps, where format collapse is complete
    "default": RLConfig(preset="default", steps=100, prompts=16, level_weights="pretraining",
                        snapshots=[10, 30, 60]),
    "large": RLConfig(preset="large"),
    "gpu": RLConfig(preset="gpu", steps=200, prompts=64, group=32),
}
cli.with_small(PRESETS)


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_config_options(p, RLConfig, PRESETS)
    cli.add_run_options(p, "rlvr")
    return p.parse_args(argv)


def check(config):
    """The settings no RL run can use, whoever built the config (this CLI or reproduce.py)."""
    for task in config.tasks:
        if task not in TASKS:
            raise cli.LabError(f"unknown task {task!r} in --tasks; choose from {', '.join(TASKS)}")
    if not config.tasks:
        raise cli.LabError("--tasks is empty; name at least one task, e.g. --tasks addition")
    if config.group < 2:
        raise cli.LabError(f"--group must be at least 2 (a group of {config.group} has no "
                           "baseline to compare against)")


def config_from_args(args):
    config = cli.config_from_args(PRESETS, args)
    check(config)
    if config.max_level and config.min_level > config.max_level:
        given = "--max-level" if args.max_level else f"the {config.preset} preset's --max-level"
        raise cli.LabError(f"--min-level ({config.min_level}) exceeds {given} ({config.max_level}); "
                           "lower it or raise --max-level")
    if not config.base:
        config.base = rundir.base_checkpoint(config.preset, config.seed)
    pick_device(config.device)
    return config


def default_out(preset, seed):
    return rundir.run_dir(preset, "rlvr", f"seed{seed}")


# ---------------------------------------------------------------- rollouts

def training_levels(config, world, option="--max-level"):
    """{task: [levels]} the RL data is drawn from (uniformly), checked against the base's world."""
    levels = {}
    for task in config.tasks:
        if task not in world.task_weights:
            raise cli.LabError(f"task {task!r} was not in the base model's pretraining mix "
                               f"({', '.join(world.task_weights)}); choose one of those")
        top = config.max_level or world.max_level(task)
        if top > world.max_level(task) + 2:
            raise cli.LabError(f"{option} {top} is far beyond the base's top {task} level "
                               f"{world.max_level(task)}; use at most {world.max_level(task) + 2} "
                               "(the levels of the length split)")
        if config.min_level > top:
            raise cli.LabError(f"--min-level {config.min_level} is above the top level {top} of {task}")
        levels[task] = list(range(config.min_level, top + 1))
    return levels


class ProblemSource:
    """Which problems each RL step trains on: fresh training problems (uniform over tasks and
    levels), or draws from a fixed pool of `config.pool` problems. `observe` is shown every
    step's rewards; this source ignores them, a curriculum (curriculum.py) uses them."""

    def __init__(self, config, world, levels, seed_text):
        self.config, self.world, self.levels = config, world, levels
        self.rng = random.Random(seed_text)
        self.pool = self.fresh(config.pool) if config.pool else None

    def fresh(self, count):
        out = []
        for _ in range(count):
            task = self.rng.choice(self.config.tasks)
            levels = self.levels[task]
            if self.config.level_weights == "pretraining":  # a level above the pretrained ones weighs as the top one
                w = self.world.difficulty_weights[task]
                level = self.rng.choices(levels, weights=[w[min(l, len(w)) - 1] for l in levels])[0]
            else:
                level = self.rng.choice(levels)
            out.append(sample_training_problem(self.world, self.rng, task, level))
        return out

    def draw(self):
        if self.pool:
            return [self.rng.choice(self.pool) for _ in range(self.config.prompts)]
        return self.fresh(self.config.prompts)

    def observe(self, problems, correct):
        """correct: (problems, group) booleans of this step's samples."""

    def state(self):
        return {"rng": self.rng.getstate()}

    def load(self, state):
        self.rng.setstate(state["rng"])


def plan_tokens(y, newline_id):
    """Where the chain's plan is chosen: the completion's first line, the format header ("column",
    "chunk", "direct") and its newline, as a 0/1 mask over the targets y (-1 outside the
    completion). The rest of the completion is execution: the steps and the answer."""
    completion = y != -1
    newline = (y == newline_id) & completion
    return (completion & (newline.cumsum(1) - newline.long() == 0)).float()


# ---------------------------------------------------------------- one GRPO step

class Sample(NamedTuple):
    """What every process needs to know about one sample: for the loss normaliser and the log."""
    prompt: int  # the prompt's index in the step's batch
    level: int
    reward: float
    correct: bool
    finished: bool
    format: str
    length: int  # completion tokens, the stop token included


def rollout_metrics(samples, group):
    """What an RL step logs about its samples: Sample tuples, `group` consecutive ones per prompt."""
    n = len(samples)
    rewards = torch.tensor([x.reward for x in samples]).view(n // group, group)
    record = {"reward": rewards.mean().item(), "reward_std": rewards.std().item(),
              "accuracy": sum(x.correct for x in samples) / n,
              "zero_variance_groups": (rewards.std(1) == 0).float().mean().item(),
              "length": sum(x.length for x in samples) / n,
              "truncated": 1 - sum(x.finished for x in samples) / n}
    formats = Counter(x.format for x in samples)
    record["formats"] = {f: c / n for f, c in sorted(formats.items())}
    by_format, levels = {}, {}
    for x in samples:
        by_format.setdefault(x.format, []).append(x.length)
        levels.setdefault(x.level, []).append(x.correct)
    record["length_by_format"] = {f: sum(v) / len(v) for f, v in sorted(by_format.items())}
    record["accuracy_by_level"] = {str(k): sum(v) / len(v) for k, v in sorted(levels.items())}
    return record


MICRO_BATCH = 32  # rows per forward/backward pass: bounds memory (128 rows peaked at 1.8-2.2 GB), same update


def policy_update(policy, reference, optimizer, x, y, adv, config, denominator, device, ranks=None):
    """`config.updates` optimizer steps on one batch of rollouts x, y with advantages adv (one
    per row). Gradients are accumulated over micro-batches of rows; since the loss is a sum over
    tokens divided by a fixed `denominator`, this gives the same update as one big batch, and
    summing the gradients of several processes (`ranks`) the update of all their rows.
    x may be None: a process with no rows still joins the sum. Returns the loss, gradient norm,
    clip fraction, KL and entropy of the last update; the entropy (of the sampling policy, over
    the rows updated) also apart on the plan tokens and the execution tokens (`plan_tokens`)."""
    policy.train()
    ranks = ranks or ddp.Ranks()
    rows = 0 if x is None else len(x)
    chunks = [slice(i, i + MICRO_BATCH) for i in range(0, rows, MICRO_BATCH)]
    ref = [None] * len(chunks)
    if reference is not None:
        with torch.no_grad():
            ref = [token_logprobs(reference, x[c], y[c], config.temperature)[0] for c in chunks]
    old, out = [None] * len(chunks), {}
    for _ in range(config.updates):
        total = {"loss": 0.0, "clip": 0.0, "kl": 0.0, "entropy": 0.0, "tokens": 0.0,
                 "entropy_plan": 0.0, "plan_tokens": 0.0}
        for j, c in enumerate(chunks):
            mask = (y[c] != -1).float()
            logp, logits = token_logprobs(policy, x[c], y[c], config.temperature)
            if old[j] is None:  # the sampling policy: the ratio is 1 on the first update
                old[j] = logp.detach()
                with torch.no_grad():
                    lp = F.log_softmax(logits.float(), -1)
                    entropy = -(lp.exp() * lp).sum(-1) * mask
                    plan = plan_tokens(y[c], NEWLINE)
                    total["entropy"] += entropy.sum().item()
                    total["entropy_plan"] += (entropy * plan).sum().item()
                    total["plan_tokens"] += plan.sum().item()
            loss, clip_frac, kl = grpo_loss(logp, old[j], ref[j], adv[c], mask, config, denominator)
            if not torch.isfinite(loss):
                raise cli.LabError(f"loss became {loss.item()}")
            loss.backward()
            n = mask.sum().item()
            total["tokens"] += n
            total["loss"] += loss.item()
            total["clip"] += clip_frac.item() * n
            total["kl"] += kl.item() * n if kl is not None else 0.0
        ranks.sum_gradients(policy)
        total = {k: sum(t[k] for t in ranks.gather(total)) for k in total}
        tokens = max(total["tokens"], 1.0)
        if "entropy" not in out:
            plan = total["plan_tokens"]
            out["entropy"] = total["entropy"] / tokens
            out["entropy_plan"] = total["entropy_plan"] / plan if plan else None
            out["entropy_execution"] = ((total["entropy"] - total["entropy_plan"]) / (total["tokens"] - plan)
                                        if total["tokens"] > plan else None)
        grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), config.grad_clip)
        if not torch.isfinite(grad_norm):
            raise cli.LabError(f"gradient norm became {grad_norm.item()}")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        out.update(loss=total["loss"], grad_norm=grad_norm.item(), clip_frac=total["clip"] / tokens,
                   kl=total["kl"] / tokens if reference is not None else None)
    return out


def rl_step(policy, reference, optimizer, problems, config, tokenizer, generator, reward_rng, device,
            ranks=ddp.Ranks()):
    """Sample groups, reward them, update the policy. Returns (metrics dict, rollouts).

    With several processes each samples the groups of its share of the prompts (whole groups, so
    group statistics are exact); the loss normaliser counts the tokens of all processes and the
    gradients are summed across them, so the update is the one of the whole batch."""
    G = config.group
    mine = list(range(ranks.rank, len(problems), ranks.size))  # this process's prompts
    local = [problems[i] for i in mine]
    outputs = lab.generate(policy, tokenizer, local, G, config.temperature, generator,
                           batch_rows=512, max_new_tokens=config.max_new_tokens or None,
                           with_ids=True)
    flat = [(prob, text, fin, ids) for prob, outs in zip(local, outputs) for text, fin, ids in outs]
    verdicts = [verify(prob, text) for prob, text, _, _ in flat]
    rewards = torch.tensor([reward_of(v, fin, config.reward, reward_rng)
                            for v, (_, _, fin, _) in zip(verdicts, flat)]).view(len(local), G)
    if not torch.isfinite(rewards).all():
        raise cli.LabError("a reward is not finite")
    adv = group_advantages(rewards, config.scale_std).view(-1)
    lengths = [len(ids) + fin for _, _, fin, ids in flat]
    correct = [bool(v.correct and fin) for v, (_, _, fin, _) in zip(verdicts, flat)]
    summary = [Sample(i, prob.difficulty, r, c, fin, v.format or "unknown", n)
               for i, (prob, _, fin, _), r, c, v, n in zip([i for i in mine for _ in range(G)], flat,
                                                           rewards.view(-1).tolist(), correct, verdicts, lengths)]
    everything = sorted((x for part in ranks.gather(summary) for x in part), key=lambda x: x.prompt)
    # the normaliser counts every completion token of the batch, zero-variance groups included
    if config.loss_norm == "tokens":
        denominator = float(sum(x.length for x in everything))
    else:
        budget = config.max_new_tokens or max(lab.completion_budget(p) for p in problems)
        denominator = float(len(problems) * G * budget)
    record = {**rollout_metrics(everything, G),
              "loss": 0.0, "grad_norm": 0.0, "entropy": None, "entropy_plan": None,
              "entropy_execution": None, "kl": None, "clip_frac": 0.0}
    # rows whose advantage is 0 give no policy gradient; without a KL term they are skipped
    keep = [i for i in range(len(flat)) if adv[i] != 0 or config.beta > 0]
    prompt_ids = [[tokenizer.bos_id, *tokenizer.encode(prob.prompt)] for prob, _, _, _ in flat]
    if any(ranks.gather(bool(keep))):  # every process takes part in the update, even with no rows
        x, y = lab.completion_rows(tokenizer, [prompt_ids[i] for i in keep], [flat[i][3] for i in keep],
                                   [flat[i][2] for i in keep], device) if keep else (None, None)
        record.update(policy_update(policy, reference, optimizer, x, y, adv[keep].to(device),
                                    config, denominator, device, ranks))
    rollouts = [(prob, text, r, c) for (prob, text, _, _), r, c in zip(flat, rewards.view(-1).tolist(), correct)]
    all_correct = torch.tensor([x.correct for x in everything]).view(len(problems), G)
    return record, rollouts, all_correct


# ---------------------------------------------------------------- the run

def plot_rl_run(metrics, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [m["step"] for m in metrics]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    axes[0].plot(steps, [m["reward"] for m in metrics], label="reward")
    axes[0].plot(steps, [m["zero_variance_groups"] for m in metrics], label="zero-variance groups")
    axes[0].set_xlabel("RL step")
    axes[0].legend()
    formats = sorted({f for m in metrics for f in m["formats"]})
    for f in formats:
        axes[1].plot(steps, [m["formats"].get(f, 0.0) for m in metrics], label=f)
    axes[1].set_ylabel("share of samples")
    axes[1].set_xlabel("RL step")
    axes[1].set_ylim(0, 1)
    axes[1].legend()
    axes[2].plot(steps, [m["length"] for m in metrics])
    axes[2].set_ylabel("mean completion length (tokens)")
    axes[2].set_xlabel("RL step")
    # the essays' two phases of RL learning (execution entropy settles first, then the plan's
    # rises): whether they show here is read from this panel
    for key, label in (("entropy_plan", "plan (format header)"), ("entropy_execution", "execution (steps, answer)")):
        points = [(m["step"], m[key]) for m in metrics if m.get(key) is not None]
        axes[3].plot([p[0] for p in points], [p[1] for p in points], label=label)
    axes[3].set_ylabel("entropy per token (nats)")
    axes[3].set_xlabel("RL step")
    axes[3].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(config, out, resume_from=None, quiet=False, source=None):
    """Run GRPO from the base checkpoint; returns the path of the final checkpoint.
    source: a ProblemSource class (default: fresh problems or a fixed pool)."""
    rank, size, device = ddp.distributed(pick_device(config.device))
    ranks = ddp.Ranks(rank, size)
    if config.prompts % size:
        raise cli.LabError(f"--prompts {config.prompts} must be a multiple of the number of "
                           f"processes ({size})")
    lead = rank == 0  # the one process that writes and prints
    quiet = quiet or not lead
    tokenizer = CharTokenizer()
    base, world = rundir.load_trained(config.base)
    levels = training_levels(config, world)
    torch.manual_seed(config.seed)
    policy = model_from_checkpoint(base, device, config.base)
    initial = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    reference = None
    if config.beta > 0:
        reference = copy.deepcopy(policy).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, betas=(0.9, 0.95),
                                  weight_decay=config.weight_decay)
    source = (source or ProblemSource)(config, world, levels, f"rlvr:{config.seed}")
    # each process samples its own prompts with its own random streams (rank 0: as when alone)
    reward_rng = random.Random(f"rlvr-reward:{config.seed}" + (f":{rank}" if rank else ""))
    generator = torch.Generator(device=device).manual_seed(config.seed + 1000 * rank)
    state = lab.RunState(step=0)
    if resume_from:
        payload = rundir.restore(resume_from, policy, optimizer, state)
        source.load(payload["rng"]["data"])
        if len(payload["rng"]["sample"]) != size:
            raise cli.LabError(f"{resume_from} was saved by {len(payload['rng']['sample'])} "
                               f"process(es); resume it with as many")
        reward_rng.setstate(payload["rng"]["reward"][rank])
        generator.set_state(payload["rng"]["sample"][rank])
    log = lab.open_log(out, dataclasses.asdict(config), state.step, resume_from, lead)
    samples_file = open(os.path.join(out, "samples.txt") if lead else os.devnull,
                        "a" if resume_from else "w")
    ckpt_path = os.path.join(out, "ckpt.pt")

    def checkpoint(state, finished):
        rng = {"data": source.state(), "reward": ranks.gather(reward_rng.getstate()),
               "sample": ranks.gather(generator.get_state())}  # every process's streams
        if not lead:
            return
        save_checkpoint(ckpt_path, rundir.checkpoint_payload(
            "rlvr", policy.state_dict(), base["model_config"], base["world"], dataclasses.asdict(config),
            optimizer=optimizer.state_dict(), step=state.step, finished=finished, rng=rng))

    def train_step(state):
        at = state.step
        problems = source.draw()
        try:
            record, rollouts, correct = rl_step(policy, reference, optimizer, problems, config,
                                                tokenizer, generator, reward_rng, device, ranks)
            source.observe(problems, correct)
        except cli.LabError as e:
            kept = (f"the last good checkpoint {ckpt_path} is kept" if os.path.exists(ckpt_path)
                    else "no checkpoint was saved yet")
            raise cli.LabError(f"{e} at RL step {at + 1}; {kept}. Try a lower --lr") from None
        step = state.step = at + 1
        if step in config.snapshots and step < config.steps and lead:  # the run part-way, for evaluation
            save_checkpoint(os.path.join(out, f"step{step}.pt"), rundir.checkpoint_payload(
                "rlvr", policy.state_dict(), base["model_config"], base["world"], dataclasses.asdict(config),
                step=step, finished=True, snapshot=True))
        if step % config.log_samples_every == 0 or step == 1:
            shown = [rollouts[i] for i in range(0, len(rollouts), max(1, len(rollouts) // 3))][:3]
            samples_file.write(f"--- step {step}\n" + "".join(
                f"{p.prompt}{text}\n  -> reward {r:.0f}\n" for p, text, r, _ in shown))
            samples_file.flush()
            if not quiet:
                p, text, r, _ = shown[0]
                tqdm.write(f"step {step} sample: {p.prompt.strip()} | "
                           f"{text.replace(chr(10), ' / ')} | reward {r:.0f}")
        return {"step": step, **record, "seconds": time.time() - started}

    def postfix(record):
        top = max(record["formats"].items(), key=lambda kv: kv[1])
        return {"reward": f"{record['reward']:.2f}", "zero_var": f"{record['zero_variance_groups']:.2f}",
                "len": f"{record['length']:.1f}", "top": f"{top[0]}:{top[1]:.2f}"}

    if not quiet:
        print(f"RLVR (GRPO) on {device}: {config.steps} steps x {config.prompts} prompts x "
              f"{config.group} samples, tasks {','.join(config.tasks)} levels "
              f"{ {t: f'{l[0]}-{l[-1]}' for t, l in levels.items()} }, beta {config.beta}, "
              f"from {config.base} -> {out}")
    started = time.time()
    # several processes cannot agree on a state mid-step: on Ctrl-C they keep the last checkpoint
    lab.training_loop(state, config.steps, train_step, checkpoint, ckpt_path, log,
                      config.checkpoint_every, "rlvr", quiet, postfix, save_on_interrupt=size == 1,
                      lead=lead)
    samples_file.close()
    if lead:
        metrics = log.records()
        rundir.write_json(os.path.join(out, "summary.json"), {
            "steps": state.step, "update_share": update_sparsity(initial, policy.state_dict()),
            "final_formats": metrics[-1]["formats"] if metrics else {}})
        plot_rl_run(metrics, os.path.join(out, "rl.png"), f"RLVR, preset {config.preset}, seed {config.seed}")
    ddp.end_distributed(size)
    return ckpt_path


def main(argv=None):
    args = parse_args(argv)
    config = config_from_args(args)
    out = args.out or default_out(config.preset, config.seed)
    resume_from = rundir.prepare_out_dir(out, dataclasses.asdict(config), args.resume, args.force,
                                      inputs=(config.base,))
    path = train(config, out, resume_from)
    if os.environ.get("RANK", "0") == "0":
        print(f"done: {path}\nevaluate it with: python eval.py --checkpoint {path}")


if __name__ == "__main__":
    cli.entry(main)
