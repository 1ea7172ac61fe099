"""Annealing families: linear, polynomial, piecewise_constant and cosine, each decaying from
the peak to a final ratio over the whole budget.

As in decay.py, every function returns the LR as a multiple of the peak LR at local step ``s``
(counted from the end of warmup) in a local budget of ``T`` steps, and its template
(``_<family>_code``) beside it writes the same factor as PyTorch source, operation by operation,
so that the two agree to the last bits (tests/schedules/test_codegen.py runs both).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lrsearch.errors import ScheduleError
from lrsearch.schedules.budget import FloatArray, IntArray, budget_steps
from lrsearch.schedules.params import (
    Param,
    ParamValue,
    final_ratio,
    fractions,
    get_float,
    get_floats,
)
from lrsearch.schedules.registry import FactorCode, Family, register


def linear(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """Straight line from the peak to ``final_ratio`` at the end of the budget.

    torch ``LinearLR(start_factor=1, end_factor=final_ratio, total_iters=T)``.
    """
    return 1.0 + (get_float(p, "final_ratio") - 1.0) * (s / T)


def _linear_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(("final_ratio",), "return 1.0 + (FINAL_RATIO - 1.0) * (s / T)")


def polynomial(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """``(1 - final) (1 - s/T) ** power + final``.

    torch ``PolynomialLR(total_iters=T, power)`` is ``final_ratio = 0``; Keras
    ``PolynomialDecay(decay_steps=T, end_learning_rate=lr * final_ratio, power, cycle=False)``.
    """
    final = get_float(p, "final_ratio")
    return (1.0 - final) * np.power(1.0 - s / T, get_float(p, "power")) + final


def _polynomial_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(
        ("power", "final_ratio"),
        "return (1.0 - FINAL_RATIO) * (1.0 - s / T) ** POWER + FINAL_RATIO",
    )


def piecewise_constant(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """``factors[i]`` between boundaries ``i - 1`` and ``i`` (fractions of the budget).

    A boundary step belongs to the right interval: the new factor applies from boundary step
    ``b`` on, as with torch milestones. Keras ``PiecewiseConstantDecay`` gives boundary steps to
    the left interval, so its boundaries are ours minus one: Keras ``boundaries=[b - 1, ...]``,
    ``values=[lr * f for f in factors]``.
    """
    bounds = [budget_steps(b, T) for b in get_floats(p, "boundaries")]
    index = np.searchsorted(np.asarray(bounds), s, side="right")
    return np.asarray(get_floats(p, "factors"), dtype=np.float64)[index]


def _piecewise_constant_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(
        ("boundaries", "factors"),
        """
        boundaries = [budget_steps(b, T) for b in BOUNDARIES]
        index = sum(1 for b in boundaries if b <= s)  # step b already uses the next factor
        return FACTORS[index]
        """,
    )


def _check_piecewise(family: str, p: Mapping[str, ParamValue]) -> None:
    n_bounds, n_factors = len(get_floats(p, "boundaries")), len(get_floats(p, "factors"))
    if n_factors != n_bounds + 1:
        raise ScheduleError(
            f"{family}.factors",
            f"has {n_factors} values: must have one more than boundaries ({n_bounds + 1})",
        )


def cosine(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """Half a cosine from the peak down to ``final_ratio``, reached at step ``T``.

    torch ``CosineAnnealingLR(T_max=T, eta_min=lr * final_ratio)`` within its first period
    (past ``T_max`` torch's curve rises again; ours stays at the floor) and Keras
    ``CosineDecay(decay_steps=T, alpha=final_ratio)``.
    """
    final = get_float(p, "final_ratio")
    return final + (1.0 - final) * 0.5 * (1.0 + np.cos(np.pi * (s / T)))


def _cosine_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(
        ("final_ratio",),
        "return FINAL_RATIO + (1.0 - FINAL_RATIO) * 0.5 * (1.0 + math.cos(math.pi * (s / T)))",
    )


register(
    Family(
        "linear",
        "straight line to final_ratio",
        (final_ratio(0.0),),
        linear,
        _linear_code,
        ("torch LinearLR",),
    )
)
register(
    Family(
        "polynomial",
        "polynomial decay (1 - t)^power to final_ratio",
        (
            Param(
                "power",
                "float",
                1.0,
                "exponent of the decay",
                low=0.0,
                high=10.0,
                low_open=True,
                search_low=0.5,
                search_high=4.0,
            ),
            final_ratio(0.0),
        ),
        polynomial,
        _polynomial_code,
        ("torch PolynomialLR", "keras PolynomialDecay"),
    )
)
register(
    Family(
        "piecewise_constant",
        "factors of the peak LR between boundaries",
        (
            fractions("boundaries", (0.5, 0.75), "fractions of the budget where LR changes"),
            Param(
                "factors",
                "floats",
                (1.0, 0.1, 0.01),
                "LR / peak LR in each interval",
                low=0.0,
                high=1000.0,
                low_open=True,
            ),
        ),
        piecewise_constant,
        _piecewise_constant_code,
        ("keras PiecewiseConstantDecay",),
        check=_check_piecewise,
    )
)
register(
    Family(
        "cosine",
        "half cosine to final_ratio",
        (final_ratio(0.0),),
        cosine,
        _cosine_code,
        ("torch CosineAnnealingLR", "keras CosineDecay"),
    )
)
