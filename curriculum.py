"""Stage 3: curricula. Distillation then RLVR, and RLVR on data chosen by the model's competence.

Two modes, both built from the stages' own functions (`distill.train`, `rlvr.train`):

- `distill-rl`: distil the base on oracle traces (the patterns arm of distill.py, or another with
  `--distill-arm`), then run GRPO from the distilled student (on the levels up to
  `--rl-max-level`). Compute is counted in optimizer steps (distillation steps + RL
  steps) and in sampled completions (RL samples + the teacher's samples); summary.json records
  both so that the report can set the arms side by side. `--student CKPT` starts RL from a
  finished distillation made with the same settings instead of distilling again.
- `select`: GRPO whose problems come from a pool of training problems, picked by `--selection`:
  `uniform` (any level the base was trained on), `easy` (levels 1-2), `hard` (the two levels
  above training, which the base never solves) or `edge` (edge of competence: each pool problem
  carries a running estimate of its solve rate, taken from the group samples RL draws anyway, and
  problems are drawn with weight p(1 - p), largest where a group is most likely to disagree).

    python curriculum.py --mode distill-rl --seed 0
    python curriculum.py --mode distill-rl --distill-arm all --rl-max-level 8 --seed 0
    python curriculum.py --mode select --selection edge --seed 0
    python curriculum.py --preset tiny --mode select --selection hard

Writes under runs/<preset>/curriculum/seed<seed>-<mode or selection>/ (or --out).
"""
import argparse
import dataclasses
import json
import os

import cli
import distill
import rlvr
import rundir
from model import pick_device

SELECTIONS = ("uniform", "easy", "hard", "edge")
# the RL settings a composed run passes on (its option -> the RL config's field); reproduce.py
# passes the same ones, under the same names, to every RL run of the study
RL_OPTIONS = {"rl_steps": "steps", "rl_lr": "lr", "group": "group", "prompts": "prompts",
              "rl_updates": "updates", "rl_level_weights": "level_weights"}
DISTILL_OPTIONS = {"distill_steps": "steps", "distill_tasks": "tasks", "distill_format": "format",
                   "distill_arm": "arm"}


class CompetenceSource(rlvr.ProblemSource):
    """A fixed pool of training problems, each with the solve counts RL has observed for it;
    draws problems with weight p(1 - p), p = (solved + 1) / (attempts + 2): a problem never tried
    has p = 0.5, the largest weight, so every problem is tried early on."""

    pool_size = 1024

    def __init__(self, config, world, levels, seed_text):
        super().__init__(dataclasses.replace(config, pool=0), world, levels, seed_text)
        self.pool = self.fresh(self.pool_size)
        self.solved = [0] * len(self.pool)
        self.attempts = [0] * len(self.pool)
        self.index = {id(p): i for i, p in enumerate(self.pool)}

    def estimate(self, i):
        """The observed solve rate of pool problem i (None before it was tried)."""
        return self.solved[i] / self.attempts[i] if self.attempts[i] else None

    def weight(self, i):
        p = (self.solved[i] + 1) / (self.attempts[i] + 2)
        return p * (1 - p)

    def draw(self):
        weights = [self.weight(i) for i in range(len(self.pool))]
        return self.rng.choices(self.pool, weights=weights, k=self.config.prompts)

    def observe(self, problems, correct):
        for problem, row in zip(problems, correct.tolist()):
            i = self.index[id(problem)]
            self.solved[i] += sum(row)
            self.attempts[i] += len(row)

    def state(self):
        return {"rng": self.rng.getstate(), "solved": self.solved, "attempts": self.attempts}

    def load(self, state):
        self.rng.setstate(state["rng"])
        self.solved, self.attempts = list(state["solved"]), list(state["attempts"])


def selection_levels(selection, top):
    """(min_level, max_level) of a selection's problems; top: the base's highest trained level."""
    return {"uniform": (1, top), "edge": (1, top), "easy": (1, 2), "hard": (top + 1, top + 2)}[selection]


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="default", choices=list(rlvr.PRESETS))
    p.add_argument("--mode", default="distill-rl", choices=("distill-rl", "select"))
    p.add_argument("--selection", default="edge", choices=SELECTIONS,
                   help="for --mode select: uniform, easy, hard or edge (default)")
    p.add_argument("--seed", type=cli.seed, default=0)
    p.add_argument("--device", help="auto (default), cpu, cuda or mps")
    p.add_argument("--base", type=cli.path, help="pretrained checkpoint (default runs/<preset>/pretrain/seed<seed>/ckpt.pt)")
    for name, field in RL_OPTIONS.items():
        cli.add_field_option(p, name, rlvr.RLConfig, field, "the RL stage (default: the preset's)")
    for name, field in DISTILL_OPTIONS.items():
        cli.add_field_option(p, name, distill.DistillConfig, field,
                             "distill-rl's distillation (default: the preset's; tasks: the RL tasks)")
    p.add_argument("--rl-max-level", dest="rl_max_level", type=cli.positive_int,
                   help="for --mode distill-rl: the top level of the RL stage's problems (default: "
                        "the base's top level; up to two above it, e.g. the levels --distill-arm "
                        "all taught)")
    p.add_argument("--student", type=cli.path,
                   help="for --mode distill-rl: the checkpoint of a finished distillation made with "
                        "exactly this run's distillation settings (distill.py with the same options); "
                        "RL starts from it and nothing is distilled again")
    p.add_argument("--out", type=cli.path, help="output directory (default runs/<preset>/curriculum/seed<seed>-<mode>)")
    p.add_argument("--force", action="store_true", help="overwrite a run made with other settings")
    return p.parse_args(argv)


