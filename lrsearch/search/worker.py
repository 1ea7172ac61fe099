"""A worker (agent): claims trials of active searches, runs them, records them, until done.

Claiming a slot (a conditional UPDATE of the search's counter, with a lease row, in one
transaction) comes before asking Optuna for a trial, so any number of workers on any number of
hosts start exactly the budget. A heartbeat thread keeps the lease alive and reaps the leases of
dead workers (see recovery.py). Database errors are retried until ``db_retry_s`` passes, and
every step is safe to repeat after a lost reply (asking Optuna too, see ask.py), so a
PostgreSQL restart costs retries, not trials.

SIGTERM and SIGINT stop a worker cleanly: a running trial is abandoned (Optuna state FAIL,
``fail_reason = "interrupted"``), its parameters are enqueued again and its slot goes back to
the budget. The signal is held back while the worker is between claiming and asking, or between
telling Optuna and counting the result, so lrsearch's counters and Optuna's trials agree.

Without ``--study`` a worker serves every active search, oldest first. It exits when nothing is
left to run (a search whose slots are all taken still waits for its running trials, whose slots
may come back if their workers die), or keeps polling with ``wait``.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import optuna
import torch

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.errors import LRSearchError, NotFoundError
from lrsearch.search.ask import ask
from lrsearch.search.factory import make_pruner, make_sampler
from lrsearch.search.objective import LeaseLost, TrialOutcome, run_trial
from lrsearch.search.recovery import WORKER_LOST, Heartbeat, fail_and_requeue
from lrsearch.spec import SearchSpec, parse_spec
from lrsearch.store.retry import retrying
from lrsearch.store.searches import Outcome
from lrsearch.tasks.registry import load_task
from lrsearch.train.task import TensorTask, to_device

log = logging.getLogger("lrsearch.worker")

POLL_S = 1.0


class WorkerStopped(LRSearchError):
    """Raised inside a worker when it was asked to stop (SIGTERM/SIGINT)."""


@dataclass
class WorkerSummary:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    interrupted: int = 0
    lost: int = 0
    trials: list[tuple[str, int]] = field(default_factory=list)
    statements: int = 0  # database round trips of this worker, heartbeats included


class GracefulStop:
    """Turns SIGTERM/SIGINT into WorkerStopped, except inside ``critical()`` sections.

    Inside one, the signal only sets ``requested``; the worker checks it where it knows what
    to give back (right after claiming, right after recording).
    """

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


@dataclass
class _SearchContext:
    """What every trial of one search shares in this worker."""

    search: store.Search
    spec: SearchSpec
    study: optuna.Study
    task: TensorTask


class Worker:
    """The agent loop; ``run()`` returns what it did. See the module docstring."""

    def __init__(
        self,
        storage_url: str,
        *,
        study: str | None = None,
        wait: bool = False,
        settings: Settings | None = None,
        worker_index: int = 0,
        n_workers: int = 1,
        device: str = "cpu",
        threads: int | None = None,
        stop: GracefulStop | None = None,
    ) -> None:
        self.url, self.only, self.wait = storage_url, study, wait
        self.settings = settings or Settings()
        self.index, self.n_workers = worker_index, n_workers
        self.device, self.threads = resolve_device(device), threads
        self.stop = stop or GracefulStop()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.summary = WorkerSummary()
        self._contexts: dict[str, _SearchContext] = {}

    def run(self) -> WorkerSummary:
        set_thread_budget(self.n_workers, self.threads)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.engine = store.make_engine(self.url)
        _count_statements(self.engine, self.summary)
        self.storage = store.make_optuna_storage(self.url)
        _count_statements(self.storage.engine, self.summary)
        self.heartbeat = Heartbeat(
            self.url,
            interval_s=self.settings.heartbeat_s,
            stale_after_s=self.settings.stale_after_s,
            max_attempts=self.settings.max_attempts,
        )
        _count_statements(self.heartbeat.engine, self.summary)
        _count_statements(self.heartbeat.storage.engine, self.summary)
        try:
            self._retry(lambda: store.ensure_current(self.engine), "check schema")
            if self.only is not None:
                self._retry(lambda: store.get_search(self.engine, self.only or ""), "load search")
            self.heartbeat.start()
            while self._step():
                pass
            return self.summary
        finally:
            if self.heartbeat.is_alive():
                self.heartbeat.stop()
            self.engine.dispose()

    def _retry(self, fn: Any, what: str) -> Any:
        return retrying(fn, what, self.settings.db_retry_s)

    def _step(self) -> bool:
        """Run one trial if a slot is free; otherwise wait or finish. False: the worker is done."""
        for name in self._candidates():
            if self._claim_and_run(self._context(name)):
                return True
        if self._nothing_left() and not self.wait:
            return False
        time.sleep(POLL_S)  # running trials may still give their slots back, or new work comes
        return True

    def _candidates(self) -> list[str]:
        if self.only is not None:
            return [self.only]
        return list(self._retry(lambda: store.active_search_names(self.engine), "list searches"))

    def _nothing_left(self) -> bool:
        """No search this worker serves has anything queued or running."""
        names = self._candidates()
        for name in names:
            search = self._retry(lambda n=name: store.find_search(self.engine, n), "read search")
            if search is None:
                raise NotFoundError(f"no study named {name!r}")
            if search.status in ("queued", "running", "stopping") and search.running > 0:
                return False
            if search.status in ("queued", "running") and search.remaining > 0:
                return False
        return True

    def _context(self, name: str) -> _SearchContext:
        if name not in self._contexts:
            search = self._retry(lambda: store.get_search(self.engine, name), "load search")
            spec = parse_spec(search.spec)
            study = self._retry(
                lambda: optuna.load_study(
                    study_name=name,
                    storage=self.storage,
                    sampler=make_sampler(spec, self.index),
                    pruner=make_pruner(spec),
                ),
                "load study",
            )
            task = to_device(load_task(spec.task, spec.task_options), self.device)
            self._contexts[name] = _SearchContext(search, spec, study, task)
        return self._contexts[name]

    def _claim_and_run(self, ctx: _SearchContext) -> bool:
        """Claim a slot, ask Optuna, train, record; False when the search has no free slot.

        A stop that arrives while claiming or asking is acted on right after: the new trial is
        abandoned at once, so its slot and parameters go back.
        """
        with self.stop.critical():
            lease = self._retry(
                lambda: store.claim_trial(self.engine, ctx.search.name, self.name),
                "claim a trial",
            )
            if lease is None:
                return False
            self.heartbeat.hold(lease.id)
            tries = itertools.count()
            trial = self._retry(
                lambda: ask(ctx.study, self.engine, lease, retried=next(tries) > 0),
                "ask for a trial",
            )
            attempt = self._retry(lambda: int(trial.user_attrs.get("attempt", 1)), "read the trial")
            started = self._retry(
                lambda: store.start_trial(
                    self.engine, lease, trial.number, trial._trial_id, attempt
                ),
                "start the trial",
            )
            if not started:  # reaped while asking: the slot went back already
                self._retry(
                    lambda: fail_and_requeue(
                        ctx.study, trial._trial_id, WORKER_LOST, attempt=attempt
                    ),
                    "fail the trial",
                )
                self.heartbeat.drop(lease.id)
                self.summary.lost += 1
                return True
        if self.stop.requested:
            with self.stop.critical():
                self._abandon(ctx, trial, lease)
            raise WorkerStopped("stopped by signal")
        self._run_trial(ctx, trial, lease)
        return True

    def _run_trial(self, ctx: _SearchContext, trial: optuna.Trial, lease: store.Lease) -> None:
        try:
            result = self._train(ctx, trial, lease)
        except LeaseLost:
            self.summary.lost += 1  # the reaper failed the trial and gave its slot back
            self.heartbeat.drop(lease.id)
            return
        except WorkerStopped:
            with self.stop.critical():
                self._abandon(ctx, trial, lease)
            raise
        with self.stop.critical():
            self._record(ctx, trial, lease, result)
            self.heartbeat.drop(lease.id)
        if self.stop.requested:
            raise WorkerStopped("stopped by signal")  # after recording: nothing to give back

    def _train(
        self, ctx: _SearchContext, trial: optuna.Trial, lease: store.Lease
    ) -> TrialOutcome | None:
        epochs = _EpochBuffer(self, ctx.search.id, trial.number, ctx.search.metric)
        try:
            return run_trial(
                trial,
                ctx.spec,
                ctx.task,
                self.device,
                metric=ctx.search.metric,
                direction=ctx.search.direction,
                on_epoch=epochs.add,
                lost=lambda: self.heartbeat.is_lost(lease.id),
            )
        except (WorkerStopped, LeaseLost):
            raise
        except Exception as exc:  # a bug in a user task must not kill the search
            log.exception("trial %d of %s raised", trial.number, ctx.search.name)
            reason = f"error: {type(exc).__name__}: {exc}"[:500]
            self._retry(lambda: trial.set_user_attr("fail_reason", reason), "set_user_attr")
            return None
        finally:
            epochs.flush()

    def _abandon(self, ctx: _SearchContext, trial: optuna.Trial, lease: store.Lease) -> None:
        """Interrupted: fail the Optuna trial, enqueue it again, give the slot back."""
        if self._retry(lambda: store.release_trial(self.engine, lease, "interrupted"), "release"):
            attempt = int(trial.user_attrs.get("attempt", 1))
            self._retry(
                lambda: fail_and_requeue(
                    ctx.study, trial._trial_id, "interrupted", attempt=attempt
                ),
                "fail the trial",
            )
        self.heartbeat.drop(lease.id)
        self.summary.interrupted += 1

    def _record(
        self,
        ctx: _SearchContext,
        trial: optuna.Trial,
        lease: store.Lease,
        result: TrialOutcome | None,
    ) -> None:
        """Tell Optuna, then count the trial in lrsearch's tables (and maybe its best)."""
        name = ctx.search.name
        self.summary.trials.append((name, trial.number))
        outcome: Outcome
        if result is None or result.outcome == "failed":
            state, outcome, value = optuna.trial.TrialState.FAIL, "failed", None
            self.summary.failed += 1
        elif result.outcome == "pruned":
            state, outcome, value = optuna.trial.TrialState.PRUNED, "pruned", None
            self.summary.pruned += 1
        else:
            state, outcome, value = optuna.trial.TrialState.COMPLETE, "complete", result.value
            self.summary.complete += 1
        self._retry(lambda: _tell(ctx.study, trial, state, value), "tell the result")
        config = {**result.config.to_dict(), "trial_number": trial.number} if result else None
        self._retry(
            lambda: store.record_trial(
                self.engine,
                lease,
                outcome=outcome,
                trial_number=trial.number,
                value=value,
                config=config,
                reason=result.reason if result else "error",
            ),
            "record the result",
        )


