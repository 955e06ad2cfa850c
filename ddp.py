"""Data-parallel processes under torchrun: this process's rank and the few collective operations
the stages need (gloo on CPU, nccl on GPU); alone, rank 0 of 1 and no communication."""
import os

import torch


def distributed(device):
    """(rank, world size, device) under torchrun (gloo on CPU, nccl on GPU); (0, 1, device) alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1, device
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    if device == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(device)
    return dist.get_rank(), world_size, device


def end_distributed(world_size):
    """Leave the process group together: a rank that tears down its connections while another
    is still writing plots can abort at exit ("terminate called without an active exception")."""
    if world_size > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


class Ranks:
    """This process's place among the data-parallel processes (rank 0 of 1 when alone), and the
    few collective operations an RL step needs."""

    def __init__(self, rank=0, size=1):
        self.rank, self.size = rank, size

    def gather(self, obj):
        """[obj of rank 0, obj of rank 1, ...]."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size
        torch.distributed.all_gather_object(out, obj)
        return out

    def sum_gradients(self, model):
        if self.size == 1:
            return
        for p in model.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            torch.distributed.all_reduce(p.grad)
