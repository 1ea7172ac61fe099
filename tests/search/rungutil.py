"""A search with lrsearch's own pruner, its ledger, and reference curves in the table.

Shared by the schedule-aware pruner's tests (test_pruning.py) and the anneal pruner's
(test_anneal_pruner.py): the reference trials' curves are written straight to
``lr_epoch_metrics`` (as the ledger writes them); the trial under judgement is a real running
trial of a real search, reporting through the worker's ledger.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import optuna

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.factory import make_pruner
from lrsearch.search.ledger import RunningTrial, TrialLedger
from lrsearch.service.create import open_search
from lrsearch.spec import SearchSpec
from lrsearch.store.models import epoch_metrics


def _spec(name: str, *, epochs: int, startup: int = 3, pruner: str = "schedule") -> dict[str, Any]:
    return {
        "name": name,
        "task": "digits-mlp",
        "budget": {"trials": 2000, "epochs": epochs},
        "search": {
            "sampler": "random",
            "seed": 0,
            "pruner": pruner,
            "startup_trials": startup,
            "lr_range": "off",  # rung tests: no sweeps before the searched trials
        },
        "space": {"families": ["constant", "cosine", "wsd"], "optimizers": ["sgd"]},
        "baselines": False,
    }


class Rungs:
    """A search with the spec's pruner, its ledger, and reference curves in the table."""

    def __init__(self, url: str, spec: SearchSpec) -> None:
        store.upgrade(url)
        self.ledger = TrialLedger(Settings(storage_url=url, db_retry_s=30, heartbeat_s=3600))
        self.spec = spec
        self.row = open_search(
            self.ledger.engine,
            self.ledger.storage,
            spec,
            metric="val_loss",
            direction="minimize",
            resume=False,
        )
        self.study = optuna.load_study(
            study_name=spec.name, storage=self.ledger.storage, pruner=make_pruner(spec)
        )

    def curve(
        self,
        number: int,
        values: dict[int, float],
        decay: dict[int, float | None],
        probe: Mapping[int, float | None] | None = None,
        *,
        complete: bool = True,
    ) -> None:
        """Another trial's rows: ``values``, ``decay`` and (optional) ``probe`` values by
        epoch (decay None: a baseline's row); ``complete``: the trial completed (only then
        are its rows references of the pruners)."""
        rows = [
            {
                "search_id": self.row.id,
                "trial_number": number,
                "epoch": epoch,
                "step": epoch + 1,
                "value": value,
                "decay_left": decay[epoch],
                "probe_value": (probe or {}).get(epoch),
                "complete": complete,
            }
            for epoch, value in values.items()
        ]
        with store.transaction(self.ledger.engine) as conn:
            conn.execute(epoch_metrics.insert(), rows)

    def running(self, schedule: ScheduleSpec) -> RunningTrial:
        lease = self.ledger.claim(self.row, "w")
        assert lease is not None
        trial = self.ledger.ask(self.study, lease)
        run = self.ledger.start(self.row, self.study, lease, trial)
        assert run is not None
        run.schedule = schedule
        return run

    def report(
        self, run: RunningTrial, epoch: int, value: float, probe_value: float | None = None
    ) -> tuple[bool, int]:
        """The decision at ``epoch`` and the statements it took (no flush in between); a
        ``probe_value`` goes in the report's metrics, as a Trial's probe puts it there."""
        run.flushed_at = time.monotonic()
        metrics: dict[str, float] = {"step": epoch + 1}
        if probe_value is not None:
            metrics["probe_value"] = probe_value
        before = self.ledger.statements
        prune = self.ledger.report(run, epoch, metrics, value)
        return prune, self.ledger.statements - before
