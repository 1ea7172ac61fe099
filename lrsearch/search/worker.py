"""A worker (agent): claims trials of live searches, runs them, records them, until done.

Claiming a slot (a conditional UPDATE of the search's counter, with a lease row, in one
transaction) comes before asking Optuna for a trial, so any number of workers on any number of
hosts start exactly the budget. Every database step goes through the worker's trial ledger
(ledger/), which retries it until ``db_retry_s`` passes and makes it safe to repeat, so a
PostgreSQL restart costs retries, not trials. A heartbeat thread, on the same ledger, keeps the
leases alive and reaps those of dead workers (recovery.py).

SIGTERM and SIGINT stop a worker cleanly: a running trial is abandoned (Optuna state FAIL,
``fail_reason = "interrupted"``), its parameters are queued again and its slot goes back to
the budget. The signal is held back while the worker is between claiming and asking, or between
telling Optuna and counting the result, so lrsearch's counters and Optuna's trials agree.

Without ``--study`` a worker serves every live search, oldest first. A search that cannot be
loaded (its task's data is missing, its module does not import) is marked failed with the
reason, and the worker goes on with the others. A worker exits when nothing is left to run (a
search whose slots are all taken still waits for its running trials, whose slots may come back
if their workers die), or keeps polling with ``wait``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import torch

from lrsearch.config import Settings
from lrsearch.errors import LeaseLost, NotFoundError, StoreUnavailable, WorkerStopped
from lrsearch.search import agent_log
from lrsearch.search.artifacts import TrialPlots
from lrsearch.search.factory import make_pruner, make_sampler
from lrsearch.search.failures import TrialError
from lrsearch.search.failures import describe as describe_failure
from lrsearch.search.ledger import Outcome, RunningTrial, TrialLedger
from lrsearch.search.objective import TrialOutcome, run_trial
from lrsearch.search.recovery import Heartbeat
from lrsearch.search.runners import Runner, make_runner
from lrsearch.search.signals import GracefulStop
from lrsearch.spec import SearchSpec, parse_spec
from lrsearch.store import Search
from lrsearch.store.models import ACTIVE_STATUSES

__all__ = ["GracefulStop", "Worker", "WorkerStopped", "WorkerSummary", "run_worker"]

log = logging.getLogger("lrsearch.worker")

POLL_S = 1.0
REASON_LENGTH = 300


@dataclass
class WorkerSummary:
    """What one worker did: trials by outcome, and its database round trips."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    interrupted: int = 0
    lost: int = 0
    statements: int = 0  # database round trips of this worker, heartbeats included

    def add(self, outcome: Outcome) -> None:
        """Count one trial that ended with ``outcome``."""
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


def set_thread_budget(n_workers: int, threads: int | None = None) -> int:
    """Give each of ``n_workers`` local workers an equal share of the cores (or ``threads``).

    Small models train fastest on one thread; more only pays for larger ones.
    """
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, n_workers))
    torch.set_num_threads(threads)
    return threads


