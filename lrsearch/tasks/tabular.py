"""Your own table: a CSV, Parquet or NPZ file with a target column; an MLP on the rest.

Files:

- ``.csv``: a header row, then one row per example. Every column but the target must be
  numeric; the target may be numeric or text (text labels become classes).
- ``.parquet``: read with pyarrow, which must be installed (it is not a dependency).
- ``.npz``: either one 1-D array per column (the target is one of them), or a 2-D array ``x``
  with the features plus a 1-D array named like the target.

``kind="auto"`` is classification when the target is text, or integer-valued with at most 50
distinct values; otherwise regression. Class labels become ids 0..K-1 in sorted order.

The train/validation split is fixed by a ``RandomState(0)`` permutation, independent of the
trial's seed. Features are standardized with the training rows' mean and standard deviation
(a constant column is only centred).

- Classification: cross-entropy loss; metrics ``val_loss`` and ``val_accuracy`` (maximize);
  the default metric is ``val_loss``.
- Regression: the target is standardized with the training rows' mean and standard deviation
  too, and the loss is the mean squared error in those standardized units, so ``val_loss`` is
  the validation MSE divided by the training target's variance (1.0 is as good as predicting
  the training mean). There is no accuracy metric.
"""

from __future__ import annotations

import csv
import functools
import importlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from lrsearch.errors import InvalidInputError
from lrsearch.spec import check_task_options, option_field
from lrsearch.train.task import Metric, TensorTask, accuracy, cross_entropy

MAX_AUTO_CLASSES = 50
MIN_ROWS = 10
SPLIT_SEED = 0
SUFFIXES = (".csv", ".parquet", ".npz")

PATH_FIELD = option_field("path")
TARGET_FIELD = option_field("target")

FloatArray = npt.NDArray[np.float64]
# A raw column: float64 when numeric, or an array of str / object values (text labels).
Column = npt.NDArray[Any]


def _as_float(position: int, values: Column) -> FloatArray:
    """A feature column as float64, or an error naming the column's position and its first bad
    row (never the column's name or values: they are the file's contents)."""
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    for row, value in enumerate(values, start=1):
        try:
            if isinstance(value, bytes | str):
                float(value)
            elif value is None or isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError
        except (TypeError, ValueError):
            what = "is empty" if value is None or str(value) == "" else "holds text"
            raise InvalidInputError(
                PATH_FIELD, f"column {position} is not numeric: data row {row} {what}"
            ) from None
    return np.array([float(v) for v in values], dtype=np.float64)


def _numeric_or_text(values: Column) -> Column:
    """A target column as float64 if every value is a number, else as text."""
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        return np.array(["" if v is None else str(v) for v in values], dtype=np.str_)


def _read_csv(path: Path) -> dict[str, Column]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInputError(PATH_FIELD, f"cannot read {path} as UTF-8 CSV: {exc}") from exc
    if not rows:
        raise InvalidInputError(PATH_FIELD, f"{path} is empty; it needs a header row")
    header = [name.strip() for name in rows[0]]
    for i, name in enumerate(header):
        if name in header[:i]:
            first = header.index(name) + 1
            raise InvalidInputError(
                PATH_FIELD, f"{path} repeats a column name (columns {first} and {i + 1})"
            )
    body = [row for row in rows[1:] if row]  # blank lines carry nothing
    for line, row in enumerate(body, start=1):
        if len(row) != len(header):
            raise InvalidInputError(
                PATH_FIELD,
                f"{path}: data row {line} has {len(row)} fields, the header {len(header)}",
            )
    return {
        name: np.array([row[i].strip() for row in body], dtype=np.str_)
        for i, name in enumerate(header)
    }


def _read_parquet(path: Path) -> dict[str, Column]:
    try:
        parquet: Any = importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise InvalidInputError(
            PATH_FIELD, f"reading .parquet files needs pyarrow, which is not installed ({exc})"
        ) from exc
    try:
        table = parquet.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidInputError(PATH_FIELD, f"cannot read {path} as Parquet: {exc}") from exc
    columns: dict[str, Column] = {}
    for i, name in enumerate(table.column_names, start=1):
        values = np.asarray(table.column(name).to_numpy())
        if values.ndim != 1:
            raise InvalidInputError(PATH_FIELD, f"column {i} of {path} is not a column of scalars")
        columns[str(name)] = values
    return columns


