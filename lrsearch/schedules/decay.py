"""Monotone decay families: constant, step, multistep, exponential, inverse_time, keras_decay,
inverse_sqrt (linear, polynomial, piecewise_constant and cosine are in anneal.py).

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
