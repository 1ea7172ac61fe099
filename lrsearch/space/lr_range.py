"""The LR range test: its sweeps, what each sweep shows, and the peak-LR range it chooses.

With ``[search] lr_range = "auto"`` a search starts with ``lr_range_seeds`` sweeps per
optimizer of the space (its first trials, queued when it is created): each trains from scratch
while the LR grows exponentially from ``space.lr``'s low end to its high end
(:class:`~lrsearch.schedules.RangeSweep`), reporting its loss as it goes. A sweep's length
follows from the budget: all sweeps together train at most ``lr_range_share`` (3 %) of the
budget's updates (``budget.trials`` x the ``total_steps`` the code gives ``trial.scheduler``),
each at least 16 and at most ``lr_range_steps`` (200) updates. On long trials that is the 200
of a few hundred updates that LR finders use; on short ones the sweep is cut, not the budget.
Pure numpy here: the agents run the sweeps, the ledger stores them and, when the last one
ends, stores the range this module chooses; the searched trials then sample their peak LR
from it (the space's bounds stay the outer limits).

**Reading one sweep** (:func:`read_sweep`). The reported losses are smoothed with an
exponential moving average with bias correction, as the LR finders of fastai and Lightning
do, with ``beta = 1 - 20 / points`` (0.9 for 200 points): a window of about a twentieth of
the sweep, a third of a decade at 200 updates over 6 decades (fastai's fixed 0.98 lags by 50
points, which on a short sweep is more than a decade). From the smoothed curve:

- the **divergence LR**: the first LR after the minimum at which the smoothed loss is back
  above where the sweep started (all its progress lost; it must have fallen by 5% of its
  start first, so a flat start's noise is not divergence), or a whole start's size above it
  (blown up), or at which a loss was not finite. Relative to the start, unlike fastai's
  "4 x the minimum", which means nothing for a loss near 0 or a negated accuracy;
- the **steepest-descent LR**: where the smoothed loss falls fastest per decade of LR, between
  the first 10% of the points (the average is still warming up) and the minimum.

**The rule** (:func:`choose_range`), per optimizer, over its seeds:

- ``divergence`` = the median of the seeds' divergence LRs when most seeds diverged;
  ``steepest`` = the geometric mean of their steepest-descent LRs;
- ``high = min(space high, 3 x divergence)``. A trial holds its peak for many updates where a
  sweep passes it in one, so the best peak of a schedule lies below the edge a sweep finds
  (commonly 3 to 10 times below: Smith 2017; fastai's "a tenth of the divergence LR"); the
  factor 3 above it covers the smoothing lag's and the seeds' noise, and schedules that hold
  their peak only briefly (one-cycle, a quick decay after warmup);
- ``low = max(space low, min(steepest / 10, high / 10**3))``: a decade below the steepest
  descent catches slow but safe configurations (adaptive optimizers, long constant phases),
  and the range always spans at least 3 decades, at most 4 (``low >= high / 10**4``): wide
  enough that the best peak LR, the first target, is not cut off by one noisy sweep, narrow
  enough to cut at least 2 decades from the default [1e-6, 1].
- **Fallback, never diverged**: when most seeds never diverged within ``space.lr``, ``high``
  stays the space's high end and ``low`` follows the same rule from the steepest descent.
- **Fallback, no usable sweep**: when no sweep of the optimizer gave enough points (the code
  failed, never called ``trial.scheduler``, or reported too rarely), its range is the
  space's, and the reason says why.

**Budget.** The sweeps' updates count against the trials' budget in whole trials: when the
range is recorded, ``ceil(sweep updates actually run / updates per trial)`` searched trials
are taken off the budget (:func:`sweep_charge`), at least 1 and never all of them. A trial's
updates are the ``total_steps`` the training code gave ``trial.scheduler`` (the built-in loop:
epochs x batches, or ``budget.steps``); when the code never said, each sweep costs a trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrsearch.schedules import RangeSweep
from lrsearch.space.suggest import OPTIMIZER_DEFAULTS
from lrsearch.spec import SearchSpec

SWEEP_ATTR = "lr_sweep"  # a sweep trial's user attribute: what it sweeps (see sweep_attrs)
MIN_POINTS = 10  # fewer reports than this: the sweep shows nothing usable
HIGH_FACTOR = 3.0
LOW_DECADES = 3.0
MAX_DECADES = 4.0
SKIP_FRACTION = 0.1
PROGRESS = 0.05  # a sweep's loss must fall by 5% of its start before a rise counts
MAX_STORED = 500  # points of a sweep's curve kept in lr_sweeps


def sweep_count(spec: SearchSpec) -> int:
    """How many sweeps a search with this spec runs before its searched trials."""
    if spec.search.lr_range != "auto":
        return 0
    return len(spec.space.optimizers) * spec.search.lr_range_seeds


def sweep_attrs(spec: SearchSpec) -> list[dict[str, Any]]:
    """The user attributes of each sweep trial, in the order they are queued: per optimizer
    of the space, ``lr_range_seeds`` seeds (none with ``lr_range = "off"``)."""
    if sweep_count(spec) == 0:
        return []
    low, high = spec.space.lr
    budget = spec.budget
    allowance = spec.search.lr_range_share * budget.trials / sweep_count(spec)
    sweep = RangeSweep(
        low, high, spec.search.lr_range_steps, budget.epochs, budget.steps, allowance
    )
    shown = sweep.to_dict()
    return [
        {
            SWEEP_ATTR: {
                **shown,
                "optimizer": optimizer,
                "optimizer_params": OPTIMIZER_DEFAULTS[optimizer],
                "seed": spec.search.seed * 100_003 + 50_000 + i,
            }
        }
        for optimizer in spec.space.optimizers
        for i in range(spec.search.lr_range_seeds)
    ]


def sweep_of(user_attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a sweep trial sweeps (its SWEEP_ATTR), or None for any other trial."""
    found = user_attrs.get(SWEEP_ATTR)
    return dict(found) if isinstance(found, Mapping) else None


