import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True)
def one_thread_for_toy_tensors(request):
    """The fast tests (not marked slow) work on toy-sized tensors, where keeping a second torch
    thread in step costs more than it saves, and much more when another process is busy on the
    other core (measured: the KV-cache test took 8.6 s with one thread, 115 s with two beside a
    busy core). Slow tests train and keep torch's own setting."""
    if request.node.get_closest_marker("slow"):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def ctrl_c_at_batch(monkeypatch):
    """ctrl_c_at_batch(n): the n-th call of lab.pack_rows from now raises KeyboardInterrupt, as
    Ctrl-C would while that batch is built (a stage's held-out batch, if it builds one, is a call
    too); ctrl_c_at_batch(None) puts the real lab.pack_rows back."""
    import lab
    real = lab.pack_rows

    def arm(n):
        if n is None:
            monkeypatch.setattr(lab, "pack_rows", real)
            return
        calls = {"n": 0}

        def interrupted(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        monkeypatch.setattr(lab, "pack_rows", interrupted)
    return arm
