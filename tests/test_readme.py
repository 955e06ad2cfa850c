"""The README is a first read: short, and its "where to look" table points at the code it names."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"\[([\w/.]+):(\d+)\]\(([\w/.]+)#L(\d+)\)\s*`(\w+)`")


def readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def test_where_to_look_links_point_at_the_definitions_they_name():
    links = LINK.findall(readme())
    assert len(links) >= 5  # GRPO loss, advantages, SFT loss, pass@k, verifier, sampler
    for shown_file, shown_line, target_file, target_line, name in links:
        assert (shown_file, shown_line) == (target_file, target_line)
        with open(os.path.join(ROOT, target_file)) as f:
            line = f.read().split("\n")[int(target_line) - 1]
        assert re.match(rf"(def|class) {name}\b", line), \
            f"README: {target_file}:{target_line} is {line!r}, not the definition of {name}"


def test_the_readme_is_a_first_read_and_states_the_two_commands_and_the_tests():
    text = readme()
    assert len(text.splitlines()) <= 150
    assert "pip install -r requirements.txt" in text and "python reproduce.py" in text
    assert "`pytest`" in text


RUN_CODE = re.compile(r"\b(?!C[1-9]\b)[A-Z]{1,3}[0-9]?\b")  # CF2, MD, HD3, ... (the claims C1-C9 are not)
WORDS = {"GPT", "CPU", "GPU", "CLI", "C", "KL", "SFT", "DDP", "RL", "RLVR", "GRPO", "CI", "OOD", "ID", "KV", "RoPE", "LN", "A", "B",
         "N", "I", "pass"}


def test_the_readme_names_no_runs_of_the_lab_log():
    """A first read says what was measured in words and dates, not by the log's run codes."""
    codes = {c for c in RUN_CODE.findall(readme()) if c not in WORDS}
    assert not codes, f"README uses run codes: {sorted(codes)}"
    assert RUN_CODE.findall("seeds of CF2 and HD3; C1 held") == ["CF2", "HD3"]  # the check can fail
