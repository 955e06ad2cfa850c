"""Small shared machinery of the stage scripts: errors, CLI helpers, batching, logging, run dirs.

Kept apart from `model.py` (which knows no task) and `data/` (which knows no model), so that each
stage script stays a readable loop and nothing is copied between scripts.
"""
import argparse
import ctypes
import functools
import hashlib
import json
import math
import os
import signal
import sys
import tempfile
from dataclasses import field, fields, replace

import torch

from data import TokenizerError, WorldError
from model import CheckpointError, DeviceError


def fix_mkl_threads():
    """Forbid MKL, which runs torch's matrix products on x86 CPUs, to use fewer threads than
    torch asks for. Its "dynamic" mode (on by default) may decide so at run time, and the number
    of threads decides how a product's sums are split, hence the last bits of a gradient: two
    identical pretraining runs differed in the seventh digit of the loss at step 6 (2 of about 75
    runs here; the same value as a run with MKL held to one thread). With the mode off MKL runs
    every product on the threads it is given: the usual numbers, every time, for about 6% of the
    speed of a 2-thread process (nothing in a 1-thread one). MKL reads MKL_DYNAMIC only when torch
    loads it, so this flips its switch directly; where torch has no MKL, it does nothing."""
    if not torch.backends.mkl.is_available():
        return
    try:
        library = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
        ctypes.CDLL(library).MKL_Set_Dynamic(0)
    except (OSError, AttributeError):  # another platform's build: MKL linked in another library
        pass


fix_mkl_threads()


class LabError(ValueError):
    """A user-facing problem: wrong option, impossible value, unusable run directory."""


USER_ERRORS = (LabError, WorldError, TokenizerError, CheckpointError, DeviceError)


# ---------------------------------------------------------------- command line

class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (not usage + error) with exit status 2."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _number(kind, test, description):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {description}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {description}")
        return value
    parse.__name__ = description
    return parse


positive_int = _number(int, lambda v: v > 0, "a positive integer")
nonnegative_int = _number(int, lambda v: v >= 0, "a non-negative integer")
positive_float = _number(float, lambda v: v > 0 and v != float("inf"), "a positive number")
nonnegative_float = _number(float, lambda v: 0 <= v < float("inf"), "a non-negative number")
fraction = _number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
learning_rate = _number(float, lambda v: 0 < v <= 1, "a learning rate in (0, 1]")
min_learning_rate = _number(float, lambda v: 0 <= v <= 1, "a learning rate in [0, 1]")
# sampling temperatures in a useful range: near 0 the logits divided by it overflow float32
# (1e-300 gave nonsense), and far above 1 every token is about equally likely
temperature = _number(float, lambda v: 0.01 <= v <= 100, "a temperature from 0.01 to 100")
# the search for distinct test problems tries 50 draws per problem wanted: bounded, so that an
# absurd count is refused instead of running for hours
per_level = _number(int, lambda v: 1 <= v <= 10000, "a problem count from 1 to 10000")
# samples per problem: pass@k needs a few thousand at most; a bound turns a typo like 1e11 into a
# message instead of a job list that fills the memory before anything is sampled
sample_count = _number(int, lambda v: 1 <= v <= 65536, "a sample count from 1 to 65536")
MAX_SEED = 2 ** 63 - 1  # torch takes up to 2^64 - 1; numpy and the cache keys are happier below 2^63
seed = _number(int, lambda v: 0 <= v <= MAX_SEED, f"a seed from 0 to {MAX_SEED}")


