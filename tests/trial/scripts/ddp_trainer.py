"""A torchrun command trial: 2 ranks (gloo), all-reduced metric, rank 0's reports count."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

import lrsearch
from lrsearch.trial import current

dist.init_process_group("gloo")
trial = current()
rank = dist.get_rank()
marker = Path(os.environ["MARKER_DIR"])
model = torch.nn.Linear(2, 1)
opt = trial.make_optimizer(model.parameters())
sched = trial.scheduler(opt, total_steps=100)
value = 0.0 if trial.number == 0 else 100.0
try:
    for i in range(trial.budget.evals):
        time.sleep(0.05)
        metric = torch.tensor([value + i * 0.001])
        dist.all_reduce(metric)
        trial.report(i, val_loss=float(metric) / dist.get_world_size())
except lrsearch.TrialPruned:
    (marker / f"trial{trial.number}.rank{rank}.pruned").write_text(str(i))
    dist.barrier()  # neither rank tears the group down while the other still uses it
    dist.destroy_process_group()
    raise
(marker / f"trial{trial.number}.rank{rank}.done").write_text(str(trial.world_size))
dist.barrier()
dist.destroy_process_group()
