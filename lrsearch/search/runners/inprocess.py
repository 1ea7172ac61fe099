"""Trials in the worker's own process: built-in (and ``python:``) tasks, and function trials.

Both run through the same Trial as a command trial; only the reporter is in-process. One
function, :func:`settle`, decides what an ending means: TrialPruned (lrsearch's or Optuna's)
is PRUNED, a non-finite metric or loss is FAILED "diverged", and a function's float return
value (else its last reported metric) is the trial's value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from lrsearch.errors import InvalidInputError, TrainingDiverged
from lrsearch.search.runners.backend import TrialBackend
from lrsearch.search.runners.base import RunResult
from lrsearch.store import Outcome
from lrsearch.tasks.registry import import_user_module
from lrsearch.train.loop import run_task
from lrsearch.train.task import TensorTask
from lrsearch.trial import Trial, TrialPruned, activated

PRUNED = (TrialPruned, optuna.TrialPruned)


@dataclass(frozen=True)
class TaskRunner:
    """The built-in loop on a TensorTask."""

    task: TensorTask

    def run(self, trial: Trial, backend: TrialBackend) -> RunResult:
        trial.reporter = backend
        try:
            result = run_task(self.task, trial)
        except PRUNED:
            return settle(backend, trial.metric, None, pruned=True)
        except TrainingDiverged as exc:
            return diverged(exc)
        return settle(backend, trial.metric, result.metrics.get(trial.metric))


@dataclass(frozen=True)
class FunctionRunner:
    """``function(trial)`` in this process; ``lrsearch.trial.current()`` is the trial meanwhile."""

    function: Callable[[Trial], Any]
    name: str

    def run(self, trial: Trial, backend: TrialBackend) -> RunResult:
        trial.reporter = backend
        try:
            with activated(trial):
                returned = self.function(trial)
        except PRUNED:
            return settle(backend, trial.metric, None, pruned=True)
        except TrainingDiverged as exc:
            return diverged(exc)
        value = returned if _is_number(returned) else None
        return settle(backend, trial.metric, value, what=f"the function {self.name}")


def settle(
    backend: TrialBackend,
    metric: str,
    value: float | None,
    *,
    pruned: bool = False,
    what: str = "the trial",
) -> RunResult:
    """The outcome of a trial that ended in this process (see the module docstring)."""
    if backend.diverged is not None:
        return RunResult(Outcome.FAILED, reason="diverged")
    if pruned or backend.pruned:
        return RunResult(Outcome.PRUNED)
    value = value if value is not None else backend.last_value
    if value is None:
        return RunResult(Outcome.FAILED, reason=f"{what} returned without reporting {metric}")
    if not math.isfinite(value):
        return RunResult(Outcome.FAILED, reason="diverged")
    return RunResult(Outcome.COMPLETE, float(value))


def diverged(exc: TrainingDiverged) -> RunResult:
    """FAILED "diverged", with where it happened in ``fail_detail``."""
    return RunResult(Outcome.FAILED, reason="diverged", attrs={"fail_detail": str(exc)})


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def load_objective(target: str) -> Callable[[Trial], Any]:
    """``package.module:function`` imported (modules beside the worker's cwd too)."""
    module_name, _, function_name = target.partition(":")
    module = import_user_module(module_name, "objective")
    function = getattr(module, function_name, None)
    if not callable(function):
        raise InvalidInputError(
            "objective", f"module {module_name!r} has no function {function_name!r}"
        )
    return function  # type: ignore[no-any-return]
