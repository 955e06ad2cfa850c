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
