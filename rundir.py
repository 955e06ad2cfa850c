"""Run directories: what a run writes beside its checkpoint, atomically (config.json, logs), the
code version and settings hash that say whether a finished run can be reused, and the checks
that keep one run from overwriting another."""
import functools
import hashlib
import json
import os
import tempfile

from cli import LabError


@functools.lru_cache(maxsize=None)
def code_version(stage):
    """A short hash of the source code a stage's results depend on: the world (data/), the
    model, the run machinery (lab, cli, rundir, ddp), the metric maths and the stage's own script
    (`stage`.py).
    Saved with every checkpoint and evaluation, so that the study never reuses a result that
    older code made: editing rlvr.py reruns the RL runs, not the pretraining."""
    root = os.path.dirname(os.path.abspath(__file__))
    names = sorted(os.path.join("data", n) for n in os.listdir(os.path.join(root, "data")) if n.endswith(".py"))
    names += sorted({"model.py", "lab.py", "cli.py", "rundir.py", "ddp.py", "metrics.py", f"{stage}.py"})
    digest = hashlib.sha256()
    for name in names:
        with open(os.path.join(root, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()[:12]


def config_hash(d):
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


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


def run_dir(preset, stage, name):
    """Where a stage writes a run by default: runs/<preset>/<stage>/<name>."""
    return os.path.join("runs", preset, stage, name)


def base_checkpoint(preset, seed):
    """The pretrained model a stage starts from when no --base is given."""
    return os.path.join(run_dir(preset, "pretrain", f"seed{seed}"), "ckpt.pt")


def how_to_make(path):
    """Advice for a missing checkpoint: the command that trains it, when its path ends as a default
    base's does (<preset>/pretrain/seed<seed>/ckpt.pt, under runs/ or anywhere else)."""
    parts = os.path.normpath(path).split(os.sep)
    if len(parts) >= 4 and parts[-2][4:].isdigit() and \
            parts[-4:] == base_checkpoint(parts[-4], int(parts[-2][4:])).split(os.sep)[-4:]:
        return (f"train it with python pretrain.py --preset {parts[-4]} --seed {parts[-2][4:]}, "
                "or give the path of another checkpoint")
    return "check the path, or train one first with pretrain.py"


def checkpoint_payload(stage, weights, model_config, world, config, **state):
    """What every stage's checkpoint holds: the weights and the model's shape, the tokenizer and
    the world it was trained in, the stage, its code version and settings (what decides reuse),
    then the stage's own state (`state`: the step, whether it is finished, optimizer, random
    streams) for an exact resume."""
    from data import CharTokenizer
    return {"model": weights, "model_config": model_config, "tokenizer": CharTokenizer().spec(),
            "world": world, "stage": stage, "code": code_version(stage), "config": config, **state}


def restore(path, model, optimizer, state):
    """Resume a killed run: load its checkpoint (`checkpoint_payload`'s) into `model` and
    `optimizer`, set `state.step`, and return the payload, whose random streams and data position
    the stage puts back itself (each stage keeps different ones)."""
    from data import CharTokenizer
    from model import load_checkpoint
    payload = load_checkpoint(path, CharTokenizer().spec())
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    state.step = payload["step"]
    return payload


STAGE_SCRIPTS = {"pretrain": "pretrain.py", "rlvr": "rlvr.py", "distill": "distill.py"}


def load_trained(path, what="base checkpoint"):
    """A finished checkpoint with its world, as (payload, World); one-line errors otherwise."""
    from data import CharTokenizer, World
    from model import load_checkpoint
    if not os.path.isdir(path) and not os.path.exists(path):
        raise LabError(f"{what} {path} does not exist; {how_to_make(path)}")
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
