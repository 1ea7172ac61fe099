"""What every runner is: ``run(trial, backend) -> RunResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from lrsearch.search.runners.backend import TrialBackend
from lrsearch.store import Outcome
from lrsearch.trial import Trial


@dataclass(frozen=True)
class RunResult:
    """How a trial ended, as a runner sees it; ``attrs`` go to the trial's user attributes."""

    outcome: Outcome
    value: float | None = None
    reason: str | None = None
    attrs: dict[str, object] = field(default_factory=dict)
    exit_code: int | None = None


class Runner(Protocol):
    """Trains one trial; its reports go to ``backend``. Raises only what the worker must see
    (control flow, the database gone); a bug in user code is the worker's "error" failure."""

    def run(self, trial: Trial, backend: TrialBackend) -> RunResult: ...
