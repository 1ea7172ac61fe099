"""The worker's side of a Trial's reports: one Reporter for every runner.

:class:`TrialBackend` keeps what the runners need to decide a trial's outcome (the last value
of the metric, whether it was pruned or diverged); :class:`LedgerBackend` records each report
in the ledger and asks the pruner; :class:`PrintBackend` (``lrsearch run``) prints and never
prunes. Reports reach a backend in the worker's process, or from a command trial's child over
the local channel (channel_server.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TextIO

from lrsearch.errors import InvalidInputError
from lrsearch.search.ledger import RunningTrial, TrialLedger
from lrsearch.trial import PrintReporter


class TrialBackend:
    """Counts the reports of one trial and remembers how it stands; subclasses decide."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.reports = 0
        self.last_value: float | None = None
        self.diverged: tuple[int, float] | None = None  # (report index, value)
        self.pruned = False
        self.probe_updates = 0  # the anneal probes' updates so far (reports carry the total)

    @property
    def stopped(self) -> bool:
        """The trial must stop: pruned, or its metric became non-finite."""
        return self.pruned or self.diverged is not None

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        """Take one validation; answers whether the trial must stop (pruned or diverged)."""
        if self.metric not in metrics:
            raise InvalidInputError("metrics", f"a report must include {self.metric!r}")
        if self.stopped:  # a child that goes on after being told: nothing more is recorded
            return True
        value = float(metrics[self.metric])
        index, self.reports = self.reports, self.reports + 1
        if not math.isfinite(value):
            self.diverged = (index, value)
            return True
        self.last_value = value
        probed = metrics.get("probe_updates")
        if probed is not None and math.isfinite(probed):
            self.probe_updates = max(self.probe_updates, int(probed))
        self.pruned = self.decide(index, step, metrics, value)
        return self.pruned

    def decide(self, index: int, step: int, metrics: Mapping[str, float], value: float) -> bool:
        """Record report ``index``; whether to prune here."""
        return False


class LedgerBackend(TrialBackend):
    """Each report becomes an epoch row and an Optuna intermediate value; the pruner decides."""

    def __init__(self, ledger: TrialLedger, run: RunningTrial, metric: str) -> None:
        super().__init__(metric)
        self.ledger, self.run = ledger, run

    def decide(self, index: int, step: int, metrics: Mapping[str, float], value: float) -> bool:
        row = {"epoch": index, "step": step, **metrics}
        return self.ledger.report(self.run, index, row, value)


class PrintBackend(TrialBackend):
    """Standalone (``lrsearch run``): each report is printed; nothing is pruned."""

    def __init__(self, metric: str, stream: TextIO | None = None) -> None:
        super().__init__(metric)
        self.printer = PrintReporter(stream)

    def decide(self, index: int, step: int, metrics: Mapping[str, float], value: float) -> bool:
        return self.printer.report(step, metrics)