class _EpochBuffer:
    """Per-epoch rows of one trial, written at most every ``FLUSH_S`` and when it ends."""

    FLUSH_S = 2.0

    def __init__(self, worker: Worker, search_id: int, trial_number: int, metric: str) -> None:
        self.worker, self.search_id, self.trial_number, self.metric = (
            worker,
            search_id,
            trial_number,
            metric,
        )
        self.rows: list[tuple[int, Mapping[str, float], float]] = []
        self.flushed_at = time.monotonic()

    def add(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.rows.append((epoch, metrics, metrics[self.metric]))
        if time.monotonic() - self.flushed_at >= self.FLUSH_S:
            self.flush()

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        engine = self.worker.engine
        self.worker._retry(
            lambda: store.record_epochs(engine, self.search_id, self.trial_number, rows),
            "record epochs",
        )
        self.flushed_at = time.monotonic()


def run_worker(
    storage_url: str,
    search_name: str | None = None,
    **options: Any,
) -> WorkerSummary:
    """Run a worker until nothing is left; see :class:`Worker` for the options."""
    return Worker(storage_url, study=search_name, **options).run()


def _tell(
    study: optuna.Study,
    trial: optuna.Trial,
    state: optuna.trial.TrialState,
    value: float | None,
) -> None:
    """``study.tell``, safe to repeat, and tolerant of GridSampler's ``study.stop()``.

    A retried tell may find the trial already finished by the first try. GridSampler calls
    ``study.stop()`` when its grid is used up, which raises outside ``optimize``; Optuna saves
    the trial's state before that, and the budget already caps the number of trials.
    """
    if study._storage.get_trial(trial._trial_id).state.is_finished():
        return
    try:
        if value is None:
            study.tell(trial, state=state)
        else:
            study.tell(trial, values=value)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def _count_statements(engine: Any, summary: WorkerSummary) -> None:
    """Count this worker's own round trips to the database (reported in its summary)."""
    import sqlalchemy as sa

    def count(*_: Any) -> None:
        summary.statements += 1

    sa.event.listen(engine, "before_cursor_execute", count)
