"""A worker: claims trials of one search until its budget is taken, runs them, records them.

Claiming a slot (a conditional UPDATE in lrsearch's table) comes before asking Optuna for a
trial, so any number of workers start exactly the budget. SIGTERM and SIGINT stop a worker
cleanly: a running trial is abandoned (Optuna state FAIL, ``fail_reason = "interrupted"``) and
its slot goes back to the budget, so resuming runs it again. The signal is held back while the
worker is between claiming and asking, or between telling Optuna and counting the result, so
lrsearch's counters and Optuna's trials never disagree.
"""

from __future__ import annotations

import logging
import os
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import optuna
import torch

from lrsearch import store
from lrsearch.errors import LRSearchError
from lrsearch.search.factory import make_pruner, make_sampler
from lrsearch.search.objective import TrialOutcome, run_trial
from lrsearch.space import SearchSpec, parse_spec
from lrsearch.tasks.base import to_device
from lrsearch.tasks.registry import load_task

log = logging.getLogger("lrsearch.worker")


class WorkerStopped(LRSearchError):
    """Raised inside a worker when it was asked to stop (SIGTERM/SIGINT)."""


@dataclass
class WorkerSummary:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    interrupted: int = 0
    trials: list[int] = field(default_factory=list)


class GracefulStop:
    """Turns SIGTERM/SIGINT into WorkerStopped, except inside ``critical()`` sections."""

    def __init__(self) -> None:
        self.requested = False
        self._depth = 0

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._depth == 0:
            raise WorkerStopped(f"stopped by signal {signal.Signals(signum).name}")

    @contextmanager
    def critical(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self.requested:
            raise WorkerStopped("stopped by signal")


def set_thread_budget(n_workers: int, threads: int | None = None) -> int:
    """Give each of ``n_workers`` local workers an equal share of the cores (or ``threads``).

    Small models train fastest on one thread; more only pays for larger ones.
    """
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, n_workers))
    torch.set_num_threads(threads)
    return threads


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def run_worker(
    storage_url: str,
    search_name: str,
    *,
    worker_index: int = 0,
    n_workers: int = 1,
    device: str = "cpu",
    threads: int | None = None,
    stop: GracefulStop | None = None,
) -> WorkerSummary:
    """Run trials of ``search_name`` until its budget is taken; return what this worker did."""
    set_thread_budget(n_workers, threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stop = stop or GracefulStop()
    engine = store.make_engine(storage_url)
    try:
        store.ensure_current(engine)
        search = store.get_search(engine, search_name)
        spec = parse_spec(search.spec)
        study = optuna.load_study(
            study_name=search_name,
            storage=store.make_optuna_storage(storage_url),
            sampler=make_sampler(spec, worker_index),
            pruner=make_pruner(spec),
        )
        task = to_device(load_task(spec.task, spec.task_options), resolve_device(device))
        trials = _TrialRunner(spec, task, resolve_device(device), search.metric, search.direction)
        summary = WorkerSummary()
        while _run_one(engine, study, trials, stop, summary):
            pass
        return summary
    finally:
        engine.dispose()


@dataclass(frozen=True)
class _TrialRunner:
    """What every trial of this worker shares: the spec, the loaded task, device and metric."""

    spec: SearchSpec
    task: Any
    device: torch.device
    metric: str
    direction: str

    def __call__(self, trial: optuna.Trial) -> TrialOutcome:
        return run_trial(
            trial, self.spec, self.task, self.device, metric=self.metric, direction=self.direction
        )


def _run_one(
    engine: Any,
    study: optuna.Study,
    trials: _TrialRunner,
    stop: GracefulStop,
    summary: WorkerSummary,
) -> bool:
    """Claim, run and record one trial; False when no slot is left."""
    spec = trials.spec
    with stop.critical():
        if not store.claim_trial(engine, spec.name):
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            trial = study.ask()
    try:
        result = trials(trial)
    except WorkerStopped:
        with stop.critical():
            _abandon(engine, study, trial, spec.name, "interrupted")
            summary.interrupted += 1
        raise
    except Exception as exc:  # a bug in a user task must not kill the search
        log.exception("trial %d raised", trial.number)
        trial.set_user_attr("fail_reason", f"error: {type(exc).__name__}: {exc}"[:500])
        result = None
    with stop.critical():
        _record(engine, study, trial, spec.name, result, summary)
    return True


def _abandon(engine: Any, study: optuna.Study, trial: optuna.Trial, name: str, why: str) -> None:
    trial.set_user_attr("fail_reason", why)
    _tell(study, trial, state=optuna.trial.TrialState.FAIL)
    store.release_trial(engine, name)


def _tell(study: optuna.Study, trial: optuna.Trial, **kwargs: Any) -> None:
    """``study.tell``, tolerating GridSampler's ``study.stop()`` when the grid is used up.

    Optuna saves the trial's state before that call raises (outside ``optimize`` it is a
    RuntimeError), so the result is kept; the budget already caps the number of trials.
    """
    try:
        study.tell(trial, **kwargs)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def _record(
    engine: Any,
    study: optuna.Study,
    trial: optuna.Trial,
    name: str,
    result: TrialOutcome | None,
    summary: WorkerSummary,
) -> None:
    summary.trials.append(trial.number)
    if result is None or result.outcome == "failed":
        _tell(study, trial, state=optuna.trial.TrialState.FAIL)
        store.record_trial(engine, name, outcome="failed", trial_number=trial.number)
        summary.failed += 1
    elif result.outcome == "pruned":
        _tell(study, trial, state=optuna.trial.TrialState.PRUNED)
        store.record_trial(engine, name, outcome="pruned", trial_number=trial.number)
        summary.pruned += 1
    else:
        assert result.value is not None
        _tell(study, trial, values=result.value)
        store.record_trial(
            engine,
            name,
            outcome="complete",
            trial_number=trial.number,
            value=result.value,
            config={**result.config.to_dict(), "trial_number": trial.number},
        )
        summary.complete += 1