def configs(args):
    """The stage configs this run is made of: (distill config or None, RL config, source)."""
    base = args.base or rundir.base_checkpoint(args.preset, args.seed)
    if args.mode != "distill-rl":
        ignored = ["--" + name.replace("_", "-") for name in ("student", *DISTILL_OPTIONS, "rl_max_level")
                   if getattr(args, name) is not None]
        if ignored:
            raise cli.LabError(f"{', '.join(ignored)} apply to --mode distill-rl only; --mode select "
                               "sets the levels with --selection")
    rl = dataclasses.replace(rlvr.PRESETS[args.preset], seed=args.seed, base=base)
    for name, field in RL_OPTIONS.items():
        if getattr(args, name) is not None:
            setattr(rl, field, getattr(args, name))
    rlvr.check(rl)
    if args.device:
        rl.device = args.device
        pick_device(rl.device)  # a mistyped device fails here, not after config.json is written
    if args.mode == "distill-rl":
        d = dataclasses.replace(distill.PRESETS[args.preset], seed=args.seed, base=base,
                                device=rl.device, tasks=list(rl.tasks))
        for name, field in DISTILL_OPTIONS.items():
            if getattr(args, name) is not None:
                setattr(d, field, getattr(args, name))
        distill.check_tasks(d, "--distill-tasks")
        if args.distill_format:
            distill.check_format(d, "--distill-format")
        _, world = rundir.load_trained(base)  # checked after the options that need no base, before any output
        if args.rl_max_level:
            rl.max_level = args.rl_max_level
            # checked now, not after the distillation has run
            rlvr.training_levels(rl, world, "--rl-max-level")
        return d, rl, None
    _, world = rundir.load_trained(base)
    top = world.max_level("addition")
    rl.min_level, rl.max_level = selection_levels(args.selection, top)
    return None, rl, CompetenceSource if args.selection == "edge" else None


def run(distill_config, rl_config, source, out, quiet=False, student=None):
    """Run the stages into `out`; returns the final checkpoint. student: the checkpoint of a
    finished distillation made with exactly `distill_config` (the RL stage starts from it, and
    the distillation is not run again)."""
    rundir.ensure_writable_dir(out)
    if distill_config is not None:
        if student is None:
            d_out = os.path.join(out, "distill")
            rundir.ensure_writable_dir(d_out)
            student = distill.train(distill_config, d_out, quiet=quiet)
        rl_config = dataclasses.replace(rl_config, base=student)
    rl_out = os.path.join(out, "rlvr")
    rundir.ensure_writable_dir(rl_out)
    ckpt = rlvr.train(rl_config, rl_out, quiet=quiet, source=source)
    metrics = [json.loads(line) for line in open(os.path.join(rl_out, "metrics.jsonl"))]
    d_summary = rundir.read_json(os.path.join(os.path.dirname(student), "summary.json")) if distill_config else None
    rundir.write_json(os.path.join(out, "summary.json"), {
        "compute": {"distill_steps": distill_config.steps if distill_config else 0,
                    "rl_steps": rl_config.steps,
                    "rl_samples": rl_config.steps * rl_config.prompts * rl_config.group,
                    "teacher_samples": 0 if distill_config is None or distill_config.teacher == "oracle"
                    else d_summary["problems"] * distill_config.samples},
        "zero_variance_groups": sum(m["zero_variance_groups"] for m in metrics) / len(metrics),
        "reward": sum(m["reward"] for m in metrics) / len(metrics)})
    return ckpt


def check_student(student, d):
    """--student must be a finished distillation with exactly the settings `d` of this run's own."""
    from model import load_checkpoint
    config = os.path.join(os.path.dirname(student), "config.json")
    if not (os.path.exists(student) and os.path.exists(config)):
        raise cli.LabError(f"--student {student}: no checkpoint with its config.json there; give the "
                           "ckpt.pt of a distill.py run")
    if rundir.read_json(config) != rundir.as_json(dataclasses.asdict(d)):
        raise cli.LabError(f"--student {student} was distilled with other settings than this run's "
                           "distillation stage; leave --student out to distil here")
    if not load_checkpoint(student).get("finished"):
        raise cli.LabError(f"--student {student} is an unfinished distillation; finish it first "
                           "(distill.py with the same options and --resume)")


def main(argv=None):
    args = parse_args(argv)
    d, rl, source = configs(args)
    name = args.mode if args.mode == "distill-rl" else args.selection
    out = args.out or rundir.run_dir(args.preset, "curriculum", f"seed{args.seed}-{name}")
    if args.student:
        check_student(args.student, d)
    rundir.prepare_out_dir(out, {"distill": d and dataclasses.asdict(d), "rlvr": dataclasses.asdict(rl),
                              "selection": name}, False, args.force,
                     inputs=(rl.base,), writes=("distill/ckpt.pt", "rlvr/ckpt.pt"))
    rundir.write_json(os.path.join(out, "config.json"), {"distill": d and dataclasses.asdict(d),
                                                      "rlvr": dataclasses.asdict(rl), "selection": name})
    path = run(d, rl, source, out, student=args.student)
    print(f"done: {path}\nevaluate it with: python eval.py --checkpoint {path}")


if __name__ == "__main__":
    cli.entry(main, resume_hint={"checkpoint": "curriculum.py cannot resume: running it again "
                                               "starts this run over."})
