"""Bad input gets one line on stderr and exit status 2, never a traceback."""
import os
import re
import subprocess
import sys

import pytest
import torch

import cli
import curriculum
import distill
import eval as evaluation
import lab
import pretrain
import reproduce
import rlvr
from data import CharTokenizer
from model import GPT, GPTConfig, save_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    tok = CharTokenizer()
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=16))
    payload = {"model": model.state_dict(), "model_config": vars(model.config).copy(),
               "tokenizer": tok.spec(), "world": {}}
    save_checkpoint(str(d / "good.pt"), payload)
    (d / "truncated.pt").write_bytes((d / "good.pt").read_bytes()[:300])
    torch.save({"weights": [1, 2]}, d / "foreign.pt")
    (d / "empty.pt").write_bytes(b"")
    save_checkpoint(str(d / "other_tokenizer.pt"), {**payload, "tokenizer": {"kind": "bpe"}})
    save_checkpoint(str(d / "no_world.pt"), {k: v for k, v in payload.items() if k != "world"})
    save_checkpoint(str(d / "other_size.pt"), {**payload, "model_config": {**payload["model_config"], "n_embd": 32}})
    other = d / "other_run"
    other.mkdir()
    (other / "config.json").write_text('{"preset": "tiny", "steps": 1}')
    (d / "no_config").mkdir()
    save_checkpoint(str(d / "no_config" / "ckpt.pt"), payload)
    (d / "bad_json").mkdir()
    (d / "bad_json" / "metrics.json").write_text("{not json")
    save_checkpoint(str(d / "unfinished.pt"), {**payload, "finished": False, "step": 7, "stage": "rlvr"})
    (d / "base_dir").mkdir()
    save_checkpoint(str(d / "base_dir" / "ckpt.pt"), payload)
    for name, predictions in (("no_predictions", None), ("torn_predictions", '{"split": "id", "ke')):
        (d / name).mkdir()
        (d / name / "metrics.json").write_text('{"groups": {}}')
        if predictions is not None:
            (d / name / "predictions.jsonl").write_text(predictions)
    return d


