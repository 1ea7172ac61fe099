"""What happens to the trial of a worker that died, or of one that was told to stop.

A lease whose heartbeat is older than ``stale_after_s`` (by the database's clock) is reaped;
exactly one reaper wins each, by a conditional UPDATE:

- the dead worker had told Optuna the result but not counted it: count it now, as the worker
  would have (a baseline's or confirmation's row settled; the search's last own trial opens
  its baselines and confirmations, queued in the same transaction: opening.py);
- its trial was running: the lease is closed as LOST and its slot goes back, in one transaction
  that also leaves the re-queue pending on the lease row; then the same parameters are queued
  again (attempt + 1) and the Optuna trial is failed (``fail_reason = "worker lost"``). After
  ``max_attempts`` the trial counts as failed instead (counted as above), so a search always
  ends;
- it had claimed a slot but not asked Optuna yet, or only reserved a queued trial: the slot
  goes back (the queued trial stays queued).

A re-queue interrupted by a crash stays pending on its lease row; any reaper completes it once
its closer has been silent for ``stale_after_s``. Every step of it is safe to repeat, and the
parameters are queued in one transaction with clearing that mark, so they are queued exactly
once even when the closer was only slow and both finish the re-queue at the same time. Optuna
trials left RUNNING whose lease is closed (a worker that died between asking and linking its
lease) are failed as well. A sweep of an LR range test that ended for good without a worker
storing it is stored from its epoch rows (ledger/sweeps.py).
"""

from __future__ import annotations

import logging

import optuna
import sqlalchemy as sa
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import Engine

from lrsearch import store
from lrsearch.search.ledger import optuna_calls as oc
from lrsearch.search.ledger.opening import after_search, count_and_queue
from lrsearch.search.ledger.sweeps import settle_unrecorded
from lrsearch.spec import parse_spec
from lrsearch.store import Outcome

log = logging.getLogger("lrsearch.recovery")

WORKER_LOST = "worker lost"


