"""Where a Trial's reports go: the Reporter protocol, and the standalone one that prints.

Backends: the worker's ledger (function trials and built-in tasks, in the worker's process),
the local channel (a command trial's child process: :mod:`lrsearch.trial.channel`), and
:class:`PrintReporter` (``lrsearch run`` and plain scripts: printed, never pruned).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Protocol, TextIO


class Reporter(Protocol):
    """Takes one validation's metrics; answers whether the trial must stop (pruned).

    ``step`` is the training step the user names. A non-finite value of the search's metric is
    passed on too, so that the backend can record the trial as diverged.
    """

    def report(self, step: int, metrics: Mapping[str, float]) -> bool: ...


class PrintReporter:
    """Prints each report as one line (to stderr by default); never prunes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        shown = " ".join(f"{key}={value:.6g}" for key, value in metrics.items())
        print(f"lrsearch: step {step}: {shown}", file=self.stream or sys.stderr, flush=True)
        return False
