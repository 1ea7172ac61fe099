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

import warnings
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lrsearch import store

LEASE_ATTR = "lrsearch:lease"


def ask(study: optuna.Study, engine: Any, lease: store.Lease, *, retried: bool) -> optuna.Trial:
    """A RUNNING trial for ``lease``; ``retried``: an earlier try may have written already."""
    trial_id = _earlier(study, engine, lease) if retried else None
    if trial_id is None:
        trial_id = _pop_queued(study, engine, lease)
    if trial_id is None:
        trial_id = _create(study, lease)
    study._thread_local.cached_all_trials = None  # as study.ask(): sample from fresh history
    with warnings.catch_warnings():  # samplers' experimental options warn on every trial
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.Trial(study, trial_id)


def _earlier(study: optuna.Study, engine: Any, lease: store.Lease) -> int | None:
    """The trial an earlier try of this lease reserved or created, if it is still usable."""
    storage = study._storage
    reserved = store.reserved_trial_id(engine, lease)
    if reserved is not None:
        if (
            _start_queued(storage, reserved)
            or storage.get_trial(reserved).state == TrialState.RUNNING
        ):
            return reserved  # only the reserving lease moves a queued trial to RUNNING
        store.unreserve_trial(engine, lease)  # finished meanwhile (failed from outside)
    for trial in storage.get_all_trials(
        study._study_id, deepcopy=False, states=(TrialState.RUNNING,)
    ):
        if trial.system_attrs.get(LEASE_ATTR) == lease.id:
            return trial._trial_id
    return None


def _pop_queued(study: optuna.Study, engine: Any, lease: store.Lease) -> int | None:
    storage = study._storage
    for trial in storage.get_all_trials(
        study._study_id, deepcopy=False, states=(TrialState.WAITING,)
    ):
        if not store.reserve_trial(engine, lease, trial._trial_id):
            continue  # another worker holds it
        if _start_queued(storage, trial._trial_id):
            return trial._trial_id
        store.unreserve_trial(engine, lease)  # started by a plain Optuna client, or finished
    return None


def _start_queued(storage: Any, trial_id: int) -> bool:
    """WAITING -> RUNNING; False if the trial is not WAITING any more."""
    try:
        return bool(storage.set_trial_state_values(trial_id, state=TrialState.RUNNING))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def _create(study: optuna.Study, lease: store.Lease) -> int:
    template = FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=datetime.now(),  # Optuna stores local naive time
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={LEASE_ATTR: lease.id},
        intermediate_values={},
        trial_id=-1,
    )
    return int(study._storage.create_new_trial(study._study_id, template_trial=template))
