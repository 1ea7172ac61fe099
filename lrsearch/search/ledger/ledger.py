"""The trial ledger: the one storage boundary of a worker process.

One object per worker, built from Settings, owns one Optuna storage and its engine (shared by
the worker and its heartbeat thread: SQLAlchemy engines and RDBStorage are thread-safe), the
one retry policy, and every call into Optuna's private API (through optuna_calls.py). Its
methods say what happens to a trial: ``claim`` a slot, ``ask`` for a trial, ``start`` it,
``report`` each epoch (recorded; the answer is whether to prune), ``record_epochs``,
``finish`` it, ``abandon`` it, ``reap`` the trials of dead workers.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import optuna
import sqlalchemy as sa
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.errors import LeaseLost, StoreError
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.ledger import optuna_calls as oc
from lrsearch.search.ledger.asking import ask
from lrsearch.search.ledger.opening import after_search, count_and_queue
from lrsearch.search.ledger.reaping import WORKER_LOST, Reaper
from lrsearch.search.ledger.sweeps import settle_sweep
from lrsearch.search.pruning import (
    EVERY_DECAY,
    AnnealGain,
    AnnealProbePruner,
    Rung,
    ScheduleAwarePruner,
    anneal_rung,
    rung_of,
)
from lrsearch.space import baseline_of
from lrsearch.space.confirm import confirmation_of
from lrsearch.space.lr_range import sweep_of
from lrsearch.spec import SearchSpec, parse_spec
from lrsearch.store import Outcome
from lrsearch.store.models import LEASE_ACTIVE, trials
from lrsearch.store.retry import RetryPolicy

T = TypeVar("T")
log = logging.getLogger("lrsearch.ledger")

FLUSH_S = 2.0  # per-epoch rows are written at most this often, and when the trial ends
ASK_WAIT_S, ASK_WAIT_MAX_S = 0.2, 2.0  # polling for a lost sweep's re-queue (asking.ask)


@dataclass
class RunningTrial:
    """A trial this worker runs: its search, Optuna trial and lease, and unwritten epochs."""

    search: store.Search
    study: optuna.Study
    trial: optuna.Trial
    lease: store.Lease
    attempt: int
    prunes: bool = True
    baseline: bool = False
    confirmation: bool = False
    sweep: bool = False  # an LR range test's sweep (search/sweep.py)
    sweep_result: Any = None  # the sweep's SweepResult, once it ran: stored when recorded
    # The searched trial's schedule, once configured: its epochs carry their decay left.
    schedule: ScheduleSpec | None = None
    anneal: AnnealGain | None = None  # the anneal pruner's: what the last probe measured
    epochs: list[tuple[int, Mapping[str, float], float]] = field(default_factory=list)
    flushed_at: float = field(default_factory=time.monotonic)

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def outside_search(self) -> bool:
        """A baseline, a confirmation or a sweep: never pruned, in no pruner's reference set
        (its epoch rows carry no decay left)."""
        return self.baseline or self.confirmation or self.sweep

    @property
    def user_attrs(self) -> dict[str, Any]:
        return self.trial.user_attrs


class TrialLedger:
    """See the module docstring. ``statements`` counts this process's database round trips."""

    def __init__(self, settings: Settings, storage_url: str | None = None) -> None:
        url = storage_url or settings.storage_url
        self.settings = settings
        self.retry = RetryPolicy(settings.db_retry_s)
        self.storage = self.retry(  # start-up rides out an outage like any other step
            lambda: store.make_optuna_storage(url, settings.sqlite_timeout_s), "open the storage"
        )
        self.engine = self.storage.engine  # one engine: lrsearch's tables and Optuna's
        self.statements = 0
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        oc.quiet_storage_logs()
        self.reaper = Reaper(
            self.engine, self.storage, settings.stale_after_s, settings.max_attempts
        )
        self._held: set[int] = set()
        self._lost: set[int] = set()
        self.agent_id: int | None = None
        self._lock = threading.Lock()
        self._completed: dict[int, tuple[int, list[FrozenTrial]]] = {}
        self._ranges: dict[int, dict[str, tuple[float, float]]] = {}

    def _count(self, *_: Any) -> None:
        self.statements += 1

    def close(self) -> None:
        """Close the connections."""
        self.engine.dispose()

    # -- searches ---------------------------------------------------------------------------

    def check_schema(self) -> None:
        """Create lrsearch's tables on a fresh database; refuse an outdated one (retried)."""
        self.retry(lambda: store.ensure_current(self.engine), "check the schema")

    def find(self, name: str) -> store.Search | None:
        """The search called ``name``, or None."""
        return self.retry(lambda: store.find_search(self.engine, name), "read the search")

    def search(self, search_id: int) -> store.Search | None:
        """The search with this id, or None once it was deleted."""
        return self.retry(lambda: store.search_by_id(self.engine, search_id), "read the search")

    def live_searches(self) -> list[store.Search]:
        """Searches that may still run trials, oldest first."""
        return self.retry(lambda: store.live_searches(self.engine), "list searches")

    def load_study(
        self,
        search: store.Search,
        sampler: optuna.samplers.BaseSampler,
        pruner: optuna.pruners.BasePruner,
    ) -> optuna.Study:
        """The search's Optuna study (KeyError if it has none)."""
        return self.retry(
            lambda: optuna.load_study(
                study_name=search.name, storage=self.storage, sampler=sampler, pruner=pruner
            ),
            "load the study",
        )

    def fail_search(self, search: store.Search, reason: str) -> bool:
        """Mark a search that cannot run failed, with ``reason`` (kept in its ``error``)."""
        return self.retry(lambda: store.fail_search(self.engine, search.id, reason), "fail")

    # -- a trial's life ---------------------------------------------------------------------

    def claim(self, search: store.Search, worker: str) -> store.Lease | None:
        """One slot of the search's budget, with a lease (held by this process's heartbeat)."""
        tries = itertools.count()  # a retry first finds a claim whose reply was lost
        lease = self.retry(
            lambda: store.claim_trial(self.engine, search.id, worker, retried=next(tries) > 0),
            "claim",
        )
        if lease is not None:
            with self._lock:
                self._held.add(lease.id)
        return lease

    def ask(self, study: optuna.Study, lease: store.Lease) -> optuna.Trial:
        """A RUNNING Optuna trial for the lease: queued ones first, safe to retry."""
        tries = itertools.count()
        wait = ASK_WAIT_S
        while True:
            trial_id = self.retry(
                lambda: ask(study, self.engine, lease, retried=next(tries) > 0), "ask for a trial"
            )
            if trial_id is not None:
                break
            time.sleep(wait)  # a lost sweep's re-queue is on its way (see asking.ask)
            wait = min(2 * wait, ASK_WAIT_MAX_S)
        # Opening it reads the trial (and the sampler may read the study): retried as well.
        return self.retry(lambda: oc.open_trial(study, trial_id), "open the trial")

    def start(
        self, search: store.Search, study: optuna.Study, lease: store.Lease, trial: optuna.Trial
    ) -> RunningTrial | None:
        """Link the lease to its trial; None if the lease was reaped meanwhile (then the trial
        is failed and its parameters queued again, and the caller drops it)."""
        attempt = int(trial.user_attrs.get("attempt", 1))
        trial_id = oc.trial_id(trial)
        started = self.retry(
            lambda: store.start_trial(self.engine, lease, trial.number, trial_id, attempt),
            "start the trial",
        )
        if not started:  # reaped: fail the trial, queue it again (once, beside the reaper)
            pending = store.PendingRequeue(
                lease.id, search.id, search.name, trial_id, attempt, Outcome.LOST, WORKER_LOST
            )
            self.retry(lambda: self.reaper.requeue(pending), "queue the trial again")
            self.drop(lease)
            return None
        # Baselines are never pruned: the report compares their whole run with the best; nor
        # are confirmations: their mean is the point.
        baseline = baseline_of(trial.user_attrs) is not None
        confirmation = confirmation_of(trial.user_attrs) is not None
        sweep = sweep_of(trial.user_attrs) is not None  # a sweep is never pruned either
        prunes = oc.prunes(study) and not (baseline or confirmation or sweep)
        return RunningTrial(
            search, study, trial, lease, attempt, prunes, baseline, confirmation, sweep=sweep
        )

    def set_attrs(self, run: RunningTrial, attrs: Mapping[str, Any]) -> None:
        """Set user attributes of the running trial.

        Raises LeaseLost when the trial is finished already: only the reaper finishes another
        agent's trial (this one's lease was reaped while it trained), as :meth:`finish` finds.
        """
        try:
            for key, value in attrs.items():
                self.retry(lambda k=key, v=value: run.trial.set_user_attr(k, v), "set an attribute")  # type: ignore[misc]
        except optuna.exceptions.UpdateFinishedTrialError:
            raise LeaseLost(f"lease lost during trial {run.number}") from None

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Any other storage call on a running trial (suggestions, notes), under the policy."""
        return self.retry(fn, what)

    def report(
        self, run: RunningTrial, epoch: int, metrics: Mapping[str, float], value: float
    ) -> bool:
        """Record an epoch (buffered); returns whether the pruner stops the trial here.

        Raises LeaseLost when this worker's lease was reaped (after an outage, SIGSTOP): the
        trial was re-queued already; the caller drops it.
        """
        if self.is_lost(run.lease):
            raise LeaseLost(f"lease lost during trial {run.number}")
        rung = None if run.outside_search else self._rung(run, epoch, value, metrics)
        if rung is not None:  # the row carries it: other trials' pruner compares with it
            metrics = {**metrics, "decay_left": rung.decay_left}
            if rung.probe_value is not None:  # the anneal pruner's: its value annealed now
                metrics["probe_value"] = rung.probe_value
        run.epochs.append((epoch, metrics, value))
        if not run.sweep:  # a sweep's points are lrsearch's rows only, never Optuna's
            oc.observe(run.trial, epoch, value)
        if time.monotonic() - run.flushed_at >= FLUSH_S:
            self.record_epochs(run)
        if not run.prunes:
            return False
        pruner = run.study.pruner
        if isinstance(pruner, AnnealProbePruner):
            return rung is not None and self._probe_says(run, pruner, rung)
        if isinstance(pruner, ScheduleAwarePruner):
            return rung is not None and self._rung_says(run, pruner, rung)
        direction = (
            StudyDirection.MAXIMIZE
            if run.search.direction == "maximize"
            else StudyDirection.MINIMIZE
        )
        return self.retry(
            lambda: oc.pruner_says(
                run.study, run.trial, direction, lambda: self._completed_of(run)
            ),
            "ask the pruner",
        )

    def record_epochs(self, run: RunningTrial) -> None:
        """Write the buffered epochs: lrsearch's rows and Optuna's intermediate values, in one
        transaction. Raises LeaseLost if the trial or the lease is not this worker's any more."""
        rows = list(run.epochs)
        if rows:
            ok = self.retry(lambda: self._write_epochs(run, rows), "record epochs")
            if not ok:
                raise LeaseLost(f"lease lost during trial {run.number}")
        run.epochs.clear()
        run.flushed_at = time.monotonic()

    def finish(
        self,
        run: RunningTrial,
        outcome: Outcome,
        *,
        value: float | None = None,
        config: Mapping[str, Any] | None = None,
        reason: str | None = None,
        stop_after_failures: int = 0,
    ) -> bool:
        """Tell Optuna the outcome, then count it with the lease (and maybe the best).

        False when the lease was reaped meanwhile: the trial was re-queued; nothing is counted.
        A failure stops the search when its first ``stop_after_failures`` trials all failed
        with the same ``reason`` (decided in the same transaction, see store/failures.py).
        """
        try:
            self.record_epochs(run)
        except LeaseLost:
            self.drop(run.lease)
            return False
        told = self.retry(
            lambda: oc.tell(run.study, run.trial, outcome.trial_state, value), "tell the result"
        )
        recorded = told and self.retry(
            lambda: self._record(run, outcome, value, config, reason, stop_after_failures),
            "record the result",
        )
        self.drop(run.lease)
        return recorded

    def abandon(self, run: RunningTrial, reason: str = "interrupted") -> bool:
        """Interrupted: give the slot back, queue the same parameters again, fail the trial.

        The lease is closed with the re-queue pending in one transaction; if this process dies
        before the re-queue is done, another worker's reaper completes it.
        """
        with contextlib.suppress(LeaseLost):  # reaped: the release below finds it so too
            self.record_epochs(run)
        released = self.retry(
            lambda: store.release_trial(self.engine, run.lease, reason), "release the trial"
        )
        if released:
            pending = store.PendingRequeue(
                run.lease.id,
                run.search.id,
                run.search.name,
                oc.trial_id(run.trial),
                run.attempt,
                Outcome.INTERRUPTED,
                reason,
            )
            self.retry(lambda: self.reaper.requeue(pending), "queue the trial again")
        self.drop(run.lease)
        return released

    def release(self, lease: store.Lease, reason: str = "interrupted") -> None:
        """Give back a claimed slot that has no trial yet."""
        self.retry(lambda: store.release_trial(self.engine, lease, reason), "release the slot")
        self.drop(lease)

    def drop(self, lease: store.Lease) -> None:
        """This process stops beating for the lease."""
        with self._lock:
            self._held.discard(lease.id)
            self._lost.discard(lease.id)

    # -- heartbeat and recovery -------------------------------------------------------------

    def register_agent(self, name: str) -> None:
        """Count this process among the agents (``/ready``, ``GET /v1/agents``) from now on."""
        self.agent_id = self.retry(lambda: store.register_agent(self.engine, name), "register")

    def unregister_agent(self) -> None:
        """This agent exits cleanly (a failure here only leaves it to be seen as lost)."""
        agent_id, self.agent_id = self.agent_id, None
        if agent_id is not None:
            try:
                store.stop_agent(self.engine, agent_id)
            except StoreError as exc:
                log.warning("could not mark agent %s stopped: %s", agent_id, exc)

    def beat(self) -> None:
        """Refresh this process's leases and its agent row; note the leases reaped
        (``is_lost``)."""
        with self._lock:
            held = sorted(self._held)
        lost = store.heartbeat(self.engine, held, self.agent_id)
        if lost:
            with self._lock:
                self._lost |= lost & self._held

    def is_lost(self, lease: store.Lease) -> bool:
        """Whether the heartbeat found this lease reaped."""
        with self._lock:
            return lease.id in self._lost

    def reap(self) -> int:
        """Reap dead workers' leases and complete interrupted re-queues; returns leases reaped."""
        return self.reaper.reap()

    # -- internals --------------------------------------------------------------------------

    def _write_epochs(
        self, run: RunningTrial, rows: list[tuple[int, Mapping[str, float], float]]
    ) -> bool:
        def ours(conn: sa.Connection) -> bool:
            status = conn.execute(
                sa.select(trials.c.status).where(trials.c.id == run.lease.id)
            ).scalar_one_or_none()
            if status not in LEASE_ACTIVE:
                return False
            store.insert_epochs(conn, run.search.id, run.number, rows)
            return True

        # A sweep's points are lrsearch's rows only: no pruner may compare them with trials.
        values = [] if run.sweep else [(epoch, value) for epoch, _, value in rows]
        return oc.write_intermediate(self.storage, oc.trial_id(run.trial), values, ours)

    def _record(
        self,
        run: RunningTrial,
        outcome: Outcome,
        value: float | None,
        config: Mapping[str, Any] | None,
        reason: str | None,
        stop_after_failures: int,
    ) -> bool:
        """Count the trial (store.record_trial_in). In a search with baselines, the count of
        its last own trial also opens their slots and queues them at the tuned best's LR, in
        the same transaction (space/baselines.py, store/baselines.py); in a search that
        confirms, it opens the confirmations' slots as well and queues its leaders' configs
        on fresh seeds (space/confirm.py, store/confirmations.py)."""
        spec = parse_spec(run.search.spec)
        after = after_search(spec, run.user_attrs)

        def record(conn: sa.Connection) -> store.Recorded:
            return store.record_trial_in(
                conn,
                run.lease,
                outcome=outcome,
                trial_number=run.number,
                value=value,
                config=config,
                reason=reason,
                stop_after_failures=stop_after_failures,
                baseline=after.baseline,
                baselines=after.baselines,
                confirming=after.confirming,
            )

        def settle(conn: sa.Connection) -> None:
            self._settle_sweep(conn, run, spec, outcome, reason)

        also = settle if run.sweep and outcome.final else None
        return count_and_queue(
            self.engine, lambda: run.study, spec, run.search.id, after, record, also
        )

    def lr_ranges(self, search: store.Search) -> dict[str, tuple[float, float]] | None:
        """The peak-LR range per optimizer that the search's LR range test chose (None while
        it sweeps, or for a search without one); read once, then kept."""
        known = self._ranges.get(search.id)
        if known is None:
            test = self.retry(
                lambda: store.range_test(self.engine, search.id, with_sweeps=False),
                "read the LR range",
            )
            if test is None or test.ranges is None:
                return None
            known = {k: (float(v["low"]), float(v["high"])) for k, v in test.ranges.items()}
            self._ranges[search.id] = known
        return known

    def _settle_sweep(
        self,
        conn: sa.Connection,
        run: RunningTrial,
        spec: SearchSpec,
        outcome: Outcome,
        reason: str | None,
    ) -> None:
        """Store the ended sweep; after the last one, the range (sweeps.py), in the
        transaction that counts it."""
        info = sweep_of(run.user_attrs) or {}
        result = run.sweep_result
        row = store.SweepRow(
            run.number,
            str(info.get("optimizer", "?")),
            int(info.get("seed", 0)),
            outcome.value,
            result.updates if result is not None else 0,
            result.trial_updates if result is not None else None,
            result.reading.to_dict() if result is not None else {},
            reason or (result.reason if result is not None else None),
        )
        settle_sweep(conn, run.search.id, spec, row)

    def _rung(
        self, run: RunningTrial, epoch: int, value: float, metrics: Mapping[str, float]
    ) -> Rung | None:
        budget = run.search.spec.get("budget", {})
        reports, steps = _reports(budget), budget.get("steps")
        pruner = run.study.pruner
        if not isinstance(pruner, AnnealProbePruner):
            return rung_of(run.schedule, epoch, value, metrics, reports, steps)
        rung = rung_of(run.schedule, epoch, value, metrics, reports, steps)
        if rung is not None:
            probe_rung = pruner.probes_at(epoch, reports)
            reported = metrics.get("probe_value") if probe_rung else None
            rung, run.anneal = anneal_rung(rung, run.anneal, probe_rung, reported)
        return rung

    def _probe_says(self, run: RunningTrial, pruner: AnnealProbePruner, rung: Rung) -> bool:
        """The anneal pruner: before its first probe rung the raw value among every completed
        trial's; then the (measured or estimated) annealed value among the others'; without
        one (the code offers no probe) the schedule-aware rule. One statement each."""
        if pruner.before_probes(rung.epoch, _reports(run.search.spec.get("budget", {}))):
            return self._rung_says(run, pruner, rung, every=True)
        return self._rung_says(run, pruner, rung, annealed=rung.probe_value is not None)

    def _rung_says(
        self,
        run: RunningTrial,
        pruner: ScheduleAwarePruner,
        rung: Rung,
        *,
        annealed: bool = False,
        every: bool = False,
    ) -> bool:
        """The schedule-aware pruner on this rung: one statement (none in the warm-up); with
        ``every``, among all completed trials' raw values, whatever their decay left."""
        if not pruner.judges(rung.epoch):
            return False
        value = rung.probe_value if annealed and rung.probe_value is not None else rung.value
        if not math.isfinite(value):  # an anneal probe that diverged: worse than any other
            value = -math.inf if run.search.direction == "maximize" else math.inf

        def standing() -> store.RungStanding:
            with store.transaction(self.engine) as conn:
                return store.rung_standing(
                    conn,
                    run.search.id,
                    rung.epoch,
                    trial_number=run.number,
                    decay_floor=EVERY_DECAY if every else rung.decay_floor,
                    value=value,
                    maximize=run.search.direction == "maximize",
                    annealed=annealed,
                )

        found = self.retry(standing, "read the rung")
        return pruner.decides(found, value, run.search.direction == "maximize")

    def _completed_of(self, run: RunningTrial) -> list[FrozenTrial]:
        """The study's completed trials, loaded again only when the search counted another.

        A completed trial never changes, so the count of completed trials (one indexed read)
        tells whether the list the median pruner needs is still the same.
        """
        search = store.search_by_id(self.engine, run.search.id)
        n_complete = search.n_complete if search is not None else -1
        known = self._completed.get(run.search.id)
        if known is None or known[0] != n_complete:
            fresh = [  # baselines and confirmations are in no pruner's reference set
                t
                for t in oc.trials_in(run.study, (TrialState.COMPLETE,))
                if baseline_of(t.user_attrs) is None and confirmation_of(t.user_attrs) is None
            ]
            known = (n_complete, fresh)
            self._completed[run.search.id] = known
        return known[1]


def _reports(budget: Mapping[str, Any]) -> int | None:
    """How many reports a trial of a search with this budget gives (None: the code decides)."""
    epochs, steps = budget.get("epochs"), budget.get("steps")
    if epochs is not None:
        return int(epochs)
    return min(int(budget.get("evals", 10)), int(steps)) if steps else None
