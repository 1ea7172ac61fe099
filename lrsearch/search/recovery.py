"""Heartbeats and the reaper: what happens to the trial of a worker that died.

Every worker runs a :class:`Heartbeat` thread. It refreshes the worker's lease every
``heartbeat_s`` and reaps leases whose heartbeat is older than ``stale_after_s`` — so a
SIGKILLed worker's trial is failed within about ``stale_after_s + heartbeat_s`` even while every
other worker is busy training. Reaping is decided by one conditional UPDATE, so of all the
workers that notice, exactly one acts:

- the dead worker had told Optuna the result but not counted it: count it now;
- its trial was running: fail it in Optuna (``fail_reason = "worker lost"``), give the slot back
  and enqueue the same parameters again (attempt + 1), up to ``max_attempts``; after that the
  trial counts as failed, so a search always ends;
- it had claimed a slot but not asked Optuna yet, or only reserved a queued trial: give the
  slot back (the queued trial stays queued).

Optuna trials left RUNNING with no lease (a worker that died between asking and linking its
lease) are failed as well.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

import optuna
from optuna.trial import TrialState

from lrsearch import store
from lrsearch.errors import LRSearchError
from lrsearch.search.ask import LEASE_ATTR
from lrsearch.space.baselines import BASELINE_ATTR, BASELINE_CONFIG_ATTR
from lrsearch.store.retry import retryable_errors
from lrsearch.store.searches import Outcome

BASELINE_ATTRS = (BASELINE_ATTR, BASELINE_CONFIG_ATTR)

log = logging.getLogger("lrsearch.recovery")

WORKER_LOST = "worker lost"


def trial_config(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    config = trial.user_attrs.get("config")
    return dict(config) if isinstance(config, dict) else None


def fail_and_requeue(
    study: optuna.Study,
    trial_id: int,
    reason: str,
    *,
    attempt: int | None,
) -> None:
    """Mark an Optuna trial failed with ``reason``; enqueue its parameters again if ``attempt``."""
    storage = study._storage
    trial = storage.get_trial(trial_id)
    if trial.state != TrialState.RUNNING:
        return
    try:
        storage.set_trial_user_attr(trial_id, "fail_reason", reason)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
        return  # finished in the meantime
    carried = {k: trial.user_attrs[k] for k in BASELINE_ATTRS if k in trial.user_attrs}
    if attempt is not None and (trial.params or carried):  # a baseline has no params
        study.enqueue_trial(
            trial.params,
            user_attrs={"retry_of": trial.number, "attempt": attempt, **carried},
            skip_if_exists=False,
        )


def reap(
    engine: Any,
    storage: Any,
    *,
    stale_after_s: float,
    max_attempts: int,
) -> int:
    """Reap every stale lease and orphaned Optuna trial; returns how many leases were reaped."""
    reaped = 0
    studies: dict[str, optuna.Study] = {}
    for stale in store.stale_leases(engine, stale_after_s):
        study = studies.get(stale.search_name) or optuna.load_study(
            study_name=stale.search_name, storage=storage
        )
        studies[stale.search_name] = study
        reaped += _reap_one(engine, study, stale, stale_after_s, max_attempts)
    _fail_orphans(engine, storage, stale_after_s)
    return reaped


def _reap_one(
    engine: Any,
    study: optuna.Study,
    stale: store.StaleLease,
    stale_after_s: float,
    max_attempts: int,
) -> int:
    if stale.optuna_trial_id is None:
        return int(store.reap_lease(engine, stale, stale_after_s, outcome="released"))
    trial = study._storage.get_trial(stale.optuna_trial_id)
    if trial.state == TrialState.WAITING:  # reserved but never started: it stays queued
        return int(store.reap_lease(engine, stale, stale_after_s, outcome="released"))
    if trial.state == TrialState.COMPLETE:
        return int(
            store.reap_lease(
                engine,
                stale,
                stale_after_s,
                outcome="complete",
                value=trial.value,
                config=trial_config(trial),
                reason="counted by the reaper",
            )
        )
    if trial.state in (TrialState.PRUNED, TrialState.FAIL):
        outcome: Outcome = "pruned" if trial.state == TrialState.PRUNED else "failed"
        return int(
            store.reap_lease(
                engine, stale, stale_after_s, outcome=outcome, reason="counted by the reaper"
            )
        )
    if stale.attempt >= max_attempts:
        reason = f"{WORKER_LOST} ({stale.attempt} attempts)"
        if not store.reap_lease(engine, stale, stale_after_s, outcome="failed", reason=reason):
            return 0
        fail_and_requeue(study, stale.optuna_trial_id, reason, attempt=None)
        return 1
    if not store.reap_lease(engine, stale, stale_after_s, outcome="released", reason=WORKER_LOST):
        return 0
    fail_and_requeue(study, stale.optuna_trial_id, WORKER_LOST, attempt=stale.attempt + 1)
    log.warning("reaped trial %s of %s: %s", trial.number, stale.search_name, WORKER_LOST)
    return 1


def _fail_orphans(engine: Any, storage: Any, stale_after_s: float) -> None:
    """RUNNING Optuna trials of active searches that no lease holds, older than the timeout.

    A trial created for a lease that has not linked it yet (its worker is retrying through an
    outage) carries the lease id, and is left alone while that lease is active.
    """
    leases = store.active_leases(engine)
    held = {trial_id for trial_id in leases.values() if trial_id is not None}
    cutoff = datetime.now() - timedelta(seconds=stale_after_s)  # Optuna stores local naive time
    for name in store.active_search_names(engine):
        try:
            study_id = storage.get_study_id_from_name(name)
        except KeyError:
            continue
        for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            if trial._trial_id in held or trial.system_attrs.get(LEASE_ATTR) in leases:
                continue
            started = trial.datetime_start
            if started is not None and started < cutoff:
                try:
                    storage.set_trial_user_attr(trial._trial_id, "fail_reason", WORKER_LOST)
                    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
                    continue


class Heartbeat(threading.Thread):
    """Beats for this worker's lease and reaps dead workers' leases, every ``interval_s``."""

    def __init__(
        self,
        storage_url: str,
        *,
        interval_s: float,
        stale_after_s: float,
        max_attempts: int,
    ) -> None:
        super().__init__(name="lrsearch-heartbeat", daemon=True)
        self.engine = store.make_engine(storage_url)
        self.storage = store.make_optuna_storage(storage_url)
        self.interval_s, self.stale_after_s, self.max_attempts = (
            interval_s,
            stale_after_s,
            max_attempts,
        )
        self._leases: set[int] = set()
        self.lost: set[int] = set()
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def hold(self, lease_id: int) -> None:
        with self._lock:
            self._leases.add(lease_id)

    def drop(self, lease_id: int) -> None:
        with self._lock:
            self._leases.discard(lease_id)

    def is_lost(self, lease_id: int) -> bool:
        with self._lock:
            return lease_id in self.lost

    def beat(self) -> None:
        with self._lock:
            held = sorted(self._leases)
        lost = store.heartbeat(self.engine, held)
        if lost:
            with self._lock:
                self.lost |= lost
        reap(
            self.engine,
            self.storage,
            stale_after_s=self.stale_after_s,
            max_attempts=self.max_attempts,
        )

    def run(self) -> None:
        expected: tuple[type[BaseException], ...] = (LRSearchError, *retryable_errors())
        while not self._halt.wait(self.interval_s):
            try:
                self.beat()
            except expected as exc:
                log.warning("heartbeat failed (%s); next try in %.1f s", exc, self.interval_s)
            except Exception:  # the thread must outlive surprises; the worker logs them
                log.exception("heartbeat failed")

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=self.interval_s + 5)
        self.engine.dispose()
