"""Rendering a ScheduleSpec: the LR at any step of a run of any length.

Steps count optimizer updates from 0. ``curve(spec, n)[k]`` is the LR of update ``k`` in a run of
``n`` updates. The warmup prefix takes ``budget_steps(warmup_fraction, n, 0)`` steps; the
family runs on the steps that remain. Past the end of the budget the LR stays at its value at
the end (Keras's convention; PyTorch's cosine would rise again).
"""

from __future__ import annotations

import numpy as np

from lrsearch.errors import ScheduleError
from lrsearch.schedules.budget import FloatArray, budget_steps
from lrsearch.schedules.registry import get_family
from lrsearch.schedules.spec import ScheduleSpec

MAX_STEPS = 100_000_000  # a curve of this many float64 values is 800 MB: the sane upper bound


def curve(spec: ScheduleSpec, total_steps: int) -> FloatArray:
    """The LR of every update in a run of ``total_steps`` updates, as a float64 array.

    >>> spec = ScheduleSpec.create("step", lr=0.1, params={"interval": 0.5, "gamma": 0.1})
    >>> curve(spec, 4).round(6).tolist()
    [0.1, 0.1, 0.01, 0.01]
    """
    _check_total(total_steps)
    return lr_values(spec, np.arange(total_steps, dtype=np.int64), total_steps)


def lr_at(spec: ScheduleSpec, step: int, total_steps: int) -> float:
    """The LR of update ``step`` (0-based) in a run of ``total_steps`` updates."""
    _check_total(total_steps)
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
        raise ScheduleError("step", f"{step!r} is not allowed: must be an integer >= 0")
    clamped = min(int(step), total_steps)  # before int64: a huge step must not overflow
    return float(lr_values(spec, np.asarray([clamped], dtype=np.int64), total_steps)[0])


def warmup_steps(spec: ScheduleSpec, total_steps: int) -> int:
    """How many of ``total_steps`` the warmup prefix takes (always leaving one for the family)."""
    return min(budget_steps(spec.warmup_fraction, total_steps, minimum=0), total_steps - 1)


def lr_values(spec: ScheduleSpec, steps: np.ndarray, total_steps: int) -> FloatArray:
    """The LR at each of ``steps`` (an integer array) in a run of ``total_steps`` updates."""
    warm = warmup_steps(spec, total_steps)
    clipped = np.clip(steps, 0, total_steps)
    local_total = total_steps - warm
    local = np.clip(clipped - warm, 0, local_total)
    factors = get_family(spec.family).factors(local, local_total, spec.params)
    if warm > 0:
        start = spec.warmup_start_factor
        rising = start + (1.0 - start) * (clipped / warm)
        factors = np.where(clipped < warm, rising, factors)
    return spec.lr * factors


def _check_total(total_steps: int) -> None:
    if isinstance(total_steps, bool) or not isinstance(total_steps, int | np.integer):
        raise ScheduleError("total_steps", f"{total_steps!r} is not an integer")
    if not 1 <= total_steps <= MAX_STEPS:
        raise ScheduleError(
            "total_steps", f"{total_steps!r} is out of range: must be in [1, {MAX_STEPS}]"
        )