class Reaper:
    """Reaps stale leases and completes pending re-queues, on one engine and one storage."""

    def __init__(
        self,
        engine: Engine,
        storage: optuna.storages.RDBStorage,
        stale_after_s: float,
        max_attempts: int,
    ) -> None:
        self.engine, self.storage = engine, storage
        self.stale_after_s, self.max_attempts = stale_after_s, max_attempts

    def study(self, name: str) -> optuna.Study:
        return optuna.load_study(study_name=name, storage=self.storage)

    def reap(self) -> int:
        """Reap every stale lease, finish interrupted re-queues, fail orphans; returns leases
        reaped."""
        reaped = sum(self._reap_one(s) for s in store.stale_leases(self.engine, self.stale_after_s))
        for pending in store.pending_requeues(self.engine, self.stale_after_s):
            if store.claim_requeue(self.engine, pending.id, self.stale_after_s):
                self.requeue(pending)
        self._fail_orphans()
        # Sweeps ended for good that no worker stored (failed for good here, or counted here
        # for a worker that died): stored from their epoch rows, so a range test always ends.
        settle_unrecorded(self.engine, self._finished_trials)
        return reaped

    def _finished_trials(self, name: str) -> list[optuna.trial.FrozenTrial]:
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        try:
            return oc.trials_in(self.study(name), states)
        except KeyError:  # its Optuna study is gone (being deleted)
            return []

    def requeue(self, pending: store.PendingRequeue) -> None:
        """Fail the abandoned trial and queue its parameters again, once; then clear the mark.

        Each step is safe to repeat, and safe beside another reaper doing the same (a closer
        slow past the stale window, and the reaper that took its re-queue over): a finished
        trial is not failed again, and the parameters are queued in one transaction with
        clearing the mark, which only one of them can do. A trial this lease had only
        reserved, and another worker has started since, is that worker's: left alone.
        """
        study = self.study(pending.search_name)
        trial = self.storage.get_trial(pending.optuna_trial_id)
        if trial.state in (TrialState.RUNNING, TrialState.FAIL) and not store.taken_over(
            self.engine, pending.id, pending.optuna_trial_id
        ):
            attempt = pending.attempt + pending.outcome.next_attempt
            oc.fail(self.storage, pending.optuna_trial_id, pending.reason or WORKER_LOST)
            oc.enqueue_again(
                study, trial, attempt, lambda conn: store.mark_requeued(conn, pending.id)
            )
        store.requeue_done(self.engine, pending.id)

    def _reap_one(self, stale: store.StaleLease) -> int:
        if stale.optuna_trial_id is None:
            return int(self._close(stale, Outcome.LOST))
        trial = self.storage.get_trial(stale.optuna_trial_id)
        if trial.state == TrialState.WAITING:  # reserved but never started: it stays queued
            return int(self._close(stale, Outcome.LOST))
        if trial.state.is_finished():  # told Optuna, died before counting it
            outcome = Outcome.of_finished_state(trial.state)
            config = trial.user_attrs.get("config")
            value = trial.value if outcome is Outcome.COMPLETE else None
            return int(
                self._count(
                    stale,
                    trial,
                    outcome,
                    value=value,
                    config=dict(config) if isinstance(config, dict) else None,
                    reason="counted by the reaper",
                )
            )
        if stale.attempt >= self.max_attempts:
            reason = f"{WORKER_LOST} ({stale.attempt} attempts)"
            if not self._count(stale, trial, Outcome.FAILED, reason=reason):
                return 0
            oc.fail(self.storage, stale.optuna_trial_id, reason)
            return 1
        if not self._close(stale, Outcome.LOST):
            return 0
        self.requeue(
            store.PendingRequeue(
                stale.id,
                stale.search_id,
                stale.search_name,
                stale.optuna_trial_id,
                stale.attempt,
                Outcome.LOST,
                WORKER_LOST,
            )
        )
        log.warning("reaped trial %s of %s: %s", trial.number, stale.search_name, WORKER_LOST)
        return 1

    def _count(
        self,
        stale: store.StaleLease,
        trial: FrozenTrial,
        outcome: Outcome,
        *,
        value: float | None = None,
        config: dict[str, object] | None = None,
        reason: str,
    ) -> bool:
        """Close the lease with a final ``outcome`` and count it as the worker would have: a
        baseline's or confirmation's row is settled, and when it is the search's last own
        trial, its baselines and confirmations open and are queued in the same transaction."""
        search = store.search_by_id(self.engine, stale.search_id)
        if search is None:  # deleted meanwhile: nothing to count
            return self._close(stale, outcome, value=value, config=config, reason=reason)
        spec = parse_spec(search.spec)
        after = after_search(spec, trial.user_attrs)

        def record(conn: sa.Connection) -> store.Recorded:
            return store.reap_lease_in(
                conn,
                stale,
                self.stale_after_s,
                outcome=outcome,
                value=value,
                config=config,
                reason=reason,
                baseline=after.baseline,
                baselines=after.baselines,
                confirming=after.confirming,
            )

        return count_and_queue(
            self.engine, lambda: self.study(stale.search_name), spec, stale.search_id, after, record
        )

    def _close(
        self,
        stale: store.StaleLease,
        outcome: Outcome,
        *,
        value: float | None = None,
        config: dict[str, object] | None = None,
        reason: str = WORKER_LOST,
    ) -> bool:
        return store.reap_lease(
            self.engine,
            stale,
            self.stale_after_s,
            outcome=outcome,
            value=value,
            config=config,
            reason=reason,
        )

    def _fail_orphans(self) -> None:
        """RUNNING trials of live searches whose lease is closed (and not re-queueing).

        Decided by the lease rows, not by comparing start times across hosts' clocks. A trial
        that no lease ever held was not started by lrsearch, and is left alone.
        """
        for search in store.live_searches(self.engine):
            try:
                study = self.study(search.name)
            except KeyError:
                continue
            running = oc.trials_in(study, (TrialState.RUNNING,))
            if not running:
                continue
            tags = {oc.trial_id(t): t.system_attrs.get(oc.LEASE_ATTR) for t in running}
            links = store.lease_links(
                self.engine, tags, [tag for tag in tags.values() if isinstance(tag, int)]
            )
            for trial_id, tag in tags.items():
                mine = [k for k in links if k.optuna_trial_id == trial_id or k.id == tag]
                if mine and not any(link.live for link in mine):
                    # A lease failed for good (its last attempt) keeps its reason: failing
                    # the trial as "worker lost" would make it an abandoned attempt, owed a
                    # re-run that its closed lease will never queue.
                    reasons = [link.failed_reason for link in mine if link.failed_reason]
                    oc.fail(self.storage, trial_id, reasons[0] if reasons else WORKER_LOST)
