"""Every use of Optuna's private API in lrsearch, in one module, each for a stated reason.

Optuna's public ``ask``/``tell``/``report`` are not enough for a ledger that must be safe to
retry and cheap per epoch: a trial's id, the study's storage, a tagged trial created in one
transaction, a batch of intermediate values written with lrsearch's own epoch rows, and the
pruner asked with the trial Optuna already holds in memory. If Optuna changes these, this is
the module to fix.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from lrsearch.space.baselines import BASELINE_ATTR, BASELINE_CONFIG_ATTR
from lrsearch.space.confirm import CONFIRM_CONFIG_ATTR, CONFIRM_SEED_ATTR, CONFIRMS_ATTR
from lrsearch.space.lr_range import SWEEP_ATTR

# The lease a new trial was created for (a system attribute), so a retried ask finds it.
LEASE_ATTR = "lrsearch:lease"
# A re-run of a baseline is a baseline; a re-run of a confirmation is the same confirmation;
# of an LR range test's sweep, the same sweep.
CARRIED_ATTRS = (
    BASELINE_ATTR,
    BASELINE_CONFIG_ATTR,
    CONFIRMS_ATTR,
    CONFIRM_SEED_ATTR,
    CONFIRM_CONFIG_ATTR,
    SWEEP_ATTR,
)


def quiet_storage_logs() -> None:
    """Optuna logs each failed storage call; the retry policy logs one line per retry instead."""
    logging.getLogger("optuna.storages._rdb.storage").setLevel(logging.CRITICAL)


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial (Optuna keeps it private; the lease row stores it)."""
    return int(trial._trial_id)


def storage_of(study: optuna.Study) -> BaseStorage:
    """The study's storage (Optuna's cache in front of the RDBStorage: writes go through it,
    so it stays coherent)."""
    return study._storage


def trials_in(study: optuna.Study, states: tuple[TrialState, ...]) -> list[FrozenTrial]:
    """The study's trials in ``states``, not copied."""
    return list(storage_of(study).get_all_trials(study._study_id, deepcopy=False, states=states))


def open_trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """An ``optuna.Trial`` on a RUNNING trial, sampling from the study's current history."""
    study._thread_local.cached_all_trials = None  # as study.ask() does
    with warnings.catch_warnings():  # samplers' experimental options warn on every trial
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.Trial(study, trial_id)


def create_tagged(study: optuna.Study, lease_id: int) -> int:
    """Insert a RUNNING trial carrying the lease id, in one transaction (``study.ask`` cannot)."""
    template = FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=datetime.now(),  # Optuna stores local naive time
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={LEASE_ATTR: lease_id},
        intermediate_values={},
        trial_id=-1,
    )
    return int(storage_of(study).create_new_trial(study._study_id, template_trial=template))


def start_queued(storage: BaseStorage, trial_id: int) -> bool:
    """WAITING -> RUNNING; False if the trial is not WAITING any more."""
    try:
        return bool(storage.set_trial_state_values(trial_id, state=TrialState.RUNNING))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def fail(storage: BaseStorage, trial_id: int, reason: str) -> None:
    """A RUNNING trial becomes FAIL with ``fail_reason``; nothing happens to a finished one."""
    try:
        storage.set_trial_user_attr(trial_id, "fail_reason", reason)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
        return  # finished in the meantime


def enqueue_again(
    study: optuna.Study,
    lost: FrozenTrial,
    attempt: int,
    mark: Callable[[sa.Connection], bool],
) -> bool:
    """Queue the lost trial's parameters again, in one transaction with ``mark(conn)``.

    ``mark`` clears the lease's pending re-queue (a conditional UPDATE): when it finds the
    mark cleared already, another reaper queued them, and nothing is written. So however many
    reapers work on one abandoned attempt at once, its parameters are queued exactly once
    (``study.enqueue_trial`` writes in a transaction of its own, which leaves no such guard).
    Returns whether this call queued them.

    A trial with neither parameters (suggested, or fixed for a queued re-run) nor baseline or
    confirmation attributes had not been configured yet: a fresh sample is as good, so
    nothing is queued (the mark is the caller's to clear).
    """
    carried = {k: lost.user_attrs[k] for k in CARRIED_ATTRS if k in lost.user_attrs}
    # A queued re-run lost before (or while) it suggested holds its parameters as fixed_params.
    params = {**(lost.system_attrs.get("fixed_params") or {}), **lost.params}
    if not (params or carried):
        return False
    if any(t.user_attrs.get("retry_of") == lost.number for t in trials_in(study, _ALL_STATES)):
        return False
    template = optuna.trial.create_trial(
        state=TrialState.WAITING,
        system_attrs={"fixed_params": params},
        user_attrs={"retry_of": lost.number, "attempt": attempt, **carried},
    )
    backend = _rdb_of(study)
    with _create_scoped_session(backend.scoped_session) as session:
        # Optuna's own lock for numbering a new trial, taken first as Optuna takes it.
        models.StudyModel.find_or_raise_by_id(study._study_id, session, for_update=True)
        if not mark(session.connection()):
            session.rollback()
            return False
        backend._get_prepared_new_trial(study._study_id, template, session)
    return True


