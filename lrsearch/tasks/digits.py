"""scikit-learn's bundled 8x8 digits (1797 images, offline): an MLP and a small CNN.

The train/validation split is fixed (a ``RandomState(0)`` permutation, 80/20), independent of
the trial's seed, so every trial is scored on the same 359 validation images. Pixels are scaled
from 0..16 to [0, 1].
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from lrsearch.errors import MissingExtra
from lrsearch.spec import check_task_options
from lrsearch.train.task import Metric, TensorTask, accuracy, cross_entropy

N_CLASSES = 10
VAL_FRACTION = 0.2
SPLIT_SEED = 0

_Arrays = tuple[
    npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int64]
]


@functools.cache
def _digits_arrays() -> _Arrays:
    """(x_train, y_train, x_val, y_val), loaded and split once per process."""
    try:
        from sklearn.datasets import load_digits  # the data set ships with scikit-learn
    except ImportError:
        raise MissingExtra("the digits data set", "tabular") from None

    data = load_digits()
    x = (np.asarray(data.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(data.target, dtype=np.int64)
    order = np.random.RandomState(SPLIT_SEED).permutation(len(y))
    n_val = round(len(y) * VAL_FRACTION)
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def _task(name: str, model: Callable[[], nn.Module], batch_size: int, image: bool) -> TensorTask:
    x_train, y_train, x_val, y_val = _digits_arrays()
    shape = (-1, 1, 8, 8) if image else (-1, 64)
    # Copies, so that nothing done to a task's tensors can reach the cached arrays.
    return TensorTask(
        name=name,
        make_model=model,
        x_train=torch.tensor(x_train).reshape(shape),
        y_train=torch.tensor(y_train),
        x_val=torch.tensor(x_val).reshape(shape),
        y_val=torch.tensor(y_val),
        loss=cross_entropy,
        metrics={"val_accuracy": Metric(accuracy, "maximize")},
        default_metric="val_accuracy",
        batch_size=batch_size,
    )


def _mlp(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, N_CLASSES))


def _cnn(channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, channels, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Flatten(),
        nn.Linear(2 * channels * 16, N_CLASSES),
    )


def digits_mlp(hidden: int = 128, batch_size: int = 64) -> TensorTask:
    """Digits as 64 features, one hidden ReLU layer of ``hidden`` units."""
    check_task_options("digits-mlp", {"hidden": hidden, "batch_size": batch_size})
    return _task("digits-mlp", functools.partial(_mlp, hidden), batch_size, image=False)


def digits_cnn(channels: int = 16, batch_size: int = 64) -> TensorTask:
    """Digits as (1, 8, 8) images: two 3x3 conv layers (``channels``, 2x``channels``), max-pool,
    linear."""
    check_task_options("digits-cnn", {"channels": channels, "batch_size": batch_size})
    return _task("digits-cnn", functools.partial(_cnn, channels), batch_size, image=True)
