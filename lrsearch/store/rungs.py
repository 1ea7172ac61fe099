"""One rung of a search, as the schedule-aware pruner reads it: one aggregate statement.

A trial's standing at a rung (an epoch index) is how many comparable trials reported that rung,
how many of them did better, and the two values on either side of the trial's (for a percentile
interpolated as Optuna's median pruner does). Comparable: another completed trial of the search
(as with Optuna's median pruner: the survivors set the bar, not the trials pruned on the way)
whose row carries a ``decay_left`` of at least the given floor (baselines carry none). The
statement reads one range of ``ix_lr_epoch_metrics_rung`` (search_id, epoch, complete,
decay_left, value) and returns one row, so a decision costs one round trip at epoch 1 or 500,
with 10 trials or 100,000.

The anneal pruner's standing (``annealed=True``) compares ``probe_value`` instead, over the
completed trials whose row carries one at that rung: one range of
``ix_lr_epoch_metrics_probe`` (search_id, epoch, complete, probe_value).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from lrsearch.store.models import epoch_metrics


@dataclass(frozen=True)
class RungStanding:
    """``references``: comparable trials that reported the rung; ``better``: those of them
    whose value beats the trial's. ``worst_better`` and ``best_other`` are the references'
    values on either side of the trial's (None where there are none): what a percentile
    interpolated between two references needs (ScheduleAwarePruner.decides); they take no
    part in comparing two standings."""

    references: int
    better: int
    worst_better: float | None = field(default=None, compare=False)
    best_other: float | None = field(default=None, compare=False)


def rung_standing(
    conn: sa.Connection,
    search_id: int,
    epoch: int,
    *,
    trial_number: int,
    decay_floor: float,
    value: float,
    maximize: bool,
    annealed: bool = False,
) -> RungStanding:
    """The standing of ``value`` among the other trials' values at ``epoch`` whose
    ``decay_left`` is at least ``decay_floor``; with ``annealed``, among their annealed values
    (``decay_floor`` unused; see the module docstring)."""
    m = epoch_metrics.c
    column = m.probe_value if annealed else m.value
    beats = column > value if maximize else column < value
    where = [m.search_id == search_id, m.epoch == epoch, m.complete.is_(True)]
    if not annealed:
        where.append(m.decay_left >= decay_floor)
    worst, best = (sa.func.min, sa.func.max) if maximize else (sa.func.max, sa.func.min)
    query = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(sa.case((beats, 1), else_=0)), 0),
        worst(sa.case((beats, column))),
        best(sa.case((sa.not_(beats), column))),
    ).where(*where, column.is_not(None), m.trial_number != trial_number)
    references, better, worst_better, best_other = conn.execute(query).one()
    return RungStanding(
        int(references),
        int(better),
        None if worst_better is None else float(worst_better),
        None if best_other is None else float(best_other),
    )