CASES = [
    (pretrain.main, ["--preset", "huge"]),
    (pretrain.main, ["--bogus"]),
    (pretrain.main, ["--steps", "-5"]),
    (pretrain.main, ["--steps", "0"]),
    (pretrain.main, ["--steps", "many"]),
    (pretrain.main, ["--lr", "abc"]),
    (pretrain.main, ["--lr", "inf"]),
    (pretrain.main, ["--batch-size", "0"]),
    (pretrain.main, ["--seed", "-1"]),
    (pretrain.main, ["--format-mix", "column=0,chunk=0,direct=0"]),
    (pretrain.main, ["--format-mix", "diagonal=1"]),
    (pretrain.main, ["--tasks", "algebra"]),
    (pretrain.main, ["--tasks", ""]),
    (pretrain.main, ["--difficulty-weights", "addition=1:x"]),
    (pretrain.main, ["--n-embd", "100", "--n-head", "3"]),
    (pretrain.main, ["--min-lr", "1", "--lr", "0.1"]),
    (pretrain.main, ["--preset", "tiny", "--device", "quantum", "--out", "{d}/dev"]),
    (pretrain.main, ["--preset", "tiny", "--resume", "--out", "{d}/nothing_here"]),
    (pretrain.main, ["--preset", "tiny", "--out", "{d}/other_run"]),
    (pretrain.main, ["--preset", "tiny", "--out", "/proc/tinyreason"]),
    (evaluation.main, ["--checkpoint", "{d}/missing.pt"]),
    (evaluation.main, ["--checkpoint", "{d}/truncated.pt"]),
    (evaluation.main, ["--checkpoint", "{d}/foreign.pt"]),
    (evaluation.main, ["--checkpoint", "{d}/empty.pt"]),
    (evaluation.main, ["--checkpoint", "{d}/other_tokenizer.pt"]),
    (evaluation.main, ["--checkpoint", "{d}/no_world.pt"]),
    (evaluation.main, ["--checkpoint", "{d}/other_size.pt"]),
    (rlvr.main, ["--base", "{d}/other_size.pt", "--out", "{d}/rl_size"]),
    (evaluation.main, ["--checkpoint", "{d}/good.pt", "--prompt", "12é+3"]),
    (evaluation.main, ["--checkpoint", "{d}/good.pt", "--prompt", "HELLO"]),
    (evaluation.main, ["--splits", "nope"]),
    (evaluation.main, ["--samples", "0"]),
    (evaluation.main, ["--temperature", "-1"]),
    (evaluation.main, ["compare", "{d}/only_one"]),
    (evaluation.main, ["compare", "{d}/missing_a", "{d}/missing_b"]),
    (evaluation.main, ["compare", "{d}/bad_json", "{d}/bad_json"]),
    (rlvr.main, ["--group", "1"]),
    (rlvr.main, ["--min-level", "5", "--max-level", "2"]),
    (rlvr.main, ["--tasks", "algebra"]),
    (rlvr.main, ["--reward", "guess"]),
    (rlvr.main, ["--scale-std", "maybe"]),
    (rlvr.main, ["--beta", "-0.1"]),
    (rlvr.main, ["--loss-norm", "per-sequence"]),
    (rlvr.main, ["--base", "{d}/missing.pt", "--out", "{d}/rl_missing"]),
    (rlvr.main, ["--base", "{d}/truncated.pt", "--out", "{d}/rl_truncated"]),
    (rlvr.main, ["--base", "{d}/other_tokenizer.pt", "--out", "{d}/rl_tok"]),
    (rlvr.main, ["--base", "{d}/good.pt", "--max-level", "9", "--out", "{d}/rl_level"]),
    (rlvr.main, ["--preset", "tiny", "--out", "{d}/other_run"]),
    (rlvr.main, ["--preset", "tiny", "--resume", "--out", "{d}/nothing_here"]),
    (distill.main, ["--teacher", "wizard"]),
    (distill.main, ["--teacher", "checkpoint"]),
    (distill.main, ["--arm", "old"]),
    (distill.main, ["--format", "diagonal"]),
    (distill.main, ["--tasks", "addition,algebra"]),
    (distill.main, ["--problems", "0"]),
    (distill.main, ["--min-lr", "1", "--lr", "0.01"]),
    (distill.main, ["--base", "{d}/empty.pt", "--out", "{d}/d_empty"]),
    (distill.main, ["--base", "{d}/foreign.pt", "--out", "{d}/d_foreign"]),
    (distill.main, ["--preset", "tiny", "--out", "{d}/other_run"]),
    (reproduce.main, ["--seeds", "x"]),
    (reproduce.main, ["--seeds", "-1"]),
    (reproduce.main, ["--preset", "enormous"]),
    (reproduce.main, ["--format-mix", "column=-1"]),
    (reproduce.main, ["--claims", "C13"]),
    (reproduce.main, ["--plan", "plan.mk", "--jobs", "2"]),
    (reproduce.main, ["--plan", "plan.mk", "--fresh"]),
    (reproduce.main, ["--plan", ""]),
    (curriculum.main, ["--preset", "tiny", "--mode", "select", "--student", "{d}/good.pt"]),
    (curriculum.main, ["--preset", "tiny", "--base", "{d}/good.pt", "--student", "{d}/no_config/ckpt.pt"]),
    (reproduce.main, ["--only", ","]),
    (reproduce.main, ["--seeds", "confirmed"]),
    (reproduce.main, ["--rl-steps", "0"]),
    (reproduce.main, ["--rl-updates", "0"]),
    (reproduce.main, ["--distill-steps", "many"]),
    (reproduce.main, ["--distill-format", "zigzag"]),
    (curriculum.main, ["--distill-format", "zigzag"]),
    (curriculum.main, ["--selection", "hardest"]),
    (curriculum.main, ["--mode", "both"]),
    (curriculum.main, ["--distill-arm", "old"]),
    (curriculum.main, ["--base", "{d}/good.pt", "--rl-max-level", "9", "--out", "{d}/cur_level"]),
    (curriculum.main, ["--base", "{d}/missing.pt", "--mode", "select"]),
    # found by a bad-input audit (2026-11-26)
    (pretrain.main, ["--difficulty-weights", "addition=1,1,1"]),
    (pretrain.main, ["--tasks", "addition=inf"]),
    (pretrain.main, ["--format-mix", "column=inf"]),
    (pretrain.main, ["--preset", "tiny", "--seq-len", "64", "--out", "{d}/short"]),
    (pretrain.main, ["--seed", "9223372036854775808"]),
    (evaluation.main, ["--checkpoint", "{d}/base_dir"]),
    (evaluation.main, ["--checkpoint", "{d}/unfinished.pt"]),
    (evaluation.main, ["compare", "{d}/bad_json/metrics.json", "{d}/bad_json"]),
    (evaluation.main, ["compare", "{d}/no_predictions", "{d}/no_predictions"]),
    (evaluation.main, ["compare", "{d}/torn_predictions", "{d}/torn_predictions"]),
    (rlvr.main, ["--base", "{d}/no_world.pt", "--out", "{d}/rl_no_world"]),
    (rlvr.main, ["--base", "{d}/unfinished.pt", "--out", "{d}/rl_unfinished"]),
    (rlvr.main, ["--base", "{d}/base_dir/ckpt.pt", "--out", "{d}/base_dir", "--force"]),
    (distill.main, ["--base", "{d}/no_world.pt", "--out", "{d}/d_no_world"]),
    (curriculum.main, ["--base", "{d}/good.pt", "--distill-tasks", ",", "--out", "{d}/cur_tasks"]),
    (curriculum.main, ["--base", "{d}/no_world.pt", "--mode", "select", "--out", "{d}/cur_no_world"]),
    (reproduce.main, ["--group", "1"]),
    (reproduce.main, ["--seeds", "9223372036854775808"]),
    (distill.main, ["--teacher-checkpoint", "{d}/good.pt", "--out", "{d}/d_ignored"]),
    (curriculum.main, ["--mode", "select", "--rl-max-level", "7", "--base", "{d}/good.pt", "--out", "{d}/cur_ignored"]),
    (pretrain.main, ["--preset", "tiny", "--out", "{d}/no_config", "--resume"]),
    (pretrain.main, ["--preset", "tiny", "--out", "{d}/no_config"]),
    (evaluation.main, ["--samples", "100000000000"]),
    (rlvr.main, ["--group", "1000000"]),
    (pretrain.main, ["--lr", "1e308"]),
    (reproduce.main, ["--rl-lr", "2"]),
    (reproduce.main, ["--preset", "tiny", "--tasks", "addition=0.6,modular=0.4", "--claims", "C8"]),
    (reproduce.main, ["--preset", "tiny", "--tasks", "modular=1", "--claims", "C1"]),
    (reproduce.main, ["--preset", "tiny", "--tasks", "addition=0.6,compare=0.4"]),  # 7-digit compare > 160 tokens
    (rlvr.main, ["--temperature", "1e-300"]),
    (evaluation.main, ["--temperature", "1000"]),
    (evaluation.main, ["--per-level", "100000000"]),
    (pretrain.main, ["--preset", "tiny", "--out", ""]),
    (curriculum.main, ["--out", " "]),
    (evaluation.main, ["--checkpoint", ""]),
    (evaluation.main, ["--checkpoint", "{d}/good.pt", "--splits", ""]),
    (distill.main, ["--teacher", "checkpoint", "--teacher-checkpoint", ""]),
]


