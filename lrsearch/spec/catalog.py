"""The built-in tasks as data: names, metrics, options and their checks, without importing torch.

A search spec is validated at the edge (the CLI, the HTTP service) where torch must not be
imported; this catalog is what it checks ``task`` and ``task_options`` against, so a bad option
is refused at submission, not by an agent. The task modules (lrsearch/tasks) use the same
checks on their arguments, so calling a task factory from Python gives the same errors.

>>> check_task_options("digits-mlp", {"hidden": 0})
Traceback (most recent call last):
...
lrsearch.errors.InvalidInputError: task_options.hidden: must be at least 1, got 0
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrsearch.errors import InvalidInputError

USER_TASK_PREFIX = "python:"
OPTIONS_FIELD = "task_options"
# charlm needs this many context windows, so that a validation split exists.
CHARLM_MIN_WINDOWS = 10
TABULAR_KINDS = ("auto", "classification", "regression")
# Task options nest at most this deep: a JSON value nested a thousand levels deep would break
# the serializers (RecursionError) after a search had half been created.
MAX_OPTION_DEPTH = 32


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
    """A number strictly between 0 and 1 (NaN and infinities are not)."""
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
    if isinstance(value, str) and value and "\x00" not in value:
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


Check = Callable[[str, object], object]


@dataclass(frozen=True)
class TaskOption:
    """One option of a built-in task: what it means, how it is checked, its default."""

    help: str
    check: Check
    default: Any = None  # None: required

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class TaskInfo:
    name: str
    summary: str
    metrics: dict[str, str]  # name -> "minimize" | "maximize"
    default_metric: str
    options: dict[str, TaskOption]
    # Constraints between options, given every option with its default filled in.
    check: Callable[[Mapping[str, Any]], None] | None = None
    path_options: tuple[str, ...] = ()  # options naming a file the agents will read


def _int_option(help: str, default: int) -> TaskOption:
    return TaskOption(f"{help} (default {default})", check_int, default)


def _batch(default: int) -> TaskOption:
    return _int_option("minibatch size", default)


def _check_charlm(options: Mapping[str, Any]) -> None:
    d_model, heads = options["d_model"], options["heads"]
    if d_model % heads:
        raise InvalidInputError(
            option_field("d_model"), f"must be divisible by heads ({heads}), got {d_model}"
        )
    chars, window = options["chars"], options["context"] + 1
    if chars // window < CHARLM_MIN_WINDOWS:
        raise InvalidInputError(
            option_field("chars"),
            f"{chars} bytes make {chars // window} windows of context+1 = {window} tokens; "
            f"at least {CHARLM_MIN_WINDOWS} are needed "
            f"(use at least {CHARLM_MIN_WINDOWS * window} chars)",
        )


BUILTIN_TASKS: dict[str, TaskInfo] = {
    info.name: info
    for info in (
        TaskInfo(
            "digits-mlp",
            "scikit-learn's bundled 8x8 digits, fixed train/validation split, MLP",
            {"val_loss": "minimize", "val_accuracy": "maximize"},
            "val_accuracy",
            {"hidden": _int_option("hidden units", 128), "batch_size": _batch(64)},
        ),
        TaskInfo(
            "digits-cnn",
            "scikit-learn's bundled 8x8 digits, fixed train/validation split, small CNN",
            {"val_loss": "minimize", "val_accuracy": "maximize"},
            "val_accuracy",
            {"channels": _int_option("conv channels", 16), "batch_size": _batch(64)},
        ),
        TaskInfo(
            "charlm",
            "small causal transformer language model on the Python standard library's source",
            {"val_loss": "minimize"},
            "val_loss",
            {
                "chars": _int_option("corpus size in bytes of UTF-8 source", 200_000),
                "context": _int_option("context length", 64),
                "d_model": _int_option("model width", 64),
                "layers": _int_option("transformer layers", 2),
                "heads": _int_option("attention heads; must divide d_model", 4),
                "batch_size": _batch(32),
            },
            check=_check_charlm,
        ),
        TaskInfo(
            "tabular",
            "your CSV, Parquet or NPZ file with a target column; MLP classifier or regressor",
            {"val_loss": "minimize", "val_accuracy": "maximize"},  # accuracy: classification only
            "val_loss",
            {
                "path": TaskOption("the data file (.csv, .parquet or .npz); required", check_path),
                "target": TaskOption("the target column; required", check_str),
                "kind": TaskOption(
                    "classification, regression or auto (default auto)",
                    lambda name, value: check_choice(name, value, TABULAR_KINDS),
                    "auto",
                ),
                "val_fraction": TaskOption(
                    "share of rows held out for validation (default 0.2)", check_fraction, 0.2
                ),
                "hidden": _int_option("hidden units", 64),
                "batch_size": _batch(64),
            },
            path_options=("path",),
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


def check_option_depth(options: object, limit: int = MAX_OPTION_DEPTH) -> None:
    """Refuse options whose lists and mappings nest deeper than ``limit`` (checked without
    recursion, so that the check itself cannot overflow the stack)."""
    stack: list[tuple[object, int]] = [(options, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children: Any = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > limit:
            raise InvalidInputError(OPTIONS_FIELD, f"nests deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def check_option_text(options: Mapping[str, object]) -> None:
    """Refuse a NUL byte in any key or string value: it is no file name, column or value a
    task can use, and PostgreSQL refuses it in text. (Run after the depth check.)"""
    stack: list[tuple[object, str]] = [(options, OPTIONS_FIELD)]
    while stack:
        value, field = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInputError(field, "contains a NUL byte")
        if isinstance(value, Mapping):
            stack.extend((key, field) for key in value)
            stack.extend((child, f"{field}.{key}") for key, child in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((child, f"{field}.{i}") for i, child in enumerate(value))


def check_task_options(task: str, options: Mapping[str, object]) -> dict[str, Any]:
    """Every option of ``task`` checked, defaults filled in (built-in tasks); names only for
    user tasks, whose options are the factory's business.

    What cannot be known without reading a file or importing torch (a missing data file, a
    target that is not a column) is left to the task itself, at load time.
    """
    check_option_depth(options)
    check_option_text(options)
    for key in options:
        if not isinstance(key, str) or not key.isidentifier():
            raise InvalidInputError(OPTIONS_FIELD, f"option names must be identifiers, got {key!r}")
    info = BUILTIN_TASKS.get(task)
    if info is None:
        return dict(options)
    for key in options:
        if key not in info.options:
            raise InvalidInputError(
                option_field(key),
                f"unknown option for task {task!r}; its options are {', '.join(info.options)}",
            )
    checked: dict[str, Any] = {}
    for key, option in info.options.items():
        if key in options:
            checked[key] = option.check(key, options[key])
        elif option.required:
            raise InvalidInputError(option_field(key), f"is required for task {task!r}")
        else:
            checked[key] = option.default
    if info.check is not None:
        info.check(checked)
    return checked
