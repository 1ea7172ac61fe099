"""Turning a claimed slot into a running Optuna trial, safe to retry after a lost reply.

``study.ask()`` is not: its one write (moving a queued trial to RUNNING, or inserting a new
trial) may commit while the connection drops before the answer arrives, as in a PostgreSQL
restart. Asking again then leaves the first trial RUNNING with no worker, and if it was queued
(a baseline, or a re-run after a lost worker) its parameters never run. So the lease records
which trial is its own:

- a queued (WAITING) trial is first reserved on the lease (at most one active lease per trial,
  decided under the search's row lock), and only the reserving worker moves it to RUNNING;
- a new trial is inserted RUNNING with the lease id as a system attribute, in one transaction.

A retry first looks for what an earlier try did. Otherwise this is ``study.ask()``: queued
trials first, oldest first, then a new one; the sampler sees the study as it is now.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from sqlalchemy.engine import Engine

from lrsearch import store
from lrsearch.search.ledger import optuna_calls as oc


def ask(study: optuna.Study, engine: Engine, lease: store.Lease, *, retried: bool) -> int | None:
    """The id of a RUNNING trial for ``lease``; ``retried``: an earlier try may have written.

    None while the search's LR range test is still sweeping and no sweep is queued (a lost
    sweep's slot came back before its re-queue): a searched trial must not start before the
    range is known; the caller asks again.
    """
    trial_id = _earlier(study, engine, lease) if retried else None
    if trial_id is None:
        trial_id = _pop_queued(study, engine, lease)
    if trial_id is None:
        if store.sweeping(engine, lease.search_id):
            return None
        trial_id = oc.create_tagged(study, lease.id)
    return trial_id


def _earlier(study: optuna.Study, engine: Engine, lease: store.Lease) -> int | None:
    """The trial an earlier try of this lease reserved or created, if it is still usable."""
    storage = oc.storage_of(study)
    reserved = store.reserved_trial_id(engine, lease)
    if reserved is not None:
        if (
            oc.start_queued(storage, reserved)
            or storage.get_trial(reserved).state == TrialState.RUNNING
        ):
            return reserved  # only the reserving lease moves a queued trial to RUNNING
        store.unreserve_trial(engine, lease)  # finished meanwhile (failed from outside)
    for trial in oc.trials_in(study, (TrialState.RUNNING,)):
        if trial.system_attrs.get(oc.LEASE_ATTR) == lease.id:
            return oc.trial_id(trial)
    return None


def _pop_queued(study: optuna.Study, engine: Engine, lease: store.Lease) -> int | None:
    storage = oc.storage_of(study)
    for trial in oc.trials_in(study, (TrialState.WAITING,)):
        if not store.reserve_trial(engine, lease, oc.trial_id(trial)):
            continue  # another worker holds it
        if oc.start_queued(storage, oc.trial_id(trial)):
            return oc.trial_id(trial)
        store.unreserve_trial(engine, lease)  # started by a plain Optuna client, or finished
    return None
