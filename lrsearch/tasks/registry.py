"""Build a task by name: a built-in one (see lrsearch.spec.catalog) or ``python:module:factory``.

Built-in factories are imported lazily, so loading ``charlm`` does not import scikit-learn.
Options are checked against the catalog first (the same checks the spec ran at submission);
the built-in factories check their arguments too, so calling them from Python gives the same
errors.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import torch

from lrsearch.errors import InvalidInputError
from lrsearch.spec import (
    BUILTIN_TASKS,
    USER_TASK_PREFIX,
    check_task_name,
    check_task_options,
)
from lrsearch.spec.catalog import OPTIONS_FIELD
from lrsearch.train.task import TensorTask


def _builtin_factory(name: str) -> Callable[..., TensorTask]:
    if name == "digits-mlp":
        from lrsearch.tasks.digits import digits_mlp

        return digits_mlp
    if name == "digits-cnn":
        from lrsearch.tasks.digits import digits_cnn

        return digits_cnn
    if name == "charlm":
        from lrsearch.tasks.charlm import charlm

        return charlm
    if name == "tabular":
        from lrsearch.tasks.tabular import tabular

        return tabular
    raise AssertionError(f"built-in task {name!r} has no factory")  # catalog and registry differ


def load_task(name: str, options: Mapping[str, object]) -> TensorTask:
    """The task called ``name``, built with ``options`` (the search spec's ``task_options``).

    Every bad name, option or user factory result raises :class:`InvalidInputError`.
    """
    check_task_name(name)
    checked = check_task_options(name, options)
    if name in BUILTIN_TASKS:
        return _builtin_factory(name)(**checked)
    return _load_user_task(name, options)


def import_user_module(module_name: str, field: str, purpose: str = "") -> ModuleType:
    """The user's module (a ``python:`` task's, an objective's), importable from the working
    folder too, like ``python -m``; an import error names ``field``."""
    if os.getcwd() not in sys.path:  # like `python -m`: modules beside the spec are importable
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except (ImportError, SyntaxError) as exc:
        raise InvalidInputError(
            field, f"cannot import module {module_name!r}{purpose}: {exc}"
        ) from exc


def _load_user_task(name: str, options: Mapping[str, object]) -> TensorTask:
    module_name, _, factory_name = name[len(USER_TASK_PREFIX) :].partition(":")
    module = import_user_module(module_name, "task", f" for task {name!r}")
    factory: Any = getattr(module, factory_name, None)
    if factory is None:
        raise InvalidInputError("task", f"module {module_name!r} has no attribute {factory_name!r}")
    if not callable(factory):
        raise InvalidInputError(
            "task", f"{module_name}.{factory_name} is a {type(factory).__name__}, not a function"
        )
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some callables have no signature; just call them
        signature = None
    if signature is not None:
        try:
            signature.bind(**options)
        except TypeError as exc:
            raise InvalidInputError(
                OPTIONS_FIELD, f"do not fit {module_name}.{factory_name}{signature}: {exc}"
            ) from exc
    task = factory(**options)
    if not isinstance(task, TensorTask):
        raise InvalidInputError(
            "task", f"{module_name}.{factory_name} returned {type(task).__name__}, not a TensorTask"
        )
    _check_user_task(name, task)
    return task


def _check_user_task(name: str, task: TensorTask) -> None:
    """Catch the mistakes that would otherwise surface deep inside the training loop."""
    for attr in ("x_train", "y_train", "x_val", "y_val"):
        if not isinstance(getattr(task, attr), torch.Tensor):
            raise InvalidInputError("task", f"{name} returned a task whose {attr} is not a Tensor")
    for split in ("train", "val"):
        x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
        if len(x) == 0 or len(x) != len(y):
            raise InvalidInputError(
                "task",
                f"{name}: x_{split} has {len(x)} rows and y_{split} {len(y)}; "
                "they must be equal and non-zero",
            )
    directions = task.metric_directions()
    if task.default_metric not in directions:
        raise InvalidInputError(
            "task",
            f"{name}: default_metric {task.default_metric!r} is not one of {', '.join(directions)}",
        )
    if task.batch_size < 1 or task.eval_batch_size < 1:
        raise InvalidInputError("task", f"{name}: batch sizes must be positive")