@dataclass(frozen=True)
class SweepReading:
    """What one sweep shows: its points, the smoothed loss, and the LRs read from it."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    divergence_lr: float | None
    steepest_lr: float | None
    min_loss_lr: float | None

    @property
    def usable(self) -> bool:
        return len(self.lrs) >= MIN_POINTS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepReading:
        """A reading as :meth:`to_dict` stored it (an empty dict: a sweep with no points)."""
        return cls(
            [float(v) for v in data.get("lr", [])],
            [float(v) for v in data.get("loss", [])],
            [float(v) for v in data.get("smoothed", [])],
            _maybe(data.get("divergence_lr")),
            _maybe(data.get("steepest_lr")),
            _maybe(data.get("min_loss_lr")),
        )

    def to_dict(self, max_points: int = MAX_STORED) -> dict[str, Any]:
        """JSON-ready, the curves thinned to at most ``max_points`` (evenly, the last kept):
        what was read from them is read already."""
        keep = _thinned(len(self.lrs), max_points)
        return {
            "lr": [self.lrs[i] for i in keep],
            "loss": [self.losses[i] for i in keep],
            "smoothed": [self.smoothed[i] for i in keep] if self.smoothed else [],
            "divergence_lr": self.divergence_lr,
            "steepest_lr": self.steepest_lr,
            "min_loss_lr": self.min_loss_lr,
        }


def smooth(losses: Sequence[float], beta: float) -> list[float]:
    """Exponential moving average with bias correction (fastai's and Lightning's LR finder).

    >>> [round(v, 3) for v in smooth([1.0, 1.0, 4.0], 0.5)]
    [1.0, 1.0, 2.714]
    """
    average, out = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1.0 - beta) * loss
        out.append(average / (1.0 - beta**i))
    return out


def beta_for(points: int) -> float:
    """The smoothing of a sweep of ``points`` reports: a window of about points / 20."""
    return min(0.98, max(0.5, 1.0 - 20.0 / max(points, 1)))


def read_sweep(
    lrs: Sequence[float], losses: Sequence[float], diverged: bool, planned: int | None = None
) -> SweepReading:
    """Smooth one sweep's (lr, loss) points and read its LRs (see the module docstring).

    ``diverged``: the sweep ended on a loss that was not finite (not among ``losses``);
    ``planned``: the points the sweep was to have (the smoothing's window; default: as many
    as there are), so that a sweep stopped early is read as it was watched.
    """
    lrs, losses = [float(v) for v in lrs], [float(v) for v in losses]
    if len(lrs) < MIN_POINTS:
        return SweepReading(lrs, losses, [], None, None, None)
    smoothed = smooth(losses, beta_for(planned or len(losses)))
    lowest = int(np.argmin(smoothed[: diverged_at(smoothed) or len(smoothed)]))
    at = diverged_at(smoothed)
    divergence = lrs[at] if at is not None else None
    if divergence is None and diverged:
        divergence = lrs[-1]
    return SweepReading(
        lrs, losses, smoothed, divergence, _steepest(lrs, smoothed, lowest), lrs[lowest]
    )


class DivergenceWatch:
    """Follows a smoothed loss point by point: diverged once it is back above its start
    after having fallen by at least PROGRESS of the start's size (a flat start's noise is no
    divergence), or, progress or not, once it is a whole start's size above it (blown up).
    O(1) a point, so a worker can ask at every report."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.lowest = math.inf
        self.points = 0

    def add(self, smoothed: float) -> bool:
        """Take the next smoothed value; whether the sweep has diverged at it."""
        self.points += 1
        if self.start is None:
            self.start = smoothed
        scale = abs(self.start) or 1.0
        progressed = self.start - self.lowest >= PROGRESS * scale
        self.lowest = min(self.lowest, smoothed)
        return smoothed > self.start + scale or (progressed and smoothed > self.start)


