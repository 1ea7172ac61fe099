"""The data contract of the built-in training loop: TensorTask, shared by built-in and user tasks.

A task is data held as tensors (no per-sample DataLoader), a model factory, a loss and the
validation metrics. The training loop (train/) draws shuffled minibatches by indexing the
tensors, so small data sets cost no Python per sample.

A user task is ``python:package.module:factory``: ``factory(**task_options)`` returns a
:class:`TensorTask`. See examples/user_task.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

Direction = Literal["minimize", "maximize"]
MetricFn = Callable[[Tensor, Tensor], float]
LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Metric:
    """A validation metric: ``fn(outputs, targets) -> float`` over the whole validation set."""

    fn: MetricFn
    direction: Direction


@dataclass
class TensorTask:
    """Everything a trial needs to train and validate a model.

    ``make_model()`` is called once per trial, after the trial's seed is set, so weights are
    reproducible. ``loss(outputs, targets)`` is minimized; ``val_loss`` is always reported, and
    ``metrics`` add more (``val_accuracy``, ...). Tensors may live on the CPU: the training
    loop moves them to the trial's device once.
    """

    name: str
    make_model: Callable[[], nn.Module]
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    loss: LossFn
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    default_metric: str = "val_loss"
    batch_size: int = 64
    eval_batch_size: int = 2048

    def metric_directions(self) -> dict[str, Direction]:
        """Every metric the task reports, with the direction in which it improves."""
        return {"val_loss": "minimize", **{k: m.direction for k, m in self.metrics.items()}}


def accuracy(outputs: Tensor, targets: Tensor) -> float:
    """Share of rows whose arg-max class equals the target class."""
    return float((outputs.argmax(dim=-1) == targets).float().mean().item())


def cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy over the last dimension; works for (N, C) and sequence (N, T, C) outputs."""
    return nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))


def to_device(task: TensorTask, device: torch.device) -> TensorTask:
    """The same task with its tensors on ``device`` (a no-op when they are already there)."""
    for name in ("x_train", "y_train", "x_val", "y_val"):
        setattr(task, name, getattr(task, name).to(device))
    return task
