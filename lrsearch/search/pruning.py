"""The schedule-aware pruner (``search.pruner = "schedule"``): fair to schedules that decay late.

Optuna's median pruner compares raw values at equal epochs. A schedule that still holds a high
LR (constant early on, WSD's stable phase, cosine before its second half, a restart's peak) sits
above its own final value by however much its coming decay will bring, so it loses to schedules
that decayed early, and late decayers are pruned before they get there.

Every schedule here is a known function of the budget fraction, so at each report the trial's
**decay left** is known: ``log10(LR now / lowest LR still ahead)`` (both floored at
``FLOOR`` x the peak; reduce-on-plateau, whose future is unknown, counts its ``min_ratio`` as
reachable). A trial at a rung is compared only with the completed trials' values at that rung whose
decay left is at least its own, less ``SLACK``: trials at least as far from their annealing as
it is. If it is worse than ``percentile`` of those, its coming decay cannot be the excuse, and it
is pruned. A constant schedule (nothing left to decay) is compared with every trial; a cosine
at a third of its run only with trials that also still have most of their decay ahead.

The ledger writes each epoch's decay left into ``lr_epoch_metrics`` and reads a rung with one
aggregate statement (``store.rung_standing``); baselines write none and never enter a
reference set. Like Optuna's pruners: no decision before ``warmup_rungs`` rungs, nor before
``min_references`` comparable trials reported the rung (the search's ``startup_trials``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from lrsearch.schedules import ScheduleSpec, lr_values
from lrsearch.store import RungStanding
from lrsearch.trial.probe import NO_PROBE_RATIO

FLOOR = 1e-3  # an LR below a thousandth of the peak counts as fully decayed
SLACK = math.log10(2.0)  # trials within a factor 2 of decay left count as comparable
GRID = 1000  # the run rendered at this many points to find the lowest LR ahead
PROBE_AT = (1 / 3, 2 / 3)  # the rungs probed, as fractions of a trial's reports
PROBE_SHARE = 0.04  # a probe's updates, as a share of the trial's whole run
# Decay left under this (an LR within NO_PROBE_RATIO of the lowest ahead): the value is its
# annealed value, and the Trial runs no probe.
NO_PROBE_BELOW = math.log10(NO_PROBE_RATIO)
# A decay floor that admits every trial (decay left is never negative): the raw comparison.
EVERY_DECAY = 0.0


def decay_left(schedule: ScheduleSpec, fraction: float, lr_now: float | None = None) -> float:
    """log10 of the LR at ``fraction`` of the run over the lowest LR from there to the end.

    >>> round(decay_left(ScheduleSpec.create("constant", lr=0.1), 0.3), 6)
    0.0
    >>> round(decay_left(ScheduleSpec.create("cosine", lr=0.1), 0.5), 2)  # 0.5 peak -> 0
    2.7
    """
    peak = schedule.lr
    floor = FLOOR * peak
    if schedule.adaptive:  # the future of reduce-on-plateau is the metric's: assume the lowest
        now = lr_now if lr_now is not None and lr_now > 0 else peak
        min_ratio = schedule.params.get("min_ratio", 0.0)
        lowest = (min_ratio if isinstance(min_ratio, int | float) else 0.0) * peak
        return _log_ratio(now, lowest, floor)
    at = min(GRID, max(0, round(fraction * GRID)))
    ahead = lr_values(schedule, np.arange(at, GRID + 1, dtype=np.int64), GRID)
    return _log_ratio(float(ahead[0]), float(ahead.min()), floor)


def _log_ratio(now: float, lowest: float, floor: float) -> float:
    return max(0.0, math.log10(max(now, floor) / max(lowest, floor)))


@dataclass(frozen=True)
class Rung:
    """A trial's report as the pruner judges it: which rung, its value, its decay left."""

    epoch: int
    value: float
    decay_left: float
    # The value when annealed now (the anneal pruner's: measured by a probe, or estimated from
    # the last one; None under other pruners, and before any probe with decay left).
    probe_value: float | None = None

    @property
    def decay_floor(self) -> float:
        """The least decay left a reference trial may have."""
        return self.decay_left - SLACK


