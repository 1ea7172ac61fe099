"""A search's trials as they finish, each once: what ``lrsearch search`` prints as it runs.

The order comes from lrsearch's lease rows (store/finished.py); each trial's value, family and
failure come from Optuna's storage API, one read per finished trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from optuna.trial import FrozenTrial

from lrsearch import store
from lrsearch.service.backend import Backend
from lrsearch.store.finished import finished_leases, latest_finish


@dataclass(frozen=True)
class FinishedTrial:
    """One trial that finished for good, as a progress line shows it."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL
    value: float | None
    family: str | None
    optimizer: str | None
    baseline: str | None
    reason: str | None
    traceback: str | None
    confirms: int | None = None  # the trial whose config this confirmation re-runs


class TrialFeed:
    """The trials of search ``name`` that finished since the last call to :meth:`new`; the
    first call finds those that finished after the feed was made (a resumed search's earlier
    trials are not news)."""

    def __init__(self, backend: Backend, name: str) -> None:
        self.backend, self.name = backend, name
        self._search_id: int | None = None
        self._since: datetime | None = None
        self._seen: set[int] = set()
        self._started = False

    def start(self) -> None:
        """From now on: trials that finished before are not news (called by the first new)."""
        self._search_id = store.get_search(self.backend.reader, self.name).id
        latest = latest_finish(self.backend.reader, self._search_id)
        if latest is not None:  # what finished before now is known: mark it seen
            old = finished_leases(self.backend.reader, self._search_id, latest)
            self._seen.update(lease.id for lease in old)
            self._since = latest
        self._started = True

    def new(self) -> list[FinishedTrial]:
        """Trials finished since the last call, oldest first."""
        if not self._started:
            self.start()
        assert self._search_id is not None
        leases = finished_leases(self.backend.reader, self._search_id, self._since)
        fresh = [lease for lease in leases if lease.id not in self._seen]
        if not fresh:
            return []
        storage = self.backend.optuna_storage()
        found = []
        for lease in fresh:
            self._seen.add(lease.id)
            found.append(_finished(storage.get_trial(lease.optuna_trial_id), lease.reason))
        self._since = max(lease.finished_at for lease in leases)
        return found


def _finished(trial: FrozenTrial, lease_reason: str | None) -> FinishedTrial:
    attrs = trial.user_attrs
    schedule = attrs.get("schedule") or {}
    config = attrs.get("config") or {}
    value = trial.value if trial.state.name == "COMPLETE" else None
    sweep = attrs.get("lr_sweep") or {}  # an LR range test's sweep: "lr sweep (sgd)"
    return FinishedTrial(
        number=trial.number,
        state=trial.state.name,
        value=value if value is not None and math.isfinite(value) else None,
        family=schedule.get("family") or ("lr sweep" if sweep else None),
        optimizer=config.get("optimizer") or sweep.get("optimizer"),
        baseline=attrs.get("baseline"),
        reason=attrs.get("fail_reason") or lease_reason,
        traceback=attrs.get("fail_traceback"),
        confirms=attrs.get("confirms"),
    )