@pytest.mark.parametrize("main, argv", CASES, ids=[" ".join(a)[:40] for _, a in CASES])
def test_bad_input_gives_one_line_and_exit_status_2(main, argv, files, capsys):
    argv = [a.replace("{d}", str(files)) for a in argv]
    with pytest.raises(SystemExit) as info:
        cli.entry(lambda: main(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err and "Traceback" not in err
    assert names_the_input(err, argv), f"{err!r} names none of the options, values or files of {argv}"


def names_the_input(message, argv):
    """Whether an error line points at what was wrong: an option given (as --name or name), a value
    given (a number, a word, a file's name) or, for an empty value, the option it was given to."""
    words = {a for a in argv if a.strip()}
    words |= {a.lstrip("-") for a in argv if a.startswith("--")}
    words |= {os.path.basename(a) for a in argv if os.sep in a}
    words |= {part for a in argv for part in re.split(r"[=,:]", a) if len(part) > 1}
    return any(w in message for w in words)


def test_an_error_that_names_nothing_given_is_caught():
    assert names_the_input("error: --lr: 'abc' is not a number", ["--lr", "abc"])
    assert not names_the_input("error: something went wrong", ["--lr", "abc"])
    assert not names_the_input("error: bad value", ["--steps", "-5"])


def test_running_out_of_memory_is_one_line_and_other_errors_are_not_hidden(capsys):
    """torch's allocators raise RuntimeError; only their out-of-memory message becomes a user error."""
    def oom():
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")
    with pytest.raises(SystemExit) as info:
        cli.entry(oom)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and len(err.splitlines()) == 1 and "--batch-size" in err

    def bug():
        raise RuntimeError("shape mismatch")
    with pytest.raises(RuntimeError, match="shape mismatch"):
        cli.entry(bug)


@pytest.mark.slow
def test_a_bad_option_from_the_shell_prints_no_traceback(files):
    for script, args in (("pretrain.py", ["--steps", "-1"]),
                         ("eval.py", ["--checkpoint", str(files / "truncated.pt")])):
        run = subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_help_works_for_every_script():
    for script in ("pretrain.py", "eval.py", "rlvr.py", "distill.py", "curriculum.py", "reproduce.py", "bench.py"):
        run = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True)
        assert run.returncode == 0 and "usage" in run.stdout


def test_messages_name_the_fix(files, capsys):
    """The advice in a message must be one that works: the command that makes a missing base,
    the file inside a directory, the script that can finish an unfinished run."""
    def message(main, argv):
        with pytest.raises(SystemExit):
            cli.entry(lambda: main([a.replace("{d}", str(files)) for a in argv]))
        return capsys.readouterr().err
    assert "python pretrain.py --preset tiny --seed 3" in message(rlvr.main, ["--preset", "tiny", "--seed", "3", "--out", "{d}/r3"])
    assert f"{files / 'base_dir' / 'ckpt.pt'}" in message(evaluation.main, ["--checkpoint", "{d}/base_dir"])
    assert "rlvr.py" in message(distill.main, ["--base", "{d}/unfinished.pt", "--out", "{d}/d_unf"])
    assert "overwrite" in message(rlvr.main, ["--base", "{d}/base_dir/ckpt.pt", "--out", "{d}/base_dir", "--force"])
    assert load_checkpoint_step(files / "base_dir" / "ckpt.pt") is None  # the base is untouched
    assert "format weight of 'column'" in message(pretrain.main, ["--format-mix", "column=-1"])
    assert "--force" in message(pretrain.main, ["--preset", "tiny", "--out", "{d}/no_config"])


def load_checkpoint_step(path):
    from model import load_checkpoint
    return load_checkpoint(str(path)).get("step")


def test_a_mistyped_device_writes_nothing(files, capsys):
    """Caught before config.json is written, so the corrected command is not refused."""
    with pytest.raises(SystemExit):
        cli.entry(lambda: curriculum.main(["--base", str(files / "good.pt"), "--device", "quantum",
                                           "--out", str(files / "cur_device")]))
    assert not (files / "cur_device").exists()


def test_a_problem_longer_than_the_context_is_a_user_error():
    """Sampling a problem the model cannot read in full says which and what to change, instead
    of failing inside the sampler."""
    import random
    from data import addition
    tok = CharTokenizer()
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=48, n_layer=1, n_head=2, n_embd=16))
    problem = addition.sample(random.Random(0), 6)
    with pytest.raises(cli.LabError, match="addition problems of level 6 need .* at most 48"):
        lab.generate(model, tok, [problem], 1)
    with pytest.raises(cli.LabError, match="--max-new-tokens"):
        lab.generate(model, tok, [addition.sample(random.Random(0), 1)], 1, max_new_tokens=100)


def test_only_the_first_seed_pretrains_a_base_on_another_format_mix():
    """C2's other-mix run belongs to the study's first seed: under --jobs 2, worker 1 (seeds
    1, 3, ...) must not pretrain one too (it did: a base and an RL run that no report read)."""
    import argparse
    per_seed = {1: None, 3: None}
    assert reproduce.other_mix_seed(argparse.Namespace(worker=1), per_seed) is None
    assert reproduce.other_mix_seed(argparse.Namespace(worker=0), {0: None, 2: None}) == 0
    assert reproduce.other_mix_seed(argparse.Namespace(worker=None), {0: None, 1: None}) == 0


def test_a_missing_default_base_names_the_command_that_trains_it_wherever_it_lives():
    import rundir
    train = "python pretrain.py --preset tiny --seed 3"
    assert train in rundir.how_to_make("runs/tiny/pretrain/seed3/ckpt.pt")
    assert train in rundir.how_to_make("/elsewhere/tiny/pretrain/seed3/ckpt.pt")
    assert "pretrain.py --preset" not in rundir.how_to_make("/elsewhere/tiny/distill/seed3/ckpt.pt")