def resolve_device(device: str, worker_index: int = 0) -> torch.device:
    """``auto`` is CUDA when there is one; ``cuda`` (no index) on a machine with several GPUs
    is one GPU per local agent: agent ``i`` takes ``cuda:{i % count}``."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and torch.cuda.device_count() > 1:
        return torch.device("cuda", worker_index % torch.cuda.device_count())
    return torch.device(device)


@dataclass
class _SearchContext:
    """What every trial of one search shares in this worker."""

    search: Search
    spec: SearchSpec
    study: optuna.Study
    runner: Runner


class Worker:
    """The agent loop; ``run()`` returns what it did. See the module docstring.

    ``ledger`` injects the trial ledger (tests); by default the worker builds one from
    ``settings`` on ``storage_url``, and closes it when it returns.
    """

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
        ledger: TrialLedger | None = None,
    ) -> None:
        self.url, self.only, self.wait = storage_url, study, wait
        self.settings = settings or Settings()
        self.index, self.n_workers = worker_index, n_workers
        self.device, self.threads = resolve_device(device, worker_index), threads
        self.stop = stop or GracefulStop()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.summary = WorkerSummary()
        self.runs_root = Path(self.settings.runs_dir).resolve()  # trials' folders
        self._injected = ledger
        # Keyed by the search's identity, not its name: a deleted search's successor under the
        # same name must never run the old spec. The id alone is not enough on SQLite, which
        # hands a deleted last row's id to the next insert; the creation time tells them apart.
        self._contexts: dict[tuple[int, datetime], _SearchContext] = {}
        # LR curves on the dashboard's trial pages, beside the database this worker uses
        self.plots = TrialPlots.from_settings(self.settings.with_storage(storage_url))

    def run(self) -> WorkerSummary:
        """Run trials until nothing is left (or forever with ``wait``)."""
        set_thread_budget(self.n_workers, self.threads)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.ledger = self._injected or TrialLedger(self.settings, self.url)
        counted_before = self.ledger.statements
        heartbeat = Heartbeat(self.ledger, self.settings.heartbeat_s)
        try:
            self.ledger.check_schema()
            if self.only is not None and self.ledger.find(self.only) is None:
                raise NotFoundError(f"no study named {self.only!r}")
            self.ledger.register_agent(self.name)
            heartbeat.start()
            while self._step():
                pass
            return self.summary
        finally:
            if heartbeat.is_alive():
                heartbeat.stop()
            self.ledger.unregister_agent()
            self.summary.statements = self.ledger.statements - counted_before
            if self._injected is None:
                self.ledger.close()

    def _step(self) -> bool:
        """Run one trial if a slot is free; otherwise wait or finish. False: the worker is done."""
        live = self._candidates()
        for search in live:
            ctx = self._context(search)
            if ctx is not None and self._claim_and_run(ctx):
                return True
        if self._nothing_left(live) and not self.wait:
            return False
        time.sleep(POLL_S)  # running trials may still give their slots back, or new work comes
        return True

    def _candidates(self) -> list[Search]:
        live = self.ledger.live_searches()
        return live if self.only is None else [s for s in live if s.name == self.only]

    def _nothing_left(self, live: list[Search]) -> bool:
        """No search this worker serves has anything queued or running."""
        fresh = [self.ledger.search(s.id) for s in live]
        return not any(
            s.running > 0 or (s.status in ACTIVE_STATUSES and s.remaining > 0)
            for s in fresh
            if s is not None
        )

    def _context(self, search: Search) -> _SearchContext | None:
        """What this search's trials share; None when it cannot be loaded (then it is failed)."""
        key = (search.id, search.created_at)
        if key in self._contexts:
            return self._contexts[key]
        try:
            spec = parse_spec(search.spec)
            study = self.ledger.load_study(
                search, make_sampler(spec, self.index), make_pruner(spec)
            )
            runner = make_runner(spec, self.device, self.settings, self.index)
        except StoreUnavailable:
            raise  # the database, not the search: the retry policy gave up
        except Exception as exc:  # any reason this search cannot run here must not stop others
            reason = _first_line(f"cannot load the search: {type(exc).__name__}: {exc}")
            log.error("search %s failed: %s", search.name, reason)
            self.ledger.fail_search(search, reason)
            return None
        self._contexts[key] = _SearchContext(search, spec, study, runner)
        return self._contexts[key]

    def _claim_and_run(self, ctx: _SearchContext) -> bool:
        """Claim a slot, ask Optuna, train, record; False when the search has no free slot.

        A stop that arrives while claiming, asking or logging the claim is acted on before the
        section ends: the new trial is abandoned at once, so its slot and parameters go back (a
        stop between the section and the training's own handler is the only gap left: a few
        bytecodes, where the log line used to be).
        """
        with self.stop.critical():
            lease = self.ledger.claim(ctx.search, self.name)
            if lease is None:
                return False
            trial = self.ledger.ask(ctx.study, lease)
            run = self.ledger.start(ctx.search, ctx.study, lease, trial)
            if run is None:  # reaped while asking: the slot went back already
                self.summary.add(Outcome.LOST)
                return True
            agent_log.claimed(run)
            if self.stop.requested:
                self.ledger.abandon(run)
                self.summary.add(Outcome.INTERRUPTED)
                raise WorkerStopped("stopped by signal")
        self._run_trial(ctx, run)
        return True

    def _run_trial(self, ctx: _SearchContext, run: RunningTrial) -> None:
        try:
            result = self._train(ctx, run)
            self.plots.attach(  # a stop: abandoned
                self.ledger, run, ctx.spec, getattr(ctx.runner, "task", None), result
            )
        except LeaseLost:
            log.warning("lost the lease of trial %d of %s: dropped", run.number, run.search.name)
            self.ledger.drop(run.lease)
            self.summary.add(Outcome.LOST)  # the reaper re-queued it and gave its slot back
            return
        except WorkerStopped:
            with self.stop.critical():
                self.ledger.abandon(run)
                self.summary.add(Outcome.INTERRUPTED)
            raise
        with self.stop.critical():
            done = result if isinstance(result, TrialOutcome) else None
            outcome = done.outcome if done is not None else Outcome.FAILED
            recorded = self.ledger.finish(
                run,
                outcome,
                value=done.value if done is not None else None,
                config={**done.config.to_dict(), "trial_number": run.number} if done else None,
                reason=result.reason,
                stop_after_failures=ctx.spec.search.stop_after_failures,
            )
            self.summary.add(outcome if recorded else Outcome.LOST)
        agent_log.finished(run, result, outcome, recorded)
        if self.stop.requested:
            raise WorkerStopped("stopped by signal")  # after recording: nothing to give back

    def _train(self, ctx: _SearchContext, run: RunningTrial) -> TrialOutcome | TrialError:
        try:
            return run_trial(self.ledger, run, ctx.spec, ctx.runner, self.device, self.runs_root)
        except StoreUnavailable:
            raise  # the database is gone past the retry deadline: not the trial's fault
        except Exception as exc:  # a bug in a user task must not kill the search
            log.exception("trial %d of %s raised", run.number, run.search.name)
            error = describe_failure(exc)
            self.ledger.set_attrs(run, error.attrs)
            return error


def run_worker(
    storage_url: str,
    search_name: str | None = None,
    **options: Any,
) -> WorkerSummary:
    """Run a worker until nothing is left; see :class:`Worker` for the options."""
    return Worker(storage_url, study=search_name, **options).run()


def _first_line(text: str) -> str:
    """A reason fit for ``lr_searches.error``: one line, bounded (never a file's contents)."""
    return text.splitlines()[0][:REASON_LENGTH] if text else text