def path(text):
    """A file or directory option: an empty value (an unset shell variable) is refused, not read
    as "the default", which could be a finished run."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name one, or leave the option out for the default")
    return text


def add_run_options(parser, stage):
    """--out, --resume and --force: the options every training script shares."""
    parser.add_argument("--out", type=path, help=f"output directory (default runs/<preset>/{stage}/seed<seed>)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--force", action="store_true", help="overwrite a run made with other settings")


def step_list(text):
    """'10,30,60' -> [10, 30, 60] (sorted, each a positive integer)."""
    try:
        steps = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of steps") from None
    if any(s < 1 for s in steps):
        raise argparse.ArgumentTypeError(f"{text!r}: every step must be a positive integer")
    return steps


def task_list(text):
    """'addition, modular' -> ['addition', 'modular'] (names are checked by the caller)."""
    return [t.strip() for t in text.split(",") if t.strip()]


# What to tell a user whose run was stopped: a stage script continues with --resume; a script
# that composes stages (reproduce.py, curriculum.py) sets its own advice through `entry`.
RESUME_HINT = {"checkpoint": "Continue with the same options and --resume.",
               "nothing saved": "Run the same command again to start it over."}


def exit_interrupted(what, ckpt_path):
    """After Ctrl-C: say where the checkpoint is and how to continue, exit with status 130."""
    print(f"\ninterrupted at {what}; checkpoint in {ckpt_path}. {RESUME_HINT['checkpoint']}",
          file=sys.stderr)
    sys.exit(130)


def _terminated(signum, frame):
    raise KeyboardInterrupt  # handled where Ctrl-C is: the run saves its checkpoint and exits


OUT_OF_MEMORY = ("can't allocate memory", "out of memory")  # torch's CPU and CUDA allocators


def entry(main, resume_hint=None):
    """Run `main()`; a user error becomes one line on stderr and exit status 2. SIGTERM (sent by
    `timeout`, `kill` and job schedulers) is treated as Ctrl-C, so a stopped run keeps its progress.
    resume_hint: {"checkpoint": ..., "nothing saved": ...}, the advice printed after Ctrl-C by a
    script whose user continues differently from a stage script's (see RESUME_HINT)."""
    RESUME_HINT.update(resume_hint or {})
    signal.signal(signal.SIGTERM, _terminated)
    script = os.path.basename(sys.argv[0])
    try:
        main()
    except USER_ERRORS as e:
        print(f"{script}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except (MemoryError, RuntimeError) as e:
        if not isinstance(e, MemoryError) and not any(s in str(e) for s in OUT_OF_MEMORY):
            raise
        print(f"{script}: error: out of memory; lower the sizes that scale it "
              "(--batch-size, --samples, --per-level, --prompts or --group); saved checkpoints are "
              "kept", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # a stage with nothing to save (an evaluation, a report) was stopped
        print(f"\n{script}: interrupted; nothing half-written was kept. {RESUME_HINT['nothing saved']}",
              file=sys.stderr)
        sys.exit(130)


# ---------------------------------------------------------------- options, declared once

def option(default, help, type=None, choices=None, cli=True):
    """A config field and its command-line option in one declaration: the dataclass default, the
    help text and the parser of its value (`choices` instead of `type` for a fixed set). cli=False:
    a setting only presets and reproduce.py change. A list default is copied per config."""
    metadata = {"help": help, "type": type, "choices": choices, "cli": cli}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def cli_fields(config_class):
    """The fields of a config dataclass that are command-line options."""
    return [f for f in fields(config_class) if f.metadata.get("cli")]


def add_config_options(parser, config_class, presets):
    """--preset, and one option per CLI field of `config_class` (--field-name), its help and its
    default (the `default` preset's value) taken from the field. Unset options stay None, so that
    the chosen preset's value is kept (`config_from_args`)."""
    parser.add_argument("--preset", default="default", choices=list(presets))
    shown = presets.get("default") or config_class()
    for f in cli_fields(config_class):
        default = getattr(shown, f.name)
        if isinstance(default, (list, tuple)):
            default = ",".join(map(str, default))
        elif isinstance(default, bool):
            default = "on" if default else "off"
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=f.metadata["type"],
                            choices=f.metadata["choices"], help=f"{f.metadata['help']} (default {default!s})"
                            if default not in ("", None) else f.metadata["help"])


def add_field_option(parser, name, config_class, field_name, whose):
    """An option of a script that drives a stage (reproduce.py's --rl-lr), declared by the stage's
    field: its parser and help come from there, `whose` says which runs it reaches."""
    f = next(f for f in fields(config_class) if f.name == field_name)
    parser.add_argument("--" + name.replace("_", "-"), dest=name, type=f.metadata["type"],
                        choices=f.metadata["choices"], help=f"{whose}: {f.metadata['help']}")


def config_from_args(presets, args):
    """A copy of the chosen preset with every CLI option the user set (not None)."""
    config = replace(presets[args.preset])
    for f in cli_fields(type(config)):
        value = getattr(args, f.name, None)
        if value is not None:
            setattr(config, f.name, value)
    return config


def on_off(text):
    """An on/off switch: 'on' -> True, 'off' -> False."""
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"{text!r} is not on or off")
    return text == "on"


