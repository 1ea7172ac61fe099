"""The training loop: a TensorTask, a schedule applied per optimizer update, a Reporter.

Data stays as tensors on the device; each epoch draws a seeded permutation and slices
minibatches from it. After each validation the Reporter receives the epoch's metrics; it may
raise to stop the run (the search objective raises optuna's TrialPruned there, which this
module never imports). A non-finite loss or metric raises TrainingDiverged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from lrsearch.errors import TrainingDiverged
from lrsearch.schedules import ScheduleSpec
from lrsearch.train.optim import make_optimizer
from lrsearch.train.task import TensorTask
from lrsearch.train.torch_schedule import SpecLR


class Reporter(Protocol):
    """Receives each validation: ``(epoch, step, metrics)``; may raise to stop training."""

    def __call__(self, epoch: int, step: int, metrics: Mapping[str, float]) -> None: ...


@dataclass(frozen=True)
class RunLength:
    """``epochs`` passes over the training data, or ``steps`` updates validated ``evals`` times."""

    epochs: int | None = None
    steps: int | None = None
    evals: int = 10


@dataclass(frozen=True)
class TrainResult:
    """The metrics of the last validation."""

    metrics: dict[str, float]


def steps_per_epoch(task: TensorTask) -> int:
    return max(1, math.ceil(len(task.x_train) / task.batch_size))


def plan(task: TensorTask, length: RunLength) -> tuple[int, list[int]]:
    """Total updates, and the update counts after which to validate (the last is the total)."""
    if length.epochs is not None:
        per_epoch = steps_per_epoch(task)
        return length.epochs * per_epoch, [per_epoch * (e + 1) for e in range(length.epochs)]
    assert length.steps is not None
    total, evals = length.steps, min(length.evals, length.steps)
    return total, sorted({math.ceil(total * (i + 1) / evals) for i in range(evals)})


def train(
    task: TensorTask,
    schedule: ScheduleSpec,
    optimizer: str,
    optimizer_params: Mapping[str, float | bool],
    *,
    length: RunLength,
    seed: int,
    metric: str,
    direction: str,
    reporter: Reporter | None = None,
    device: torch.device | str = "cpu",
) -> TrainResult:
    """Train ``task``'s model with ``schedule``; validate at each planned point; report."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    model = task.make_model().to(device)
    opt = make_optimizer(optimizer, model.parameters(), schedule.lr, optimizer_params)
    total, checkpoints = plan(task, length)
    scheduler = SpecLR(
        opt, schedule, total, metric_mode="max" if direction == "maximize" else "min"
    )
    generator = torch.Generator(device="cpu").manual_seed(seed)
    batches = _batches(task, generator, device)
    metrics: dict[str, float] = {}
    step, loss_sum, loss_count = 0, torch.zeros((), device=device), 0
    for epoch, stop_at in enumerate(checkpoints):
        model.train()
        while step < stop_at:
            xb, yb = next(batches)
            loss = task.loss(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            scheduler.step()
            loss_sum += loss.detach()
            loss_count += 1
            step += 1
        metrics = {"train_loss": float(loss_sum.item()) / max(loss_count, 1)}
        loss_sum.zero_()
        loss_count = 0
        metrics.update(evaluate(task, model))
        metrics["lr"] = opt.param_groups[0]["lr"]
        metrics["seconds"] = time.perf_counter() - started
        _check_finite(epoch, metrics, ("train_loss", metric))
        scheduler.observe(metrics[metric])
        if reporter is not None:
            reporter(epoch, step, metrics)
    return TrainResult(metrics)


def _batches(
    task: TensorTask, generator: torch.Generator, device: torch.device | str
) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless shuffled minibatches: one seeded permutation per pass over the data."""
    x, y = task.x_train.to(device), task.y_train.to(device)
    n, size = len(x), task.batch_size
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, size):
            index = order[start : start + size]
            yield x[index], y[index]


@torch.no_grad()
def evaluate(task: TensorTask, model: nn.Module) -> dict[str, float]:
    """``val_loss`` and the task's metrics over the whole validation set, in large batches."""
    model.eval()
    device = next(model.parameters()).device
    x, y = task.x_val.to(device), task.y_val.to(device)
    outputs = torch.cat(
        [model(x[i : i + task.eval_batch_size]) for i in range(0, len(x), task.eval_batch_size)]
    )
    results = {"val_loss": float(task.loss(outputs, y).item())}
    for name, metric in task.metrics.items():
        results[name] = float(metric.fn(outputs, y))
    return results


def _check_finite(epoch: int, metrics: Mapping[str, float], keys: tuple[str, ...]) -> None:
    for key in keys:
        value = metrics.get(key)
        if value is not None and not math.isfinite(value):
            raise TrainingDiverged(epoch, key, value)
