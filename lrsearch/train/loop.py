"""The built-in training loop: a TensorTask trained through the Trial API, like user code.

Data stays as tensors on the device; each epoch draws a seeded permutation and slices
minibatches from it. The optimizer, the per-update scheduler and each validation's report are
the Trial's (``make_optimizer``, ``scheduler``, ``report``), so built-in tasks and the user's
own training share one runtime. A non-finite loss or metric raises TrainingDiverged; a pruned
trial raises TrialPruned out of ``trial.report``.
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
from lrsearch.train.task import TensorTask
from lrsearch.trial import Trial, TrialBudget

PROBE_SEED = 7_777  # the probes' batches: their own permutations, never training's


class Reporter(Protocol):
    """Receives each validation: ``(epoch, step, metrics)``; may raise to stop training."""

    def __call__(self, epoch: int, step: int, metrics: Mapping[str, float]) -> None: ...


@dataclass(frozen=True)
class RunLength:
    """``epochs`` passes over the training data, or ``steps`` updates validated ``evals`` times."""

    epochs: int | None = None
    steps: int | None = None
    evals: int = 10

    @classmethod
    def of(cls, budget: TrialBudget) -> RunLength:
        """A trial's budget as a run length (10 epochs when the budget names none)."""
        if budget.epochs is None and budget.steps is None:
            return cls(epochs=10)
        return cls(budget.epochs, budget.steps, budget.evals)


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


def run_task(task: TensorTask, trial: Trial, length: RunLength | None = None) -> TrainResult:
    """Train ``task``'s model as ``trial`` says; validate at each planned point and report.

    ``length`` defaults to the trial's budget. Raises TrialPruned, TrainingDiverged.
    """
    length = length or RunLength.of(trial.budget)
    if trial.sweep is not None:
        return _sweep(task, trial, length)
    device = trial.device
    started = time.perf_counter()
    torch.manual_seed(trial.seed)
    model = task.make_model().to(device)
    opt = trial.make_optimizer(model.parameters())
    total, checkpoints = plan(task, length)
    scheduler = trial.scheduler(opt, total)
    generator = torch.Generator(device="cpu").manual_seed(trial.seed)
    batches = _batches(task, generator, device)
    if trial.probe is not None:  # the anneal pruner's probes draw batches of their own
        probe_batches = _batches(
            task, torch.Generator(device="cpu").manual_seed(trial.seed + PROBE_SEED), device
        )
        trial.set_probe(
            model,
            opt,
            lambda: _update(task, model.train(), opt, *next(probe_batches)),
            lambda: evaluate(task, model),
        )
    metrics: dict[str, float] = {}
    step, loss_sum, loss_count = 0, torch.zeros((), device=device), 0
    for epoch, stop_at in enumerate(checkpoints):
        model.train()
        while step < stop_at:
            loss = _update(task, model, opt, *next(batches))
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
        _check_finite(epoch, metrics, ("train_loss",))
        trial.report(step, **metrics)
    return TrainResult(metrics)


def _sweep(task: TensorTask, trial: Trial, length: RunLength) -> TrainResult:
    """An LR range test's sweep: the training loss of every update, reported as it goes
    (no validation), until the Trial says the sweep ended (TrialPruned) or its updates ran.

    The scheduler is told the length a trial of the search trains (the sweep's
    ``trial_epochs``/``trial_steps``: what the sweep costs is counted in such trials); the
    sweep itself runs ``trial.sweep.sized(that length).steps`` updates.
    """
    assert trial.sweep is not None
    torch.manual_seed(trial.seed)
    model = task.make_model().to(trial.device)
    opt = trial.make_optimizer(model.parameters())
    sweep = trial.sweep
    if sweep.trial_epochs is not None or sweep.trial_steps is not None:
        length = RunLength(sweep.trial_epochs, sweep.trial_steps)  # one trial of the search
    total, _ = plan(task, length)
    scheduler = trial.scheduler(opt, total)
    updates = sweep.sized(total).steps
    generator = torch.Generator(device="cpu").manual_seed(trial.seed)
    batches = _batches(task, generator, trial.device)
    loss_value = math.nan
    model.train()
    for step in range(1, updates + 1):
        loss = _update(task, model, opt, *next(batches))
        scheduler.step()
        loss_value = float(loss.item())
        trial.report(step, train_loss=loss_value)
    return TrainResult({"train_loss": loss_value})


def _update(
    task: TensorTask, model: nn.Module, opt: torch.optim.Optimizer, xb: Tensor, yb: Tensor
) -> Tensor:
    """One optimizer update on a minibatch; its loss."""
    loss = task.loss(model(xb), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    opt.step()
    return loss


class _LoopReporter:
    """A Reporter (epoch, step, metrics) behind the Trial's report(step, metrics)."""

    def __init__(self, reporter: Reporter | None, metric: str) -> None:
        self.reporter, self.metric, self.epoch = reporter, metric, 0

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        epoch, self.epoch = self.epoch, self.epoch + 1
        finite = math.isfinite(metrics.get(self.metric, 0.0))
        if self.reporter is not None and finite:  # the Trial raises TrainingDiverged next
            self.reporter(epoch, step, metrics)
        return False


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
    """Train ``task``'s model with ``schedule`` outside any search (benchmarks, retraining):
    :func:`run_task` with a Trial of its own; ``reporter`` sees each validation."""
    trial = Trial(
        number=0,
        params={},
        schedule=schedule,
        optimizer=optimizer,
        optimizer_params=optimizer_params,
        seed=seed,
        budget=TrialBudget(length.epochs, length.steps, length.evals),
        metric=metric,
        direction=direction,
        device=str(device),
        reporter=_LoopReporter(reporter, metric),
    )
    return run_task(task, trial, length)


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