@functools.lru_cache(maxsize=None)
def code_version(stage):
    """A short hash of the source code a stage's results depend on: the world (data/), the
    model, this run machinery, the metrics (eval.py) and the stage's own script (`stage`.py).
    Saved with every checkpoint and evaluation, so that the study never reuses a result that
    older code made: editing rlvr.py reruns the RL runs, not the pretraining."""
    root = os.path.dirname(os.path.abspath(__file__))
    names = sorted(os.path.join("data", n) for n in os.listdir(os.path.join(root, "data")) if n.endswith(".py"))
    names += sorted({"model.py", "lab.py", "eval.py", f"{stage}.py"})
    digest = hashlib.sha256()
    for name in names:
        with open(os.path.join(root, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()[:12]


def config_hash(d):
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- schedules and processes

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


def distributed(device):
    """(rank, world size, device) under torchrun (gloo on CPU, nccl on GPU); (0, 1, device) alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1, device
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    if device == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(device)
    return dist.get_rank(), world_size, device


def end_distributed(world_size):
    """Leave the process group together: a rank that tears down its connections while another
    is still writing plots can abort at exit ("terminate called without an active exception")."""
    if world_size > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


class Ranks:
    """This process's place among the data-parallel processes (rank 0 of 1 when alone), and the
    few collective operations an RL step needs."""

    def __init__(self, rank=0, size=1):
        self.rank, self.size = rank, size

    def gather(self, obj):
        """[obj of rank 0, obj of rank 1, ...]."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size
        torch.distributed.all_gather_object(out, obj)
        return out

    def sum_gradients(self, model):
        if self.size == 1:
            return
        for p in model.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            torch.distributed.all_reduce(p.grad)


# ---------------------------------------------------------------- files

def write_atomically(path, write):
    """Write a file through `write(f)` into a temp file, then rename: a killed run leaves the old
    file or the new one, never half of the new one."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        write(f)
    os.replace(tmp, path)


def write_json(path, obj):
    """Atomic JSON write."""
    write_atomically(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True))


def write_lines(path, lines):
    """One line per item, written atomically."""
    write_atomically(path, lambda f: f.writelines(line + "\n" for line in lines))


def as_json(obj):
    """`obj` as it reads back from a JSON file (tuples become lists): what a saved config.json is
    compared with."""
    return json.loads(json.dumps(obj))


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise LabError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise LabError(f"{path} is not valid JSON; delete it and rerun the stage") from None


def ensure_writable_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise LabError(f"cannot create output directory {path}: {e.strerror}") from None
    if not os.access(path, os.W_OK):
        raise LabError(f"output directory {path} is not writable; choose another with --out")


class JsonlLog:
    """Append one JSON object per line; flushed each time so a killed run keeps its log."""

    def __init__(self, path, append=False):
        self.path = path
        self.file = open(path, "a" if append else "w")

    def records(self):
        """Every record in the log file, the lines of earlier (resumed) runs included."""
        with open(self.path) as f:
            return [json.loads(line) for line in f]

    def write(self, record):
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self):
        self.file.close()


def prepare_out_dir(out, config, resume, force, inputs=(), writes=("ckpt.pt",)):
    """Refuse to silently overwrite a different run, an unfinished one, or a checkpoint this run
    reads (`inputs`: its base, its teacher; `writes`: the checkpoints it saves, relative to `out`).
    `config` is the run's settings as a dict; returns the checkpoint to resume from (or None)."""
    ckpt = os.path.join(out, "ckpt.pt")
    written = {os.path.abspath(os.path.join(out, w)) for w in writes}
    for path in inputs:
        if path and os.path.abspath(path) in written:
            raise LabError(f"--out {out} holds {path}, which this run reads; training there would "
                           "overwrite it: choose another --out")
    ensure_writable_dir(out)
    config_path = os.path.join(out, "config.json")
    if resume:
        if not os.path.exists(ckpt):
            raise LabError(f"--resume: no checkpoint in {out}; run without --resume")
        if not os.path.exists(config_path):
            raise LabError(f"--resume: {out} has a checkpoint but no config.json, so its settings "
                           "cannot be checked; start over with --force instead of --resume")
        if read_json(config_path) != as_json(config):
            raise LabError(f"--resume: {out} was trained with other settings; use the same "
                           "options or another --out")
        return ckpt
    if os.path.exists(ckpt) and not os.path.exists(config_path) and not force:
        raise LabError(f"{out} holds a checkpoint but no config.json; pass --force to overwrite it "
                       "or --out to write elsewhere")
    if os.path.exists(config_path) and not force:
        if read_json(config_path) != as_json(config):
            raise LabError(f"{out} holds a run with other settings; pass --force to overwrite "
                           "it or --out to write elsewhere")
        if os.path.exists(ckpt):
            from model import load_checkpoint
            saved = load_checkpoint(ckpt)
            if saved.get("finished") is False:
                raise LabError(f"{out} holds an unfinished run of these settings (saved at step "
                               f"{saved.get('step')}); add --resume to continue it, or --force to "
                               "start over")
    return None


STAGE_SCRIPTS = {"pretrain": "pretrain.py", "rlvr": "rlvr.py", "distill": "distill.py"}


def load_trained(path, what="base checkpoint"):
    """A finished checkpoint with its world, as (payload, World); one-line errors otherwise."""
    from data import CharTokenizer, World
    from model import load_checkpoint
    payload = load_checkpoint(path, CharTokenizer().spec())
    if payload.get("finished") is False:
        script = STAGE_SCRIPTS.get(payload.get("stage"), "the script that made it")
        raise LabError(f"{what} {path} is from an unfinished run (step {payload.get('step')}); finish "
                       f"it first: {script} with the same options and --resume")
    if not isinstance(payload.get("world"), dict):
        raise LabError(f"{path} carries no world description; retrain it with this version of the lab")
    return payload, World(**payload["world"])


def trim_log(path, step):
    """Drop the lines of a JSONL log written after `step` (by a run killed after its checkpoint)."""
    def before(line):  # a line torn by a kill or a full disk is dropped, not fatal
        try:
            return json.loads(line)["step"] <= step
        except (ValueError, KeyError, TypeError):
            return False
    kept = [line for line in open(path) if before(line)]
    with open(path, "w") as f:
        f.writelines(kept)


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


def training_loop(step, steps, train_step, checkpoint, ckpt_path, log, checkpoint_every, desc,
                  quiet=False, postfix=None, save_on_interrupt=True, lead=True):
    """The skeleton of every training stage: call `train_step(step)` (one optimizer step, which
    returns the step's log record) until `steps`; log each record; checkpoint every
    `checkpoint_every` steps (not the last: that one is saved finished) and on Ctrl-C, then exit
    with advice on how to continue; a progress bar with `postfix(record)` beside it.
    checkpoint(finished) saves to `ckpt_path`, reading the state the loop advanced (the step, the
    data position) from the caller. `steps` may be a function: a last step that training moves
    (pretrain.py --until-loss). Returns the last step."""
    from tqdm import tqdm
    last = steps if callable(steps) else lambda: steps
    bar = tqdm(total=last(), initial=step, desc=desc, disable=quiet, dynamic_ncols=True, mininterval=2.0)
    try:
        while step < last():
            record = train_step(step)
            step = record["step"]
            log.write(record)
            bar.total = last()
            if step % checkpoint_every == 0 and step < last():
                checkpoint(finished=False)  # a killed run resumes from here
            if postfix:  # shown at the bar's next redraw (at most every 2 s), not redrawn now:
                bar.set_postfix(postfix(record), refresh=False)  # a notebook keeps every redraw
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        if save_on_interrupt:
            checkpoint(finished=False)
        log.close()
        if lead:
            exit_interrupted(f"{desc} step {step}", ckpt_path)
        sys.exit(130)
    bar.close()
    checkpoint(finished=True)
    log.close()
    return step


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
             batch_rows=256, progress=None, max_new_tokens=None, with_ids=False):
    """Sample `samples_per_problem` completions for every problem, in batches of `batch_rows`.

    Returns, per problem, a list of (completion text, finished) pairs, or (text, finished,
    token ids) with `with_ids`. max_new_tokens: one budget for all; default per problem, its
    `completion_budget`, which each row keeps however the rows are chunked. This is the one
    sampling entry point of the stage scripts: evaluation, periodic greedy checks and RL rollouts.
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
                     tokenizer.pad_id, temperature=temperature, generator=generator)
        for i, ids, finished in zip(chunk, out.completions, out.finished):
            text = tokenizer.decode(ids)
            results[i].append((text, finished, ids) if with_ids else (text, finished))
        if progress is not None:
            progress.update(len(chunk))
    return results
