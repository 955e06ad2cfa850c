"""The loop, the batches and the generation every stage shares.

- `training_loop`: the skeleton of every training stage (resume, log, checkpoints, Ctrl-C, the
  progress bar) and its learning-rate schedule;
- `example_tokens`, `pack_rows`: prompt + completion examples packed into rows, the loss on the
  completion only;
- `generate`: n completions for each of a list of problems, in batches, with the KV cache;
  `completion_rows`, `completion_logprob`: prompt + completion rows, and how likely a model
  finds given completions.

The command line is in cli.py, run directories in rundir.py, data-parallel ranks in ddp.py.
"""
import ctypes
import math
import os
import sys
from types import SimpleNamespace

import torch

from cli import LabError, exit_interrupted
from rundir import JsonlLog, trim_log, write_json


def fix_mkl_threads(dynamic=False):
    """Forbid MKL, which runs torch's matrix products on x86 CPUs, to use fewer threads than
    torch asks for. Its "dynamic" mode (on by default) may decide so at run time, and the number
    of threads decides how a product's sums are split, hence the last bits of a gradient: two
    identical pretraining runs differed in the seventh digit of the loss at step 6 (2 of about 75
    runs here; the same value as a run with MKL held to one thread). With the mode off MKL runs
    every product on the threads it is given: the usual numbers, every time, for about 6% of the
    speed of a 2-thread process (nothing in a 1-thread one). MKL reads MKL_DYNAMIC only when torch
    loads it, so this flips its switch directly; where torch has no MKL, it does nothing.
    dynamic=True turns MKL's default back on (the control of the test that checks this)."""
    if not torch.backends.mkl.is_available():
        return
    try:
        library = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
        ctypes.CDLL(library).MKL_Set_Dynamic(int(dynamic))
    except (OSError, AttributeError):  # another platform's build: MKL linked in another library
        pass


fix_mkl_threads()


# ---------------------------------------------------------------- the learning-rate schedule

def decay_length(config):
    """Steps of the cosine decay: the `decay` share of the steps after warm-up (at least 1)."""
    return max(1, round(config.decay * (config.steps - config.warmup)))


def learning_rate_at(step, config, end=None):
    """Linear warm-up, hold at lr, then cosine decay to min_lr over the last `decay` share.
    end: the last step of a run that stops before config.steps (pretrain.py --until-loss); the
    decay keeps its length and ends there."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    decay_steps = decay_length(config)
    progress = max(0.0, (step - ((end or config.steps) - decay_steps)) / decay_steps)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


# ---------------------------------------------------------------- the training loop every stage shares

def open_log(out, config, step, resume_from, lead=True):
    """Write config.json and open metrics.jsonl; on resume, first drop the log lines written after
    the checkpoint by the run that was killed. Only the lead process writes (others get devnull)."""
    path = os.path.join(out, "metrics.jsonl")
    if lead:
        write_json(os.path.join(out, "config.json"), config)
        if resume_from:
            trim_log(path, step)
    return JsonlLog(path if lead else os.devnull, append=resume_from is not None)


class RunState(SimpleNamespace):
    """Where a training run is: its step, and whatever else it must save to continue exactly
    (the data position, ...). The loop hands it to the stage's step and checkpoint functions."""


def training_loop(state, steps, train_step, checkpoint, ckpt_path, log, checkpoint_every, desc,
                  quiet=False, postfix=None, save_on_interrupt=True, lead=True):
    """The skeleton of every training stage: call `train_step(state)` (one optimizer step: it
    advances `state.step` and returns the step's log record) until `steps`; log each record;
    `checkpoint(state, finished)` every `checkpoint_every` steps (not the last: that one is saved
    finished) and on Ctrl-C, then exit with advice on how to continue; a progress bar with
    `postfix(record)` beside it. `steps` may be a function: a last step that training moves
    (pretrain.py --until-loss). Returns the last step."""
    from tqdm import tqdm
    last = steps if callable(steps) else lambda: steps
    bar = tqdm(total=last(), initial=state.step, desc=desc, disable=quiet, dynamic_ncols=True, mininterval=2.0)
    try:
        while state.step < last():
            record = train_step(state)
            step = state.step
            log.write(record)
            bar.total = last()
            if step % checkpoint_every == 0 and step < last():
                checkpoint(state, finished=False)  # a killed run resumes from here
            if postfix:  # shown at the bar's next redraw (at most every 2 s), not redrawn now:
                bar.set_postfix(postfix(record), refresh=False)  # a notebook keeps every redraw
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        if save_on_interrupt:
            checkpoint(state, finished=False)
        log.close()
        if lead:
            exit_interrupted(f"{desc} step {state.step}", ckpt_path)
        sys.exit(130)
    bar.close()
    checkpoint(state, finished=True)
    log.close()
    return state.step


# ---------------------------------------------------------------- batches of examples

def example_tokens(tokenizer, prompt, completion):
    """[BOS] prompt completion [EOS], and per token whether predicting it carries loss
    (completion and EOS: yes; BOS and prompt: no, they are given, not generated)."""
    p, c = tokenizer.encode(prompt), tokenizer.encode(completion)
    tokens = [tokenizer.bos_id, *p, *c, tokenizer.eos_id]
    is_target = [False] * (1 + len(p)) + [True] * (len(c) + 1)
    return tokens, is_target


