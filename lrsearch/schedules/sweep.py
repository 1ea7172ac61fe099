"""The LR range test's curve: an exponential sweep from a very small LR up to a large one.

Not a family of the search space: a sweep trial applies it for ``steps`` optimizer updates,
whatever length the training code plans, and reports its loss as it goes (see
:mod:`lrsearch.space.lr_range` for what is read from it). After update ``t`` (0-based) the
LR is ``low * (high / low) ** (t / (steps - 1))``: the first update uses ``low``, update
``steps - 1`` uses ``high``, and the LR stays at ``high`` afterwards.

>>> sweep = RangeSweep(1e-6, 1.0, 7)
>>> [float(f"{sweep.lr_at(t):.1g}") for t in range(7)]
[1e-06, 1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lrsearch.errors import ScheduleError


@dataclass(frozen=True)
class RangeSweep:
    """An exponential LR sweep from ``low`` to ``high`` over ``steps`` updates.

    ``trial_epochs`` / ``trial_steps``: the length of one trial of the search (its budget), so
    that training code can say how many updates such a trial takes (what a sweep is charged in).
    """

    low: float
    high: float
    steps: int
    trial_epochs: int | None = None
    trial_steps: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ScheduleError("lr_sweep", "low and high must be finite")
        if not 0.0 < self.low < self.high:
            raise ScheduleError("lr_sweep", f"needs 0 < low < high, got [{self.low}, {self.high}]")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 2:
            raise ScheduleError("lr_sweep.steps", f"must be an integer >= 2, got {self.steps!r}")

    def lr_at(self, update: int) -> float:
        """The LR of update ``update`` (0-based); ``high`` from update ``steps - 1`` on."""
        t = min(max(update, 0), self.steps - 1) / (self.steps - 1)
        return float(self.low * (self.high / self.low) ** t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "steps": self.steps,
            "trial_epochs": self.trial_epochs,
            "trial_steps": self.trial_steps,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RangeSweep:
        epochs, steps = data.get("trial_epochs"), data.get("trial_steps")
        try:
            return cls(
                float(data["low"]),
                float(data["high"]),
                int(data["steps"]),
                None if epochs is None else int(epochs),
                None if steps is None else int(steps),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScheduleError("lr_sweep", f"is not a sweep: {exc}") from None
