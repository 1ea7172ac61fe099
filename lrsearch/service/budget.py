"""More trials for a search that exists: extend its budget, or retry its failed trials.

Both add slots to the budget of the same study (one UPDATE of ``lr_searches``, safe beside
running agents) and make a finished search live again, so agents (``lrsearch worker``, the
``lrsearch search`` of its spec, ``lrsearch serve --workers``) pick it up. Retrying first
queues each failed trial's exact parameters in Optuna (as the reaper re-runs a lost trial's),
so the agents run those before sampling anything new.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lrsearch import store
from lrsearch.errors import InvalidInputError, NotFoundError
from lrsearch.service.backend import Backend
from lrsearch.service.names import known_name
from lrsearch.space import grid_space
from lrsearch.space.baselines import BASELINE_ATTR, BASELINE_CONFIG_ATTR
from lrsearch.space.confirm import CONFIRM_CONFIG_ATTR, CONFIRM_SEED_ATTR, CONFIRMS_ATTR
from lrsearch.spec import parse_spec

MAX_EXTENSION = 1_000_000  # as a spec's budget.trials
RETRY_OF = "retry_of"  # user attribute of a re-run: the number of the trial it repeats
# A re-run of a baseline is a baseline; a re-run of a confirmation is the same confirmation.
CARRIED_ATTRS = (
    BASELINE_ATTR,
    BASELINE_CONFIG_ATTR,
    CONFIRMS_ATTR,
    CONFIRM_SEED_ATTR,
    CONFIRM_CONFIG_ATTR,
)


@dataclass(frozen=True)
class Retried:
    """What ``retry_failed`` did: the trials re-queued with their parameters, the failed
    trials that had none (a fresh sample runs in their place), and the search after it."""

    requeued: list[int]
    fresh: int
    search: store.Search

    @property
    def added(self) -> int:
        return len(self.requeued) + self.fresh


def extend_study(backend: Backend, name: str, trials: int) -> store.SearchSummary:
    """Add ``trials`` to the budget of study ``name``, finished or running.

    InvalidInputError naming ``trials`` for a count outside [1, 1,000,000], or past the
    points of a grid search; NotFoundError for no such study.

    >>> extend_study(backend, "digits-demo", 20).search.trial_budget  # doctest: +SKIP
    40
    """
    search = store.get_search(backend.writer, known_name(name))
    _check_count(trials)
    _check_grid(search, trials)
    store.extend_budget(backend.writer, name, trials)
    return store.search_summary(backend.writer, name)


def retry_failed(backend: Backend, name: str) -> Retried:
    """Queue the exact parameters of every failed trial of study ``name`` that was not retried
    yet, and add as many trials to its budget; agents re-run them before new samples.

    A failed baseline is queued as the same baseline, a failed confirmation as the same
    confirmation. A failed trial without parameters (it
    failed before it had any) gets a slot too, where a fresh sample runs. Retrying twice
    queues each failed trial once: a re-run carries ``retry_of`` = the number it repeats.
    """
    search = store.get_search(backend.writer, known_name(name))
    storage = backend.optuna_storage()
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        trials = storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False)
    except KeyError:
        raise NotFoundError(f"study {name!r} has no Optuna study") from None
    by_number = {t.number: t for t in trials}
    retried = {t.user_attrs.get(RETRY_OF) for t in trials}
    requeued, fresh = [], 0
    for failed in store.failed_trials(backend.writer, search.id):
        if failed.trial_number is not None and failed.trial_number in retried:
            continue
        trial = by_number.get(failed.trial_number) if failed.trial_number is not None else None
        if trial is not None and trial.state == TrialState.FAIL and _enqueue(study, trial):
            requeued.append(trial.number)
        else:
            fresh += 1
    if requeued or fresh:  # a grid's failed points may run again: no grid check here
        search = store.extend_budget(backend.writer, name, len(requeued) + fresh)
    return Retried(requeued, fresh, search)


def _enqueue(study: optuna.Study, failed: FrozenTrial) -> bool:
    """Queue the failed trial's parameters (and baseline attributes); False if it has none.

    Through Optuna's public ``enqueue_trial`` (a queued trial's ``fixed_params``, as the
    reaper's re-run); its ``attempt`` starts again at 1: a retry is a new decision.
    """
    carried: dict[str, Any] = {
        k: failed.user_attrs[k] for k in CARRIED_ATTRS if k in failed.user_attrs
    }
    if not (failed.params or carried):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.enqueue_trial(
            dict(failed.params),
            user_attrs={RETRY_OF: failed.number, "attempt": 1, **carried},
            skip_if_exists=False,
        )
    return True


def _check_count(trials: int) -> None:
    if isinstance(trials, bool) or not 1 <= trials <= MAX_EXTENSION:
        raise InvalidInputError("trials", f"must be in [1, {MAX_EXTENSION:,}] (got {trials})")


def _check_grid(search: store.Search, added: int) -> None:
    """A grid search runs each point once: its budget never exceeds its points."""
    spec = parse_spec(search.spec)
    if spec.search.sampler != "grid" or not added:
        return
    points = math.prod(len(values) for values in grid_space(spec).values())
    # Its own slots only: a confirmation re-runs a point on a fresh seed, it is not a point.
    if search.search_trials + added > points:
        raise InvalidInputError(
            "trials",
            f"a grid search runs each of its {points} points once, and {search.name!r} has "
            f"{search.search_trials} trials already: it can take at most "
            f"{max(points - search.search_trials, 0)} more",
        )