def diverged_at(smoothed: Sequence[float]) -> int | None:
    """The first point at which :class:`DivergenceWatch` finds the smoothed loss diverged.

    >>> diverged_at([2.0, 1.5, 1.0, 1.6, 2.1, 5.0])
    4
    >>> diverged_at([2.0, 1.99, 2.01, 2.02]) is None
    True
    """
    watch = DivergenceWatch()
    return next((i for i, value in enumerate(smoothed) if watch.add(value)), None)


def _steepest(lrs: list[float], smoothed: list[float], lowest: int) -> float | None:
    """Where the smoothed loss falls fastest per decade of LR, before its minimum."""
    start = max(1, int(len(lrs) * SKIP_FRACTION))
    if lowest <= start:
        return lrs[lowest]
    logs = np.log10(np.asarray(lrs[: lowest + 1]))
    slopes = np.gradient(np.asarray(smoothed[: lowest + 1]), logs)
    return lrs[start + int(np.argmin(slopes[start:]))]


@dataclass(frozen=True)
class ChosenRange:
    """The peak-LR range chosen for one optimizer, what it was read from, and why."""

    optimizer: str
    low: float
    high: float
    divergence_lr: float | None
    steepest_lr: float | None
    sweeps: int  # usable sweeps it was read from
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "low": self.low,
            "high": self.high,
            "divergence_lr": self.divergence_lr,
            "steepest_lr": self.steepest_lr,
            "sweeps": self.sweeps,
            "why": self.why,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChosenRange:
        return cls(
            str(data["optimizer"]),
            float(data["low"]),
            float(data["high"]),
            _maybe(data.get("divergence_lr")),
            _maybe(data.get("steepest_lr")),
            int(data.get("sweeps", 0)),
            str(data.get("why", "")),
        )


def choose_range(
    optimizer: str, readings: Sequence[SweepReading], space_lr: tuple[float, float]
) -> ChosenRange:
    """The rule of the module docstring, for one optimizer's sweeps."""
    outer_low, outer_high = space_lr
    usable = [r for r in readings if r.usable and r.steepest_lr is not None]
    if not usable:
        why = (
            f"no usable sweep (each needs {MIN_POINTS} reports with the sweep's LR): "
            f"the search keeps space.lr [{outer_low:g}, {outer_high:g}]"
        )
        return ChosenRange(optimizer, outer_low, outer_high, None, None, 0, why)
    steepest = float(np.exp(np.mean([math.log(r.steepest_lr or 1.0) for r in usable])))
    diverged = sorted(r.divergence_lr for r in usable if r.divergence_lr is not None)
    divergence = float(np.median(diverged)) if len(diverged) * 2 > len(usable) else None
    if divergence is not None:
        high = min(outer_high, HIGH_FACTOR * divergence)
        told = (
            f"the loss diverged at lr {divergence:.3g} (median of {len(diverged)} of "
            f"{len(usable)} sweeps): the range ends at {HIGH_FACTOR:g}x that"
        )
    else:
        high = outer_high
        told = (
            f"the loss never diverged within space.lr in most of {len(usable)} sweeps: "
            f"the range keeps its high end {outer_high:g}"
        )
    low = max(outer_low, high / 10**MAX_DECADES, min(steepest / 10.0, high / 10**LOW_DECADES))
    low = min(low, high)
    why = (
        f"{told}; it falls fastest at lr {steepest:.3g}: the range starts a decade below "
        f"that (at least {LOW_DECADES:g} decades wide)"
    )
    return ChosenRange(optimizer, low, high, divergence, steepest, len(usable), why)


def sweep_charge(updates_run: Sequence[int], trial_updates: int | None, trials: int) -> int:
    """The searched trials the sweeps cost (see the module docstring).

    >>> sweep_charge([200, 150, 180], 1000, 30)
    1
    >>> sweep_charge([200, 150, 180], None, 30)
    3
    """
    if trial_updates is None or trial_updates < 1:
        charge = len(updates_run)
    else:
        charge = math.ceil(sum(updates_run) / trial_updates)
    return max(0, min(max(charge, 1), trials - 1))


def _thinned(count: int, limit: int) -> list[int]:
    """At most ``limit`` indexes of ``count`` points, evenly spread, the first and last kept.

    >>> _thinned(10, 4)
    [0, 3, 6, 9]
    """
    if count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def _maybe(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
