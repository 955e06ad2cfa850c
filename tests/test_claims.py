"""The claims' arithmetic on hand-made predictions: arms evaluated with different sample counts
are compared on the same number of samples."""
import json

import pytest

import claims


def write_eval(path, problems):
    """problems: {key: (level, [correct flags])} -> an evaluation directory with predictions."""
    path.mkdir()
    with open(path / "predictions.jsonl", "w") as f:
        for key, (level, correct) in problems.items():
            f.write(json.dumps({"key": key, "split": "id", "task": "addition", "level": level,
                                "correct": correct}) + "\n")
    return str(path)


def test_an_arm_with_fewer_samples_is_compared_on_its_own_count(tmp_path):
    # base: 8 samples, the first 4 all wrong and the last 4 all right; arm: 4 samples, all right
    base = write_eval(tmp_path / "base", {"a": (1, [0] * 4 + [1] * 4), "b": (2, [0] * 4 + [1] * 4)})
    arm = write_eval(tmp_path / "arm", {"a": (1, [1] * 4), "b": (2, [1] * 4)})
    assert claims.sample_count(base, arm) == 4
    d1, dn, n = claims.arm_changes(base, arm)
    assert n == 4  # the base's first 4 samples: pass@1 0 and pass@4 0, the arm's 1 and 1
    assert [values for _, values in d1] == [[1.0], [1.0]]
    assert [values for _, values in dn] == [[1.0], [1.0]]
    # levels weigh equally, whatever their problem counts
    assert [w for w, _ in d1] == [1.0, 1.0]


def test_a_common_count_can_be_imposed(tmp_path):
    base = write_eval(tmp_path / "base", {"a": (1, [1, 0, 0, 0])})
    arm = write_eval(tmp_path / "arm", {"a": (1, [1, 1, 0, 0])})
    d1, dn, n = claims.arm_changes(base, arm, n=2)
    assert n == 2
    assert d1[0][1][0] == pytest.approx(1.0 - 0.5)  # pass@1 from the first two samples
    assert dn[0][1][0] == pytest.approx(0.0)        # both solve it within 2 samples
