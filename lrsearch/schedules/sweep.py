"""The LR range test's curve: an exponential sweep from a very small LR up to a large one.

Not a family of the search space: a sweep trial applies it for ``steps`` optimizer updates,
whatever length the training code plans, and reports its loss as it goes (see
:mod:`lrsearch.space.lr_range` for what is read from it). After update ``t`` (0-based) the
LR is ``low * (high / low) ** (t / (steps - 1))``: the first update uses ``low``, update
``steps - 1`` uses ``high``, and the LR stays at ``high`` afterwards.

>>> sweep = RangeSweep(1e-6, 1.0, 7)
>>> [float(f"{sweep.lr_at(t):.1g}") for t in range(7)]
[1e-06, 1e-05, 0.0001, 0.001, 0.01, 0.1, 1.0]

``steps`` is the most a sweep runs. With an ``allowance`` (the share of one trial's updates a
sweep may take: ``search.lr_range_share`` of the budget spread over the sweeps), the training
code's ``total_steps`` sizes it (:meth:`RangeSweep.sized`): ``allowance x total_steps``
updates, at least :data:`MIN_SWEEP_STEPS`, at most ``steps``.

>>> RangeSweep(1e-6, 1.0, 200, allowance=0.15).sized(112).steps
16
>>> RangeSweep(1e-6, 1.0, 200, allowance=0.15).sized(10_000).steps
200
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lrsearch.errors import ScheduleError

# The shortest sweep: the readings need 10 points (space/lr_range.py's MIN_POINTS) and the
# smoothed loss a few more to warm up; 16 updates over 6 decades are steps of x2.4 in LR.
MIN_SWEEP_STEPS = 16


@dataclass(frozen=True)
class RangeSweep:
    """An exponential LR sweep from ``low`` to ``high`` over ``steps`` updates.

    ``trial_epochs`` / ``trial_steps``: the length of one trial of the search (its budget), so
    that training code can say how many updates such a trial takes (what a sweep is charged in).
    ``allowance``: the share of such a trial's updates this sweep may run (None: ``steps``).
    """

    low: float
    high: float
    steps: int
    trial_epochs: int | None = None
    trial_steps: int | None = None
    allowance: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ScheduleError("lr_sweep", "low and high must be finite")
        if not 0.0 < self.low < self.high:
            raise ScheduleError("lr_sweep", f"needs 0 < low < high, got [{self.low}, {self.high}]")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 2:
            raise ScheduleError("lr_sweep.steps", f"must be an integer >= 2, got {self.steps!r}")
        if self.allowance is not None and not (
            math.isfinite(self.allowance) and self.allowance > 0.0
        ):
            raise ScheduleError("lr_sweep.allowance", f"must be > 0, got {self.allowance!r}")

    def sized(self, trial_updates: int | None) -> RangeSweep:
        """The sweep as it runs when a trial of the search is ``trial_updates`` long: its
        ``allowance`` of them, between MIN_SWEEP_STEPS and ``steps`` (unchanged without an
        allowance or a length)."""
        if self.allowance is None or trial_updates is None or trial_updates < 1:
            return self
        wanted = math.floor(self.allowance * trial_updates)
        return replace(self, steps=min(self.steps, max(MIN_SWEEP_STEPS, wanted)))

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
            "allowance": self.allowance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RangeSweep:
        epochs, steps = data.get("trial_epochs"), data.get("trial_steps")
        allowance = data.get("allowance")
        try:
            return cls(
                float(data["low"]),
                float(data["high"]),
                int(data["steps"]),
                None if epochs is None else int(epochs),
                None if steps is None else int(steps),
                None if allowance is None else float(allowance),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScheduleError("lr_sweep", f"is not a sweep: {exc}") from None