class ScheduleAwarePruner(optuna.pruners.BasePruner):
    """See the module docstring. lrsearch's ledger asks :meth:`decides` with the rung's
    standing; Optuna's own ``prune(study, trial)`` never prunes (Optuna's trials carry no
    decay left), so a plain Optuna client on the same study is never stopped by it."""

    def __init__(
        self, *, min_references: int = 5, warmup_rungs: int = 1, percentile: float = 50.0
    ) -> None:
        if not 0.0 < percentile < 100.0:
            raise ValueError(f"percentile must be in (0, 100), got {percentile}")
        self.min_references = max(1, min_references)
        self.warmup_rungs = max(0, warmup_rungs)
        self.percentile = percentile

    def judges(self, epoch: int) -> bool:
        """Whether a report at ``epoch`` is past the warm-up rungs (else no query is made)."""
        return epoch >= self.warmup_rungs

    def decides(self, standing: RungStanding, value: float, maximize: bool = False) -> bool:
        """Prune when ``value`` is worse than the bar among at least ``min_references``
        comparable trials: for the median (``percentile`` 50), the median of their values,
        interpolated between the two middle ones when they are even in number, exactly as
        Optuna's median pruner computes it (numpy's percentile). In general the bar is Optuna's
        PercentilePruner's: it sits at position ``percentile / 100 x (n - 1)`` of the ``n``
        values ranked best first, so a lower ``percentile`` keeps fewer trials.

        >>> from lrsearch.store import RungStanding
        >>> pruner = ScheduleAwarePruner(min_references=3)
        >>> # four references 1, 2, 4, 5: the median is 3; two of them beat 3.5 and 2.5 alike
        >>> middle = RungStanding(4, 2, 2.0, 4.0)
        >>> pruner.decides(middle, 3.5), pruner.decides(middle, 2.5)
        (True, False)
        >>> pruner.decides(RungStanding(3, 2, 2.0, None), 2.5)  # 1, 2, 4: worse than 2
        True
        """
        n, better = standing.references, standing.better
        if n < self.min_references:
            return False
        position = self.percentile / 100.0 * (n - 1)
        k = math.floor(position)
        if better != k + 1:  # the bar lies between the k-th and (k+1)-th best (0-based)
            return better > k + 1
        fraction = position - k
        low, high = standing.worst_better, standing.best_other
        if fraction == 0.0 or low is None or high is None:
            return True  # worse than the k-th best, which is the bar
        bar = low + fraction * (high - low)
        return value < bar if maximize else value > bar

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return False


def fraction_done(
    epoch: int, step: int | None, reports: int | None, steps: int | None
) -> float | None:
    """How far into its run a report at ``epoch`` (0-based) is, from the trial's budget: by
    steps when the budget counts steps and the report names one, else by reports; None when the
    budget says nothing about the length (then the pruner cannot judge the schedule)."""
    if steps and step is not None and step > 0:
        return min(1.0, step / steps)
    if reports:
        return min(1.0, (epoch + 1) / reports)
    return None


def rung_of(
    schedule: ScheduleSpec | None,
    epoch: int,
    value: float,
    metrics: Mapping[str, float],
    reports: int | None,
    steps: int | None,
) -> Rung | None:
    """The rung of a report, or None when the schedule or the run's length is unknown."""
    if schedule is None:
        return None
    step = metrics.get("step")
    fraction = fraction_done(epoch, int(step) if step is not None else None, reports, steps)
    if fraction is None:
        return None
    return Rung(epoch, value, decay_left(schedule, fraction, metrics.get("lr")))


# --------------------------------------------------------------------------- anneal probes


def probe_rungs(reports: int | None) -> tuple[int, ...]:
    """The report indexes (0-based) at which the ``anneal`` pruner probes: the reports
    nearest to ``PROBE_AT`` of the run; never the first one nor the last one.

    The rungs before the first of them are judged on raw values, as the median pruner judges
    them: that early, the annealed value ranks the runs no better than the raw one
    (benchmarks/results/probe-rank.md: Spearman 0.88-0.94 either way at a quarter of the run),
    and most pruned trials stop there, so a probe would cost a pruned trial 4 % of a run for
    nothing.

    >>> probe_rungs(8), probe_rungs(20), probe_rungs(3), probe_rungs(2)
    ((2, 4), (6, 12), (1,), ())
    """
    if not reports or reports < 3:
        return ()
    return tuple(sorted({min(reports - 2, max(1, round(f * reports) - 1)) for f in PROBE_AT}))


