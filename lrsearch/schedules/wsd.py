"""Warmup-stable-decay (WSD): hold the peak LR, then decay over the end of the budget."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lrsearch.schedules.budget import FloatArray, IntArray, budget_steps
from lrsearch.schedules.params import ParamValue, choice, final_ratio, fraction, get_float, get_str
from lrsearch.schedules.registry import FactorCode, Family, register


def wsd(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """Warmup-stable-decay: hold the peak, then decay over the last ``decay_fraction``.

    The decay shape is ``linear``, ``cosine`` or ``1-sqrt`` (1 - sqrt(progress)), from the peak
    to ``final_ratio`` at step ``T``. Warmup is the common warmup prefix. No torch/Keras twin.
    """
    length = budget_steps(get_float(p, "decay_fraction"), T)
    progress = np.clip((s - (T - length)) / length, 0.0, 1.0)
    shape = get_str(p, "decay_shape")
    if shape == "linear":
        remaining = 1.0 - progress
    elif shape == "cosine":
        remaining = 0.5 * (1.0 + np.cos(np.pi * progress))
    else:
        remaining = 1.0 - np.sqrt(progress)
    final = get_float(p, "final_ratio")
    return final + (1.0 - final) * remaining


def _wsd_code(p: Mapping[str, ParamValue]) -> FactorCode:
    """``wsd`` as the snippet's source, with the one decay shape the spec uses."""
    remaining = {
        "linear": "remaining = 1.0 - progress  # linear decay",
        "cosine": "remaining = 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine decay",
        "1-sqrt": "remaining = 1.0 - math.sqrt(progress)  # 1-sqrt decay",
    }[get_str(p, "decay_shape")]
    return FactorCode(
        ("decay_fraction", "final_ratio"),
        f"""
        length = budget_steps(DECAY_FRACTION, T)  # the last `length` steps decay
        progress = min(max((s - (T - length)) / length, 0.0), 1.0)  # 0 while stable
        {remaining}
        return FINAL_RATIO + (1.0 - FINAL_RATIO) * remaining
        """,
    )


register(
    Family(
        "wsd",
        "warmup-stable-decay: hold the peak, then decay at the end",
        (
            fraction(
                "decay_fraction", 0.2, "fraction of the budget spent decaying", low=0.05, high=0.5
            ),
            choice(
                "decay_shape", "linear", "shape of the final decay", ("linear", "cosine", "1-sqrt")
            ),
            final_ratio(0.0),
        ),
        wsd,
        _wsd_code,
    )
)
