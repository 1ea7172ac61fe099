"""Trials in the worker's own process: built-in (and ``python:``) tasks, and function trials.

Both run through the same Trial as a command trial; only the reporter is in-process. Each has
its own log, ``trial.log`` in the trial's folder, as a command trial does: a line per report,
what the code printed meanwhile (Python's ``print`` and ``sys.stderr``), and the traceback of
an error; its tail is kept in the trial's ``log_tail``. One
function, :func:`settle`, decides what an ending means: TrialPruned (lrsearch's or Optuna's)
is PRUNED, a non-finite metric or loss is FAILED "diverged", and a function's float return
value (else its last reported metric) is the trial's value.
"""

from __future__ import annotations

import contextlib
import math
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, TextIO

import optuna

from lrsearch.errors import InvalidInputError, TrainingDiverged
from lrsearch.search.runners.backend import TrialBackend
from lrsearch.search.runners.base import RunResult
from lrsearch.search.runners.command import LOG_NAME, LOG_TAIL_ATTR, read_tail
from lrsearch.store import Outcome
from lrsearch.tasks.registry import import_user_module
from lrsearch.train.loop import run_task
from lrsearch.train.task import TensorTask
from lrsearch.trial import Trial, TrialPruned, activated

PRUNED = (TrialPruned, optuna.TrialPruned)


class _InProcess:
    """A runner in the worker's process: the trial runs with its log (see the module
    docstring), and its result carries the log's tail."""

    def run(self, trial: Trial, backend: TrialBackend) -> RunResult:
        with trial_log(trial, backend):
            result = self._run(trial, backend)
        return with_log_tail(result, trial)

    def _run(self, trial: Trial, backend: TrialBackend) -> RunResult:
        raise NotImplementedError


@dataclass(frozen=True)
class TaskRunner(_InProcess):
    """The built-in loop on a TensorTask."""

    task: TensorTask

    def _run(self, trial: Trial, backend: TrialBackend) -> RunResult:
        try:
            result = run_task(self.task, trial)
        except PRUNED:
            return settle(backend, trial.metric, None, pruned=True)
        except TrainingDiverged as exc:
            return diverged(exc)
        return settle(backend, trial.metric, result.metrics.get(trial.metric))


@dataclass(frozen=True)
class FunctionRunner(_InProcess):
    """``function(trial)`` in this process; ``lrsearch.trial.current()`` is the trial meanwhile."""

    function: Callable[[Trial], Any]
    name: str

    def _run(self, trial: Trial, backend: TrialBackend) -> RunResult:
        try:
            with activated(trial):
                returned = self.function(trial)
        except PRUNED:
            return settle(backend, trial.metric, None, pruned=True)
        except TrainingDiverged as exc:
            return diverged(exc)
        value = returned if _is_number(returned) else None
        return settle(backend, trial.metric, value, what=f"the function {self.name}")


class _Tee:
    """Writes to the stream it stands in for and to the trial's log."""

    def __init__(self, stream: TextIO, log: TextIO) -> None:
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        self.log.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.log.flush()
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class _LoggedReports:
    """The backend's reports, each also a line of the trial's log."""

    def __init__(self, backend: TrialBackend, log: TextIO) -> None:
        self.backend, self.log = backend, log

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        shown = " ".join(f"{k}={v:.6g}" for k, v in metrics.items())
        self.log.write(f"step {step}: {shown}\n")
        return self.backend.report(step, metrics)


@contextlib.contextmanager
def trial_log(trial: Trial, backend: TrialBackend) -> Iterator[None]:
    """Run the trial with its reports going to ``backend`` and its log written (see the
    module docstring); the RunResult it returns gains ``log_tail`` (see :func:`with_log_tail`)."""
    path = trial.workdir / LOG_NAME
    with path.open("a", encoding="utf-8") as log:
        schedule = trial.schedule
        log.write(
            f"trial {trial.number}: {schedule.family} at peak lr {schedule.lr:g}, "
            f"{trial.optimizer}, seed {trial.seed}\n"
        )
        trial.reporter = _LoggedReports(backend, log)
        out, err = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                yield
        except BaseException:
            log.write(traceback.format_exc())
            raise


def with_log_tail(result: RunResult, trial: Trial) -> RunResult:
    """``result`` with the tail of the trial's log in its attributes."""
    tail = read_tail(trial.workdir / LOG_NAME)
    return replace(result, attrs={**result.attrs, LOG_TAIL_ATTR: tail})


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
