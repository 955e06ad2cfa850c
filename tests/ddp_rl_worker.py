"""Run by tests/test_ddp.py under torchrun: one GRPO update of a fixed batch, split by group
across the processes; rank 0 saves the updated weights."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rlvr  # noqa: E402
from ddp import Ranks, end_distributed  # noqa: E402
from test_rlvr import fixed_batch, small_policy  # noqa: E402

out = sys.argv[1]
torch.distributed.init_process_group("gloo")
rank, size = torch.distributed.get_rank(), torch.distributed.get_world_size()
policy, tok = small_policy()
x, y, rewards = fixed_batch(tok)
config = rlvr.RLConfig(lr=1e-3)
optimizer = torch.optim.AdamW(policy.parameters(), lr=config.lr, weight_decay=0.0)
adv = rlvr.group_advantages(rewards, config.scale_std).view(-1)
denominator = (y != -1).sum().item()  # of the whole batch
rows = slice(2 * rank, 2 * rank + 2) if size == 2 else slice(None)  # one group per process
out_metrics = rlvr.policy_update(policy, None, optimizer, x[rows], y[rows], adv[rows], config,
                                 denominator, "cpu", Ranks(rank, size))
if rank == 0:
    torch.save({"model": policy.state_dict(), "metrics": out_metrics}, out)
end_distributed(size)
