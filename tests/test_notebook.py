"""The course notebook runs top to bottom (executed with nbclient on the tiny preset)."""
import os

import nbformat
from nbclient import NotebookClient
import pytest

pytestmark = pytest.mark.slow  # trains models or runs whole scripts


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_tour_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYREASON_ROOT", ROOT)
    monkeypatch.setenv("TINYREASON_OUT", str(tmp_path))
    nb = nbformat.read(os.path.join(ROOT, "notebooks", "tour.ipynb"), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "pass@1" in text and "reward" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3  # loss, RL, pass@k plots
    assert (tmp_path / "rlvr" / "metrics.jsonl").exists()


def test_the_phenomena_notebook_executes_on_the_tiny_preset(tmp_path, monkeypatch):
    """The course notebook of the three phenomena, at the scale CI can afford: every cell runs,
    every figure is produced (the claims cannot show on `tiny`; nothing about them is asserted)."""
    monkeypatch.setenv("TINYREASON_ROOT", ROOT)
    monkeypatch.setenv("TINYREASON_WORKDIR", str(tmp_path))
    monkeypatch.setenv("TINYREASON_SCALE", "tiny")
    nb = nbformat.read(os.path.join(ROOT, "notebooks", "phenomena.ipynb"), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 4  # C1: dose-response and pass@k; C2; C3
    shown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert all(f"### {c}:" in shown and "control" in shown for c in ("C1", "C2", "C3"))
    assert "problems lost" in "".join(o.get("text", "") for o in outputs)
