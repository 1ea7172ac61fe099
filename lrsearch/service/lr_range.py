"""The LR range test of a study, as the API, ``lrsearch best`` and the report show it.

What it chose (the peak-LR range per optimizer, the divergence and steepest-descent LRs it was
read from, and why), what it cost (the sweeps' updates, the searched trials taken off the
budget, their share of the search's updates), and each sweep's smoothed curve. From
lrsearch's tables alone (``lr_range_tests``, ``lr_sweeps``): a fixed number of reads.
"""

from __future__ import annotations

from typing import Any

from lrsearch import store
from lrsearch.service.backend import Backend
from lrsearch.service.names import known_name
from lrsearch.spec import parse_spec


def lr_range_view(backend: Backend, name: str) -> dict[str, Any]:
    """The study's LR range test (``state`` "off" when it runs none); NotFoundError for an
    unknown study."""
    search = store.get_search(backend.reader, known_name(name))
    spec = parse_spec(search.spec)
    test = store.range_test(backend.reader, search.id)
    view: dict[str, Any] = {"state": "off", "space_lr": list(spec.space.lr)}
    if test is None:
        return view
    searched = max(spec.budget.trials - test.charge, 0)
    spent = test.sweep_updates + searched * (test.trial_updates or 0)
    view.update(
        state=test.state,
        sweeps=test.sweeps,
        ended=len(test.ended),
        ranges=test.ranges,
        charge=test.charge,
        sweep_updates=sum(row.updates for row in test.ended),  # so far, while sweeping
        trial_updates=test.trial_updates,
        share=(test.sweep_updates / spent) if test.done and test.trial_updates else None,
        curves=[_curve(row) for row in test.ended],
    )
    return view


def _curve(row: store.SweepRow) -> dict[str, Any]:
    curve = row.curve
    return {
        "trial_number": row.trial_number,
        "optimizer": row.optimizer,
        "seed": row.seed,
        "state": row.state,
        "updates": row.updates,
        "reason": row.reason,
        "lr": curve.get("lr", []),
        "smoothed": curve.get("smoothed", []),
        "divergence_lr": curve.get("divergence_lr"),
        "steepest_lr": curve.get("steepest_lr"),
    }


def range_line(view: dict[str, Any]) -> str | None:
    """One line saying the range chosen per optimizer (None without a finished range test).

    >>> range_line({"state": "done", "charge": 1, "share": 0.02, "ranges": {"sgd": {
    ...     "low": 0.001, "high": 0.3}}})
    'LR range test: sgd [0.001, 0.3]; it cost 1 searched trial (2.0% of the updates)'
    """
    if view.get("state") != "done" or not view.get("ranges"):
        return None
    shown = ", ".join(f"{k} [{v['low']:.3g}, {v['high']:.3g}]" for k, v in view["ranges"].items())
    cost = view.get("charge", 0)
    share = view.get("share")
    of = f" ({100 * share:.1f}% of the updates)" if share is not None else ""
    return f"LR range test: {shown}; it cost {cost} searched trial{'s' if cost != 1 else ''}{of}"