class AnnealProbePruner(ScheduleAwarePruner):
    """``search.pruner = "anneal"``: judge each trial by the value it would reach if its LR
    were annealed now, measured at the rungs of :func:`probe_rungs` and estimated in between.

    An **anneal probe** (lrsearch.trial.torch_ops.anneal_probe) copies the weights and the
    optimizer's state, takes the LR linearly from where it is down to the lowest LR the
    trial's schedule still has ahead over :func:`probe_updates` updates, validates, and puts
    everything back, so training goes on exactly as without it. The value after a cool-down
    predicts where a run ends far better than the value under a high LR does (the
    warmup-stable-decay result), so every schedule is compared with every other at the value
    it would end at if its decay happened now: a constant schedule, or one already decayed
    (decay left under a factor 2), is its value as it stands and needs no probe.

    Between probes, a trial's annealed value is estimated from its last probe
    (:class:`AnnealGain`): its value now plus the gain that probe measured, scaled by how much
    of the decay left then is still ahead. So every rung past the warm-up decides, as Optuna's
    median pruner does, on (measured or estimated) annealed values: a trial is compared with
    the completed trials' annealed values at that rung (one indexed statement, like the schedule
    rule). A trial whose training code offered no probe (Trial.set_probe) and has decay left is
    judged by the schedule-aware rule instead (the fallback).
    """

    def probes_at(self, epoch: int, reports: int | None) -> bool:
        """Whether a report at ``epoch`` is a probe rung (where the trial runs a probe)."""
        return epoch >= self.warmup_rungs and epoch in probe_rungs(reports)

    def before_probes(self, epoch: int, reports: int | None) -> bool:
        """Whether a report at ``epoch`` comes before the first probe rung: there the raw
        value is compared with every completed trial's, as Optuna's median pruner does."""
        return epoch < min(probe_rungs(reports), default=0)


@dataclass(frozen=True)
class AnnealGain:
    """What a trial's last anneal probe measured: the annealed value less the value
    (``gain``; negative where annealing lowers a loss) and the decay left then."""

    gain: float
    decay_left: float

    def estimate(self, value: float, decay_left: float) -> float:
        """The annealed value of a later report: ``value`` plus the gain, scaled by the share of
        the LR's excess over the lowest LR ahead that is still there (none left: the value
        itself).

        Near its noise floor a run's loss sits above where it would settle by an amount about
        proportional to its LR, so annealing from the LR ``now`` down to the ``lowest`` ahead
        removes about ``c x (now - lowest)``. With ``d = log10(now / lowest)`` (the decay left),
        ``now - lowest`` is ``lowest x (10^d - 1)``, and the probe's gain scales by
        ``(10^d - 1) / (10^d_probe - 1)``: all of it in WSD's stable phase (same LR), 72 % of it
        when a cosine has gone from 0.69 to 0.5 of its peak, none once decayed.

        >>> g = AnnealGain(-0.4, 2.0)  # the probe ran at 100x the lowest LR ahead
        >>> round(g.estimate(1.0, 2.0), 6), round(g.estimate(1.0, 1.0), 6), g.estimate(1.0, 0.0)
        (0.6, 0.963636, 1.0)
        """
        if self.decay_left <= 0.0:
            return value
        excess: float = 10.0 ** max(0.0, decay_left) - 1.0
        then: float = 10.0**self.decay_left - 1.0
        return value + self.gain * min(1.0, excess / then)


def anneal_rung(
    rung: Rung, last: AnnealGain | None, probe_rung: bool, reported: float | None
) -> tuple[Rung, AnnealGain | None]:
    """The anneal pruner's view of ``rung`` (from :func:`rung_of`) and the trial's gain after
    it. At a probe rung the annealed value is the probe's (``reported``; not finite: the probe
    diverged, the worst value), or the value itself when nothing is left to decay, and a finite
    one measures a new gain; without either, none (the schedule-aware fallback). Another rung
    gets its value when nothing is left to decay, else the estimate from the last gain, else
    none (no probe yet)."""
    if probe_rung:
        if reported is None and rung.decay_left < NO_PROBE_BELOW:
            reported = rung.value  # nothing left to anneal: measured without a probe
        if reported is None:
            return rung, last
        finite = math.isfinite(reported)
        gain = AnnealGain(reported - rung.value, rung.decay_left) if finite else last
        return replace(rung, probe_value=float(reported)), gain
    if rung.decay_left < NO_PROBE_BELOW:
        return replace(rung, probe_value=rung.value), last
    if last is not None:
        return replace(rung, probe_value=last.estimate(rung.value, rung.decay_left)), last
    return rung, last