def record_and_queue(
    study: optuna.Study, write: Callable[[sa.Connection], list[dict[str, Any]] | None]
) -> bool:
    """``write(conn)`` (lrsearch's record of a finished trial), then queue a WAITING trial for
    each user-attribute dict it returns, in one transaction; None from ``write``: nothing is
    written (the lease was reaped), and the answer is False.

    The search's last own trial opens its baselines and confirmations this way: their slots
    (lrsearch's budget) and their queued trials (Optuna's) exist together or not at all.
    Optuna's study lock is taken first, as Optuna takes it to number a new trial.
    """
    backend = _rdb_of(study)
    with _create_scoped_session(backend.scoped_session) as session:
        models.StudyModel.find_or_raise_by_id(study._study_id, session, for_update=True)
        queued = write(session.connection())
        if queued is None:
            session.rollback()
            return False
        for attrs in queued:
            template = optuna.trial.create_trial(
                state=TrialState.WAITING, system_attrs={"fixed_params": {}}, user_attrs=attrs
            )
            backend._get_prepared_new_trial(study._study_id, template, session)
    return True


def _rdb_of(study: optuna.Study) -> RDBStorage:
    """The RDBStorage under the study's cache (new trials are read from it by id)."""
    storage = storage_of(study)
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, RDBStorage):
        raise TypeError(f"lrsearch needs an RDBStorage, not {type(backend).__name__}")
    return backend


_ALL_STATES = tuple(TrialState)


def tell(study: optuna.Study, trial: optuna.Trial, state: TrialState, value: float | None) -> bool:
    """``study.tell``, safe to repeat; False if the trial was finished by someone else first.

    A retried tell may find the trial finished by its own first try: in the state it was
    telling, that is success. GridSampler calls ``study.stop()`` when its grid is used up,
    which raises outside ``optimize``; Optuna saves the trial's state before that.
    """
    current = storage_of(study).get_trial(trial_id(trial))
    if current.state.is_finished():
        return current.state == state and (value is None or current.value == value)
    try:
        if value is None:
            study.tell(trial, state=state)
        else:
            study.tell(trial, values=value)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise
    return True


def observe(trial: optuna.Trial, step: int, value: float) -> None:
    """Let the pruner see this step's value without writing it yet (written in batches)."""
    trial._cached_frozen_trial.intermediate_values[step] = value


def write_intermediate(
    storage: RDBStorage,
    trial_id: int,
    values: Sequence[tuple[int, float]],
    also: Any,
) -> bool:
    """Write intermediate values of a RUNNING trial in one transaction, with ``also(conn)``.

    ``also`` runs lrsearch's own writes on the same connection, so the epoch rows and Optuna's
    intermediate values land together. Safe to repeat (steps already written are skipped).
    False, writing nothing, when the trial is not RUNNING any more (it was reaped).
    """
    with _create_scoped_session(storage.scoped_session) as session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
        if trial.state != TrialState.RUNNING:
            return False
        if not also(session.connection()):
            session.rollback()
            return False
        steps = [step for step, _ in values]
        Model = models.TrialIntermediateValueModel
        written = (
            set(
                session.scalars(
                    Model.__table__.select()
                    .with_only_columns(Model.step)
                    .where(Model.trial_id == trial_id, Model.step.in_(steps))
                )
            )
            if steps
            else set()
        )
        rows = []
        for step, value in values:
            if step not in written:
                stored, kind = Model.intermediate_value_to_stored_repr(value)
                rows.append(
                    {
                        "trial_id": trial_id,
                        "step": step,
                        "intermediate_value": stored,
                        "intermediate_value_type": kind,
                    }
                )
        if rows:  # one executemany, not an ORM round trip per row
            session.execute(Model.__table__.insert(), rows)
    return True


def pruner_says(
    study: optuna.Study,
    trial: optuna.Trial,
    direction: StudyDirection,
    completed: Any,
) -> bool:
    """The study's pruner on the trial as Optuna holds it in memory (values not written yet).

    For the median pruner, only what its decision reads: nothing before the warm-up steps,
    then the completed trials from ``completed()`` (the ledger keeps them: a completed trial
    never changes) instead of loading every trial each epoch. Other pruners see the study.
    """
    pruner = study.pruner
    frozen = trial._get_latest_trial()
    if isinstance(pruner, optuna.pruners.PercentilePruner):
        step = frozen.last_step
        if step is None or step < pruner._n_warmup_steps:
            return False
        return bool(pruner.prune(_CompletedView(direction, completed()), frozen))  # type: ignore[arg-type]
    return bool(pruner.prune(study, frozen))


def prunes(study: optuna.Study) -> bool:
    """Whether the study's pruner can ever prune (NopPruner never does)."""
    return not isinstance(study.pruner, optuna.pruners.NopPruner)


class _CompletedView:
    """What a PercentilePruner reads of a study: its direction and its completed trials."""

    def __init__(self, direction: StudyDirection, completed: Sequence[FrozenTrial]) -> None:
        self.direction, self._completed = direction, list(completed)

    def get_trials(
        self, deepcopy: bool = False, states: Iterable[TrialState] | None = None
    ) -> list[FrozenTrial]:
        assert states is not None and tuple(states) == (TrialState.COMPLETE,)
        return self._completed
