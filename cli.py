"""The command line every script shares: one-line errors with exit status 2, value parsers, the
options of a stage declared once in its config dataclass (the CLI is built from them), and the
entry point that turns a user error, Ctrl-C or SIGTERM into a clean exit."""
import argparse
import os
import signal
import sys
from dataclasses import field, fields, replace

from data import TokenizerError, WorldError
from model import CheckpointError, DeviceError


class LabError(ValueError):
    """A user-facing problem: wrong option, impossible value, unusable run directory."""


USER_ERRORS = (LabError, WorldError, TokenizerError, CheckpointError, DeviceError)


# ---------------------------------------------------------------- parsers and values

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


# ---------------------------------------------------------------- the entry point

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


def with_small(presets):
    """`small` is one seed of the `default` study: the same settings under its own name (and its
    own runs/small/ directory); reproduce.py runs it on one seed, labelled indicative."""
    presets["small"] = replace(presets["default"], preset="small")
    return presets


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
