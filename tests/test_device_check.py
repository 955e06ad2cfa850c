"""The prepared device measurement: each step is timed under its own limit, and the figures are
written after every step, so a step cut off still leaves the ones before it."""
import json

import pytest

import device_check


def test_the_limits_are_three_positive_numbers():
    assert device_check.limits("60,120,300") == (60, 120, 300)
    for bad in ("60,120", "a,b,c", "0,1,2"):
        with pytest.raises(Exception, match="three positive"):
            device_check.limits(bad)


def test_a_step_past_its_limit_is_cut_off_and_says_so():
    quick = device_check.step("quick", ["-c", "print('done')"], 30)
    slow = device_check.step("slow", ["-c", "import time; print('started', flush=True); time.sleep(30)"], 1)
    assert quick["status"] == 0 and quick["tail"] == ["done"]
    assert slow["status"] == "limit" and slow["seconds"] < 10


@pytest.mark.slow
def test_the_check_runs_end_to_end_on_the_cpu(tmp_path, monkeypatch):
    """What can be tested without a GPU: the whole script, with --device cpu on the tiny preset."""
    monkeypatch.chdir(tmp_path)
    results = device_check.main(["--device", "cpu", "--preset", "tiny", "--seeds", "2", "--limits", "500,500,500",
                                 "--out", str(tmp_path / "check")])
    assert [r["status"] for r in results] == [0, 0, 0], [r["tail"] for r in results]
    saved = json.load(open(tmp_path / "check.json"))
    assert saved["device"] == "cpu" and len(saved["steps"]) == 3
    assert "tinyreason" in " ".join(saved["steps"][0]["tail"])  # the bench's training line
    assert any(line.startswith("report: ") for line in saved["steps"][2]["tail"])
    assert (tmp_path / "runs" / "tiny" / "REPORT-seeds-0-1.md").exists()
    assert "| ok |" in (tmp_path / "check.md").read_text()
