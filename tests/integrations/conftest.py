"""A Trial driven in-process: real optimizer and scheduler, a reporter that records and prunes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from integutil import SCHEDULE, Recording

from lrsearch.trial import Trial, TrialBudget


@pytest.fixture
def make_trial() -> Callable[..., tuple[Trial, Recording]]:
    """``make_trial(prune_at=None, **trial_fields)``: a Trial reporting to a Recording."""

    def make(prune_at: int | None = None, **fields: Any) -> tuple[Trial, Recording]:
        reporter = Recording(prune_at)
        options: dict[str, Any] = {
            "number": 0,
            "params": {},
            "schedule": SCHEDULE,
            "optimizer": "sgd",
            "optimizer_params": {"momentum": 0.9},
            "seed": 0,
            "budget": TrialBudget(epochs=3),
            "metric": "val_loss",
            "direction": "minimize",
            "reporter": reporter,
        }
        options.update(fields)
        return Trial(**options), reporter

    return make
