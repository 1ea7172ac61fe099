"""Build a task by name: a built-in one (see catalog.py) or ``python:package.module:factory``.

Built-in factories are imported lazily, so loading ``charlm`` does not import scikit-learn.
The option checks here are shared by the built-in factories, which validate their arguments
themselves so that calling them directly from Python gives the same errors.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from lrsearch.errors import InvalidInputError
from lrsearch.tasks.base import TensorTask
from lrsearch.tasks.catalog import BUILTIN_TASKS, USER_TASK_PREFIX, check_task_name

OPTIONS_FIELD = "task_options"


def option_field(name: str) -> str:
    """The field an option's errors are reported under, e.g. ``task_options.hidden``."""
    return f"{OPTIONS_FIELD}.{name}"


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """An integer option (``bool`` is not an integer here) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(
            option_field(name), f"must be an integer, got {type(value).__name__} {value!r}"
        )
    if value < minimum:
        raise InvalidInputError(option_field(name), f"must be at least {minimum}, got {value}")
    return value


def check_fraction(name: str, value: object) -> float:
    """A number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(
            option_field(name), f"must be a number, got {type(value).__name__} {value!r}"
        )
    number = float(value)
    if not (math.isfinite(number) and 0.0 < number < 1.0):
        raise InvalidInputError(option_field(name), f"must be between 0 and 1, got {value!r}")
    return number


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(
            option_field(name), f"must be one of {', '.join(choices)}, got {value!r}"
        )
    return value


def check_path(name: str, value: object) -> Path:
    """A path given as a string or ``os.PathLike`` (existence is checked by the reader)."""
    if isinstance(value, str) and value:
        return Path(value)
    if isinstance(value, os.PathLike):
        return Path(value)
    raise InvalidInputError(
        option_field(name), f"must be a file path, got {type(value).__name__} {value!r}"
    )


def check_str(name: str, value: object) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError(
            option_field(name), f"must be a non-empty string, got {type(value).__name__} {value!r}"
        )
    return value


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
    for key in options:
        if not isinstance(key, str) or not key.isidentifier():
            raise InvalidInputError(OPTIONS_FIELD, f"option names must be identifiers, got {key!r}")
    if name in BUILTIN_TASKS:
        allowed = BUILTIN_TASKS[name].options
        for key in options:
            if key not in allowed:
                raise InvalidInputError(
                    option_field(key),
                    f"unknown option for task {name!r}; its options are {', '.join(allowed)}",
                )
        factory = _builtin_factory(name)
        for param in inspect.signature(factory).parameters.values():
            if param.default is inspect.Parameter.empty and param.name not in options:
                raise InvalidInputError(option_field(param.name), f"is required for task {name!r}")
        return factory(**options)
    return _load_user_task(name, options)


def _load_user_task(name: str, options: Mapping[str, object]) -> TensorTask:
    module_name, _, factory_name = name[len(USER_TASK_PREFIX) :].partition(":")
    if os.getcwd() not in sys.path:  # like `python -m`: modules beside the spec are importable
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except (ImportError, SyntaxError) as exc:
        raise InvalidInputError(
            "task", f"cannot import module {module_name!r} for task {name!r}: {exc}"
        ) from exc
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