def pack_rows(examples, rows, seq_len, pad_id):
    """Fill `rows` rows of `seq_len` inputs (+1 for the shifted targets) with examples drawn in
    order from `examples` (an iterator of (tokens, is_target)); the example that reaches the end
    of a row is cut there. Returns x, y of shape (rows, seq_len); y is -1 where no loss.

    Why cut rather than carry the example over to the next row: a carried example is one that did
    not fit, so it is more often a long one, and rows would start with long chain-of-thought
    formats more often than the mix says. The model notices (measured: it sampled `direct` 11%
    of the time instead of 20% when prompted alone, as at evaluation). Cutting keeps the format
    of an example independent of where it sits in its row.
    """
    x = torch.full((rows, seq_len + 1), pad_id, dtype=torch.long)
    keep = torch.zeros((rows, seq_len + 1), dtype=torch.bool)
    for r in range(rows):
        used = 0
        while used < seq_len + 1:
            tokens, is_target = next(examples)
            n = min(len(tokens), seq_len + 1 - used)
            x[r, used:used + n] = torch.tensor(tokens[:n])
            keep[r, used:used + n] = torch.tensor(is_target[:n])
            used += n
    y = torch.where(keep[:, 1:], x[:, 1:], -1)
    return x[:, :-1].contiguous(), y.contiguous()


# ---------------------------------------------------------------- generation for a list of problems

def completion_budget(problem, margin=8):
    """max_new_tokens for a problem: its longest reference completion (any format) + a margin."""
    from data.world import TASKS
    module = TASKS[problem.task]
    return max(len(module.render_completion(problem, f)) for f in module.FORMATS) + 1 + margin


def context_needed(tokenizer, problem, budget=None):
    """Tokens the model must read to answer `problem`: BOS, the prompt and the answer budget
    (default its `completion_budget`). The context check of pretraining and of sampling."""
    return 1 + len(tokenizer.encode(problem.prompt)) + (budget or completion_budget(problem))


def generate(model, tokenizer, problems, samples_per_problem, temperature=1.0, generator=None,
             batch_rows=256, progress=None, max_new_tokens=None, with_ids=False, cache_dtype=None):
    """Sample `samples_per_problem` completions for every problem, in batches of `batch_rows`.

    Returns, per problem, a list of (completion text, finished) pairs, or (text, finished,
    token ids) with `with_ids`. max_new_tokens: one budget for all; default per problem, its
    `completion_budget`, which each row keeps however the rows are chunked. cache_dtype: the
    precision of model.sample's cache (default the model's own). This is the one sampling entry
    point of the stage scripts: evaluation, periodic greedy checks and RL rollouts.
    """
    from model import sample
    prompts = [[tokenizer.bos_id, *tokenizer.encode(p.prompt)] for p in problems]
    budgets = [max_new_tokens or completion_budget(p) for p in problems]
    for p, ids, budget in zip(problems, prompts, budgets):
        need = context_needed(tokenizer, p, budget)
        if need > model.config.block_size:
            fix = ("lower --max-new-tokens" if max_new_tokens else
                   "pretrain with a longer --seq-len, or leave out the levels that do not fit")
            raise LabError(f"{p.task} problems of level {p.difficulty} need {need} tokens "
                           f"({len(ids)} of prompt, up to {budget} of answer) but the model reads at most "
                           f"{model.config.block_size}; {fix}")
    jobs = [i for i in range(len(problems)) for _ in range(samples_per_problem)]
    results = [[] for _ in problems]
    for start in range(0, len(jobs), batch_rows):
        chunk = jobs[start:start + batch_rows]
        out = sample(model, [prompts[i] for i in chunk], [budgets[i] for i in chunk], tokenizer.eos_id,
                     tokenizer.pad_id, temperature=temperature, generator=generator, cache_dtype=cache_dtype)
        for i, ids, finished in zip(chunk, out.completions, out.finished):
            text = tokenizer.decode(ids)
            results[i].append((text, finished, ids) if with_ids else (text, finished))
        if progress is not None:
            progress.update(len(chunk))
    return results


def completion_rows(tokenizer, prompt_ids, completion_ids, finished, device):
    """Right-padded [BOS] prompt completion [EOS] rows, as inputs x and shifted targets y: the
    completion's tokens and the EOS of a finished completion, -1 elsewhere (prompt, padding).
    prompt_ids start with BOS. What RL updates on and `completion_logprob` scores."""
    rows, targets = [], []
    for p, c, f in zip(prompt_ids, completion_ids, finished):
        generated = list(c) + ([tokenizer.eos_id] if f else [])
        rows.append(p + generated)
        targets.append([-1] * (len(p) - 1) + generated)
    T = max(len(r) for r in rows)
    x = torch.full((len(rows), T), tokenizer.pad_id, dtype=torch.long)
    y = torch.full((len(rows), T), -1, dtype=torch.long)
    for i, (r, t) in enumerate(zip(rows, targets)):
        x[i, :len(r)] = torch.tensor(r)
        y[i, :len(t)] = torch.tensor(t)
    return x[:, :-1].to(device), y[:, :-1].to(device)


@torch.no_grad()
def completion_logprob(model, tokenizer, pairs, batch_rows=64):
    """Mean log-probability per token (EOS included) that `model` gives each completion of
    (prompt, completion) text pairs, at temperature 1: how far a completion lies inside the
    model's own distribution (a base's likelihood of what RL wrote, beside its own samples)."""
    model.eval()
    device = model.rope.device
    scores = []
    for start in range(0, len(pairs), batch_rows):
        chunk = pairs[start:start + batch_rows]
        x, y = completion_rows(tokenizer, [[tokenizer.bos_id, *tokenizer.encode(p)] for p, _ in chunk],
                               [tokenizer.encode(c) for _, c in chunk], [True] * len(chunk), device)
        logits, _ = model(x)
        logp = torch.log_softmax(logits.float(), -1).gather(-1, y.clamp(min=0)[..., None])[..., 0]
        mask = y != -1
        scores += ((logp * mask).sum(1) / mask.sum(1)).tolist()
    return scores
