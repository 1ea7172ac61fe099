"""Monotone decay families: constant, step, multistep, exponential, inverse_time, keras_decay,
inverse_sqrt, linear, polynomial, piecewise_constant, cosine.

Every function returns the LR as a multiple of the peak LR at local step ``s`` (counted from the
end of warmup) in a local budget of ``T`` steps. Time parameters are fractions of ``T``, rounded
to whole steps by :func:`budget_steps` (half up). Each docstring says how the family maps onto
its PyTorch or Keras twin; tests/schedules/test_parity.py checks that mapping value by value.

Beside each function, its template (``_<family>_code``) writes the same factor as the source of
the PyTorch snippet's ``schedule_factor(s, T)``, operation by operation in the same order, so
that the two agree to the last bits (tests/schedules/test_codegen.py runs both).
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
    fraction,
    fractions,
    gamma,
    get_float,
    get_floats,
)
from lrsearch.schedules.registry import FactorCode, Family, register


def constant(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """The peak LR at every step (torch ConstantLR with factor 1; Keras: a float LR)."""
    return np.ones(s.shape, dtype=np.float64)


def _constant_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode((), "return 1.0  # the peak LR throughout")


def step(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """Staircase: multiply by ``gamma`` every ``interval`` of the budget.

    torch ``StepLR(step_size=I, gamma)`` and Keras ``ExponentialDecay(decay_steps=I,
    decay_rate=gamma, staircase=True)``, with ``I = budget_steps(interval, T)``. The drop happens
    at step ``I`` itself (step ``I`` already uses the lower LR), as in both libraries.
    """
    interval = budget_steps(get_float(p, "interval"), T)
    return np.power(get_float(p, "gamma"), (s // interval).astype(np.float64))


def _step_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(
        ("interval", "gamma"),
        """
        interval = budget_steps(INTERVAL, T)  # steps between drops
        return GAMMA ** (s // interval)  # step `interval` already uses the lower LR
        """,
    )


def multistep(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """Multiply by ``gamma`` at each milestone (fractions of the budget).

    torch ``MultiStepLR(milestones=[budget_steps(m, T) ...], gamma)``: milestone step ``m``
    already uses the lower LR.
    """
    milestones = [budget_steps(m, T) for m in get_floats(p, "milestones")]
    passed = np.searchsorted(np.asarray(milestones), s, side="right")
    return np.power(get_float(p, "gamma"), passed.astype(np.float64))


def _multistep_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(
        ("milestones", "gamma"),
        """
        milestones = [budget_steps(m, T) for m in MILESTONES]
        passed = sum(1 for m in milestones if m <= s)  # step m already uses the lower LR
        return GAMMA**passed
        """,
    )


def exponential(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """Smooth exponential decay reaching ``final_ratio`` at the end of the budget.

    torch ``ExponentialLR(gamma)`` stepped per update is ``gamma = final_ratio ** (1 / T)``;
    Keras ``ExponentialDecay(decay_steps=D, decay_rate=r)`` is ``final_ratio = r ** (T / D)``.
    """
    return np.power(get_float(p, "final_ratio"), s / T)


def _exponential_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(("final_ratio",), "return FINAL_RATIO ** (s / T)")


def inverse_time(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """1/t decay ``1 / (1 + k s / T)`` with ``k`` chosen so the last step reaches ``final_ratio``.

    Keras ``InverseTimeDecay(decay_steps=D, decay_rate=r)`` (no staircase) is
    ``final_ratio = 1 / (1 + r T / D)``.
    """
    k = 1.0 / get_float(p, "final_ratio") - 1.0
    return 1.0 / (1.0 + k * (s / T))


def _inverse_time_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(
        ("final_ratio",),
        """
        k = 1.0 / FINAL_RATIO - 1.0  # so that step T reaches FINAL_RATIO
        return 1.0 / (1.0 + k * (s / T))
        """,
    )


def keras_decay(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """Legacy Keras optimizer ``decay``: ``1 / (1 + decay * iterations)``.

    The one family whose strength is not a fraction of the budget: ``decay`` is per optimizer
    update (per batch, not per epoch), as Keras 2's ``SGD(decay=...)`` applied it, with the
    first update at ``iterations = 0``. Rendered for a longer run it keeps decaying at the same
    per-update rate.
    """
    return 1.0 / (1.0 + get_float(p, "decay") * s.astype(np.float64))


def _keras_decay_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(
        ("decay",),
        "return 1.0 / (1.0 + DECAY * s)  # DECAY is per update, whatever the run length",
    )


def inverse_sqrt(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """Inverse square root ``sqrt(tau / (s + tau))``, ``tau = budget_steps(timescale, T)``.

    With ``timescale`` equal to the warmup length this is fairseq's ``inverse_sqrt`` and the
    Transformer ("Noam") schedule after its warmup: LR proportional to ``1 / sqrt(step)``.
    """
    tau = float(budget_steps(get_float(p, "timescale"), T))
    factors: FloatArray = np.sqrt(tau / (s + tau))
    return factors


def _inverse_sqrt_code(p: Mapping[str, ParamValue]) -> FactorCode:
    return FactorCode(
        ("timescale",),
        """
        tau = float(budget_steps(TIMESCALE, T))
        return math.sqrt(tau / (s + tau))
        """,
    )


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


_RATIO_OPEN = final_ratio(0.01, ends="(]")

register(
    Family(
        "constant",
        "the peak LR throughout",
        (),
        constant,
        _constant_code,
        ("torch ConstantLR(factor=1)",),
    )
)
register(
    Family(
        "step",
        "staircase: multiply by gamma every interval",
        (
            fraction("interval", 0.3, "fraction of the budget between drops", low=0.05, high=0.5),
            gamma(0.1, "factor applied at each drop"),
        ),
        step,
        _step_code,
        ("torch StepLR", "keras ExponentialDecay(staircase=True)"),
    )
)
register(
    Family(
        "multistep",
        "multiply by gamma at each milestone",
        (
            fractions("milestones", (0.5, 0.75), "fractions of the budget where LR drops"),
            gamma(0.1, "factor applied at each milestone"),
        ),
        multistep,
        _multistep_code,
        ("torch MultiStepLR",),
    )
)
register(
    Family(
        "exponential",
        "smooth exponential decay to final_ratio",
        (_RATIO_OPEN,),
        exponential,
        _exponential_code,
        ("torch ExponentialLR", "keras ExponentialDecay"),
    )
)
register(
    Family(
        "inverse_time",
        "1/t decay to final_ratio",
        (_RATIO_OPEN,),
        inverse_time,
        _inverse_time_code,
        ("keras InverseTimeDecay",),
    )
)
register(
    Family(
        "keras_decay",
        "legacy Keras per-update decay lr / (1 + decay * iterations)",
        (
            Param(
                "decay",
                "float",
                1e-3,
                "decay per optimizer update",
                low=0.0,
                log=True,
                search_low=1e-6,
                search_high=1e-1,
            ),
        ),
        keras_decay,
        _keras_decay_code,
        ("keras 2 SGD(decay=...)",),
    )
)
register(
    Family(
        "inverse_sqrt",
        "LR proportional to 1/sqrt(step)",
        (
            fraction(
                "timescale",
                0.05,
                "fraction of the budget where the decay starts to bite",
                low=0.005,
                high=0.5,
            ),
        ),
        inverse_sqrt,
        _inverse_sqrt_code,
        ("fairseq inverse_sqrt",),
    )
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
