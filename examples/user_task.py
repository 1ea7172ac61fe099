"""An example user task: two interleaving half-moons, classified by a small MLP.

Use it from the repository root with::

    task = "python:examples.user_task:make_task"
    task_options = {n_samples = 2000, noise = 0.3}   # optional; passed as keyword arguments

Writing your own task
---------------------
A user task is any importable function (``python:package.module:function``) that takes the
spec's ``task_options`` as keyword arguments and returns an ``lrsearch.tasks.base.TensorTask``:

``name``
    A label for reports.
``make_model``
    A function with no arguments returning a fresh ``torch.nn.Module``. lrsearch calls it once
    per trial, *after* seeding the trial's random number generators, so build the weights
    inside it (not at import time, not once in the factory) and trials are reproducible.
``x_train``, ``y_train``, ``x_val``, ``y_val``
    The whole data set as tensors; the first dimension is the example. The training loop
    draws shuffled minibatches by indexing them, and scores every validation row. They may
    stay on the CPU: the loop moves them to the trial's device once. Keep the train/validation
    split fixed (independent of the trial seed), or trials are scored on different data.
``loss``
    ``loss(outputs, targets) -> scalar tensor``, minimized; ``val_loss`` is its mean over the
    validation set and is always reported. ``lrsearch.tasks.base.cross_entropy`` handles
    ``(N, C)`` and ``(N, T, C)`` outputs.
``metrics``
    More validation metrics: ``{"val_accuracy": Metric(accuracy, "maximize")}``; each
    ``fn(outputs, targets) -> float`` sees the whole validation set.
``default_metric``
    The metric the search optimizes unless the spec names another: ``"val_loss"`` or a key
    of ``metrics``.
``batch_size``, ``eval_batch_size``
    The training minibatch size, and the chunk size for validation.

Make the data deterministic (a fixed seed, as here, or a file), and keep the factory cheap:
it runs in every worker process.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lrsearch.errors import InvalidInputError
from lrsearch.tasks.base import Metric, TensorTask, accuracy, cross_entropy

DATA_SEED = 0  # fixed: the data and the split never depend on the trial's seed
VAL_FRACTION = 0.2


def two_moons(n_samples: int, noise: float, seed: int = DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` points on two interleaving half-circles plus Gaussian ``noise``;
    labels 0 (upper moon) and 1 (lower moon)."""
    rng = np.random.RandomState(seed)
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    angle_upper = np.linspace(0.0, np.pi, n_upper)
    angle_lower = np.linspace(0.0, np.pi, n_lower)
    upper = np.stack([np.cos(angle_upper), np.sin(angle_upper)], axis=1)
    lower = np.stack([1.0 - np.cos(angle_lower), 0.5 - np.sin(angle_lower)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(scale=noise, size=(n_samples, 2))
    y = np.concatenate([np.zeros(n_upper, dtype=np.int64), np.ones(n_lower, dtype=np.int64)])
    order = rng.permutation(n_samples)
    return x[order].astype(np.float32), y[order]


def make_model(hidden: int = 32) -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2)
    )


def make_task(n_samples: int = 1000, noise: float = 0.2) -> TensorTask:
    """The two-moons task; ``noise`` is the standard deviation of the added Gaussian noise."""
    # Bad options are best reported as InvalidInputError naming the option: lrsearch then
    # shows one clean line (CLI) or a 4xx response (HTTP) instead of a traceback.
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 10:
        raise InvalidInputError(
            "task_options.n_samples", f"must be an integer >= 10, got {n_samples!r}"
        )
    if not isinstance(noise, int | float) or noise < 0:
        raise InvalidInputError("task_options.noise", f"must be a number >= 0, got {noise!r}")
    x, y = two_moons(n_samples, noise)
    n_val = int(n_samples * VAL_FRACTION)
    return TensorTask(
        name="two-moons",
        make_model=make_model,
        x_train=torch.from_numpy(x[n_val:]),
        y_train=torch.from_numpy(y[n_val:]),
        x_val=torch.from_numpy(x[:n_val]),
        y_val=torch.from_numpy(y[:n_val]),
        loss=cross_entropy,
        metrics={"val_accuracy": Metric(accuracy, "maximize")},
        default_metric="val_accuracy",
        batch_size=32,
    )