def _read_npz(path: Path, target: str) -> tuple[dict[str, Column], FloatArray | None]:
    """Columns, or (when the file has a 2-D ``x``) just the target column and ``x``."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: np.asarray(npz[name]) for name in npz.files}
    except (OSError, ValueError) as exc:
        raise InvalidInputError(PATH_FIELD, f"cannot read {path} as .npz: {exc}") from exc
    if "x" in arrays and target != "x" and arrays["x"].ndim == 2:
        x = arrays["x"]
        if target not in arrays:
            raise InvalidInputError(
                TARGET_FIELD,
                f"{target!r} is not an array of {path} (it has {len(arrays)} arrays)",
            )
        if x.dtype.kind not in "biuf":
            raise InvalidInputError(PATH_FIELD, f"array 'x' in {path} is not numeric")
        return {target: arrays[target]}, x.astype(np.float64)
    for i, values in enumerate(arrays.values(), start=1):
        if values.ndim != 1:
            raise InvalidInputError(
                PATH_FIELD,
                f"array {i} of {path} has shape {values.shape}; an .npz holds either one "
                "1-D array per column, or a 2-D array 'x' with the features plus the target",
            )
    return arrays, None


def _read_table(path: Path, target: str) -> tuple[FloatArray, Column, list[str]]:
    """(features (N, D) float64, the raw target column (N,), feature names)."""
    if not path.is_file():
        raise InvalidInputError(PATH_FIELD, f"no such file: {path}")
    suffix = path.suffix.lower()
    x: FloatArray | None = None
    if suffix == ".csv":
        columns = _read_csv(path)
    elif suffix == ".parquet":
        columns = _read_parquet(path)
    elif suffix == ".npz":
        columns, x = _read_npz(path, target)
    else:
        raise InvalidInputError(
            PATH_FIELD, f"unknown file type {path.suffix!r}; use one of {', '.join(SUFFIXES)}"
        )
    if target not in columns:
        raise InvalidInputError(
            TARGET_FIELD,
            f"{target!r} is not a column of {path} (it has {len(columns)} columns)",
        )
    position = {name: i for i, name in enumerate(columns, start=1)}  # for messages: no names
    y = columns.pop(target)
    if x is not None:
        names = [f"x[:, {j}]" for j in range(x.shape[1])]
    else:
        names = list(columns)
        if any(len(values) != len(y) for values in columns.values()):
            raise InvalidInputError(
                PATH_FIELD, f"columns of {path} differ in length (the target has {len(y)} rows)"
            )
        x = np.zeros((len(y), len(names)), dtype=np.float64)
        for j, name in enumerate(names):
            x[:, j] = _as_float(position[name], columns[name])
    if x.shape[0] != len(y):
        raise InvalidInputError(
            PATH_FIELD, f"'x' in {path} has {x.shape[0]} rows, {target!r} has {len(y)}"
        )
    if not names:
        raise InvalidInputError(PATH_FIELD, f"{path} has no feature columns besides {target!r}")
    if len(y) < MIN_ROWS:
        raise InvalidInputError(
            PATH_FIELD, f"{path} has {len(y)} rows; at least {MIN_ROWS} are needed"
        )
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        where = f"column {position[names[col]]}" if names[col] in position else names[col]
        raise InvalidInputError(
            PATH_FIELD, f"{where} has a missing or non-finite value in data row {row + 1}"
        )
    return x, y, names


def _encode_target(y_raw: Column, kind: str) -> tuple[str, Column]:
    """("classification", int64 class ids) or ("regression", float64 values)."""
    y = _numeric_or_text(y_raw)
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y)
        if bad.any():
            row = int(np.argmax(bad)) + 1
            raise InvalidInputError(
                TARGET_FIELD, f"has a missing or non-finite value in data row {row}"
            )
        integral = bool(np.all(y == np.round(y)))
        classes = np.unique(y)
        if kind == "auto":
            auto = integral and len(classes) <= MAX_AUTO_CLASSES
            kind = "classification" if auto else "regression"
        if kind == "classification" and not integral:
            row = int(np.argmax(y != np.round(y))) + 1
            raise InvalidInputError(
                TARGET_FIELD,
                f"classification needs integer or text labels; data row {row} holds a fraction "
                "(use kind='regression')",
            )
    else:
        empty = np.flatnonzero(y == "")
        if len(empty):
            raise InvalidInputError(TARGET_FIELD, f"is empty in data row {int(empty[0]) + 1}")
        classes = np.unique(y)
        if kind == "auto" and len(classes) > MAX_AUTO_CLASSES:
            raise InvalidInputError(
                TARGET_FIELD,
                f"is text with {len(classes)} distinct values; kind='auto' allows at most "
                f"{MAX_AUTO_CLASSES} classes (pass kind='classification' to train anyway)",
            )
        if kind == "regression":
            row = next(i for i, v in enumerate(y, start=1) if not _is_number(v))
            raise InvalidInputError(
                TARGET_FIELD, f"regression needs a numeric target; data row {row} holds text"
            )
        kind = "classification"
    if kind == "regression":
        return kind, y
    if len(classes) < 2:
        raise InvalidInputError(TARGET_FIELD, "has a single class; need two")
    return kind, np.searchsorted(classes, y).astype(np.int64)


def _is_number(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(inputs, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, outputs),
    )


def mse(outputs: Tensor, targets: Tensor) -> Tensor:
    """Mean squared error; outputs and targets are (N, 1)."""
    return nn.functional.mse_loss(outputs, targets)


def _standardize(train: FloatArray, other: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (other - mean) / std


def tabular(
    path: str | os.PathLike[str],
    target: str,
    kind: str = "auto",
    val_fraction: float = 0.2,
    hidden: int = 64,
    batch_size: int = 64,
) -> TensorTask:
    """The task for the table in ``path``, predicting column ``target``."""
    options = {"path": path, "target": target, "kind": kind, "val_fraction": val_fraction}
    checked = check_task_options("tabular", {**options, "hidden": hidden, "batch_size": batch_size})
    file, target_name, kind_name = checked["path"], checked["target"], checked["kind"]
    fraction, n_hidden, batch = checked["val_fraction"], checked["hidden"], checked["batch_size"]

    x, y_raw, _names = _read_table(file, target_name)
    kind_name, y = _encode_target(y_raw, kind_name)

    n = len(y)
    n_val = min(n - 1, max(1, math.floor(n * fraction + 0.5)))
    order = np.random.RandomState(SPLIT_SEED).permutation(n)
    val, train = order[:n_val], order[n_val:]
    x_train, x_val = _standardize(x[train], x[val])
    features = x.shape[1]

    def f32(a: FloatArray) -> Tensor:
        return torch.tensor(a, dtype=torch.float32)

    if kind_name == "classification":
        n_classes = int(y.max()) + 1
        return TensorTask(
            name="tabular",
            make_model=functools.partial(_mlp, features, n_hidden, n_classes),
            x_train=f32(x_train),
            y_train=torch.tensor(y[train], dtype=torch.int64),
            x_val=f32(x_val),
            y_val=torch.tensor(y[val], dtype=torch.int64),
            loss=cross_entropy,
            metrics={"val_accuracy": Metric(accuracy, "maximize")},
            default_metric="val_loss",
            batch_size=batch,
        )
    y_train, y_val = _standardize(y[train].reshape(-1, 1), y[val].reshape(-1, 1))
    return TensorTask(
        name="tabular",
        make_model=functools.partial(_mlp, features, n_hidden, 1),
        x_train=f32(x_train),
        y_train=f32(y_train),
        x_val=f32(x_val),
        y_val=f32(y_val),
        loss=mse,
        metrics={},
        default_metric="val_loss",
        batch_size=batch,
    )
