"""Built-in task names and their metrics, without importing torch.

The search spec is validated at the edge (CLI, HTTP) where torch must not be imported; this
catalog is what it checks against. tasks/registry.py builds the real tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrsearch.errors import InvalidInputError

USER_TASK_PREFIX = "python:"


@dataclass(frozen=True)
class TaskInfo:
    name: str
    summary: str
    metrics: dict[str, str]  # name -> "minimize" | "maximize"
    default_metric: str
    options: dict[str, str]  # option -> help


BUILTIN_TASKS: dict[str, TaskInfo] = {
    info.name: info
    for info in (
        TaskInfo(
            "digits-mlp",
            "scikit-learn's bundled 8x8 digits, fixed train/validation split, MLP",
            {"val_loss": "minimize", "val_accuracy": "maximize"},
            "val_accuracy",
            {"hidden": "hidden units (default 128)", "batch_size": "minibatch size (default 64)"},
        ),
        TaskInfo(
            "digits-cnn",
            "scikit-learn's bundled 8x8 digits, fixed train/validation split, small CNN",
            {"val_loss": "minimize", "val_accuracy": "maximize"},
            "val_accuracy",
            {"channels": "conv channels (default 16)", "batch_size": "minibatch size (default 64)"},
        ),
        TaskInfo(
            "charlm",
            "small causal transformer language model on the Python standard library's source",
            {"val_loss": "minimize"},
            "val_loss",
            {
                "chars": "corpus size in bytes of UTF-8 source (default 200000)",
                "context": "context length (default 64)",
                "d_model": "model width (default 64)",
                "layers": "transformer layers (default 2)",
                "heads": "attention heads; must divide d_model (default 4)",
                "batch_size": "minibatch size (default 32)",
            },
        ),
        TaskInfo(
            "tabular",
            "your CSV, Parquet or NPZ file with a target column; MLP classifier or regressor",
            {"val_loss": "minimize", "val_accuracy": "maximize"},  # accuracy: classification only
            "val_loss",
            {
                "path": "the data file (.csv, .parquet or .npz); required",
                "target": "the target column; required",
                "kind": "classification, regression or auto (default auto)",
                "val_fraction": "share of rows held out for validation (default 0.2)",
                "hidden": "hidden units (default 64)",
                "batch_size": "minibatch size (default 64)",
            },
        ),
    )
}


def check_task_name(task: str, field: str = "task") -> None:
    """A built-in name or ``python:package.module:factory``; anything else is an error."""
    if task in BUILTIN_TASKS:
        return
    if task.startswith(USER_TASK_PREFIX):
        module, colon, factory = task[len(USER_TASK_PREFIX) :].partition(":")
        if colon and module and factory.isidentifier():
            return
        raise InvalidInputError(field, f"{task!r} is not of the form python:package.module:factory")
    known = ", ".join(BUILTIN_TASKS)
    raise InvalidInputError(
        field,
        f"unknown task {task!r}: built-in tasks are {known}, or python:package.module:factory",
    )
