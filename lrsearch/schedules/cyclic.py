"""Families that rise again: cosine_restarts (SGDR), cyclic (CLR) and one_cycle.

Beside each function, its template (``_<family>_code``) writes the same factor as the source of
the PyTorch snippet's ``schedule_factor(s, T)``, emitting only the code the spec's options need
(one cyclic mode, one anneal shape), in the same order of floating-point operations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from lrsearch.schedules.budget import FloatArray, IntArray, budget_steps
from lrsearch.schedules.params import (
    Param,
    ParamValue,
    choice,
    final_ratio,
    fraction,
    get_float,
    get_str,
    ratio,
)
from lrsearch.schedules.registry import FactorCode, Family, register


def cosine_restarts(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """SGDR: cosine periods restarting at the peak, each ``period_mult`` times longer.

    The first period is ``P = budget_steps(first_period, T)`` steps; restart ``i`` peaks at
    ``peak_mult ** i`` and every period decays to ``final_ratio``. torch
    ``CosineAnnealingWarmRestarts(T_0=P, T_mult=period_mult, eta_min=lr * final_ratio)`` is
    ``peak_mult = 1`` with an integer ``period_mult``; Keras ``CosineDecayRestarts(
    first_decay_steps=P, t_mul=period_mult, m_mul=peak_mult, alpha=final_ratio)`` is all of it.

    Step ``T`` (one past the last update; the curve holds its value there past the budget)
    belongs to the last update's period, so a budget that ends exactly on a restart ends on
    that period's floor instead of jumping back to the peak, where both twins restart.
    """
    first = float(budget_steps(get_float(p, "first_period"), T))
    mult, final = get_float(p, "period_mult"), get_float(p, "final_ratio")
    restart, start = _restart_index(np.minimum(s, T - 1).astype(np.float64), first, mult)
    progress = (s - start) / (first * np.power(mult, restart))
    peak = np.power(get_float(p, "peak_mult"), restart)
    return final + (1.0 - final) * peak * 0.5 * (1.0 + np.cos(np.pi * progress))


def _restart_index(s: FloatArray, first: float, mult: float) -> tuple[FloatArray, FloatArray]:
    """Index of the period holding each step, and the step where that period starts.

    Closed form through a logarithm, then corrected by one where rounding put a step that lies
    exactly on a restart into the wrong period. The period starts carry rounding error too
    (``first * (mult - 1) / (mult - 1)`` need not be ``first``), so a step within a relative
    1e-12 of a restart counts as on it: the restart happens at that step.
    """
    if mult == 1.0:
        restart = np.floor(s / first)
        return restart, restart * first

    def start_of(i: FloatArray) -> FloatArray:
        return first * (np.power(mult, i) - 1.0) / (mult - 1.0)

    restart = np.floor(np.log1p(s / first * (mult - 1.0)) / math.log(mult))
    slack = 1e-12 * np.maximum(s, first)
    restart = np.where(start_of(restart) > s + slack, restart - 1.0, restart)
    restart = np.where(start_of(restart + 1.0) <= s + slack, restart + 1.0, restart)
    return restart, start_of(restart)


# The snippet's _restart_index, for one step.
_PERIOD_OF = '''
def period_of(s: int, first: float) -> tuple[int, float]:
    """The index of the period holding step s, and the (fractional) step where it starts.

    Period i lasts first * PERIOD_MULT**i steps and starts at step
    first * (PERIOD_MULT**i - 1) / (PERIOD_MULT - 1). The closed form can round a step that lies
    exactly on a restart into the wrong period, so a step within a relative 1e-12 of a period's
    start counts as on it.
    """

    def start_of(i: int) -> float:
        return first * (PERIOD_MULT**i - 1.0) / (PERIOD_MULT - 1.0)

    i = math.floor(math.log1p(s / first * (PERIOD_MULT - 1.0)) / math.log(PERIOD_MULT))
    slack = 1e-12 * max(s, first)
    if start_of(i) > s + slack:
        i -= 1
    if start_of(i + 1) <= s + slack:
        i += 1
    return i, start_of(i)
'''


def _cosine_restarts_code(p: Mapping[str, ParamValue]) -> FactorCode:
    equal_periods = get_float(p, "period_mult") == 1.0
    fading = get_float(p, "peak_mult") != 1.0
    constants = ["first_period"]
    if equal_periods:
        lines = [
            "first = float(budget_steps(FIRST_PERIOD, T))  # steps per period",
            "# Step T (past the end) belongs to the last update's period: no restart there.",
            "restart = math.floor(min(s, T - 1) / first)",
            "progress = (s - restart * first) / first",
        ]
    else:
        constants.append("period_mult")
        lines = [
            "first = float(budget_steps(FIRST_PERIOD, T))  # steps in the first period",
            "# Step T (past the end) belongs to the last update's period: no restart there.",
            "restart, start = period_of(min(s, T - 1), first)",
            "progress = (s - start) / (first * PERIOD_MULT**restart)",
        ]
    if fading:
        constants.append("peak_mult")
        lines.append("peak = PEAK_MULT**restart  # restart i peaks at PEAK_MULT**i")
        cos = "(1.0 - FINAL_RATIO) * peak * 0.5 * (1.0 + math.cos(math.pi * progress))"
    else:
        cos = "(1.0 - FINAL_RATIO) * 0.5 * (1.0 + math.cos(math.pi * progress))"
    constants.append("final_ratio")
    lines.append(f"return FINAL_RATIO + {cos}")
    return FactorCode(tuple(constants), "\n".join(lines), "" if equal_periods else _PERIOD_OF)


def cyclic(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """Cyclical LR between ``min_ratio`` and the peak (Smith, 2017).

    A cycle lasts ``C = budget_steps(cycle, T)`` steps (at least 2), ``U =
    budget_steps(up_fraction, C)`` of them rising (kept within 1 .. C - 1). ``mode`` scales the
    amplitude: constant (``triangular``), halved every cycle (``triangular2``) or decayed per
    step so that it ends at ``decay_ratio`` of its start (``exp_range``). torch
    ``CyclicLR(base_lr=lr * min_ratio, max_lr=lr, step_size_up=U, step_size_down=C - U, mode,
    gamma=decay_ratio ** (1 / T))``.
    """
    length = max(2, budget_steps(get_float(p, "cycle"), T))
    up = min(length - 1, max(1, budget_steps(get_float(p, "up_fraction"), length)))
    ratio = up / length
    cycle = np.floor(1.0 + s / length)
    x = 1.0 + s / length - cycle
    height = np.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
    mode = get_str(p, "mode")
    if mode == "triangular2":
        height = height * np.power(0.5, cycle - 1.0)  # underflows quietly to 0, never overflows
    elif mode == "exp_range":
        height = height * np.power(get_float(p, "decay_ratio"), s / T)
    low = get_float(p, "min_ratio")
    return low + (1.0 - low) * height


def _cyclic_code(p: Mapping[str, ParamValue]) -> FactorCode:
    mode = get_str(p, "mode")
    constants = ["cycle", "up_fraction", "min_ratio"]
    lines = [
        "length = max(2, budget_steps(CYCLE, T))  # steps per cycle",
        "up = min(length - 1, max(1, budget_steps(UP_FRACTION, length)))  # rising steps",
        "ratio = up / length",
        "cycle = math.floor(1.0 + s / length)  # 1 for the first cycle",
        "x = 1.0 + s / length - cycle  # position in the cycle, from 0 to 1",
        "height = x / ratio if x <= ratio else (x - 1.0) / (ratio - 1.0)  # 0 -> 1 -> 0",
    ]
    if mode == "triangular2":
        lines.append("height = height * 0.5 ** (cycle - 1)  # triangular2: halved every cycle")
    elif mode == "exp_range":
        constants.append("decay_ratio")
        lines.append("height = height * DECAY_RATIO ** (s / T)  # exp_range: decays to DECAY_RATIO")
    lines.append("return MIN_RATIO + (1.0 - MIN_RATIO) * height")
    return FactorCode(tuple(constants), "\n".join(lines))


def one_cycle(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """1cycle (Smith & Topin): rise from ``start_ratio`` to the peak, then anneal to
    ``final_ratio``; with ``three_phase`` the peak first anneals back to ``start_ratio``.

    torch ``OneCycleLR(max_lr=lr, total_steps=T, pct_start, anneal_strategy,
    div_factor=1 / start_ratio, final_div_factor=start_ratio / final_ratio, three_phase)``,
    with its conventions: phase ends at the (fractional) steps ``pct_start * T - 1`` (and
    ``2 pct_start T - 2``) and the last step ``T - 1`` already reaches ``final_ratio``.
    """
    start, final, pct = (get_float(p, k) for k in ("start_ratio", "final_ratio", "pct_start"))
    if get_str(p, "phases") == "three":
        ends = [pct * T - 1.0, 2.0 * pct * T - 2.0, T - 1.0]
        levels = [(start, 1.0), (1.0, start), (start, final)]
    else:
        ends = [pct * T - 1.0, T - 1.0]
        levels = [(start, 1.0), (1.0, final)]
    steps = np.minimum(s, T - 1).astype(np.float64)
    # torch takes the first phase whose end is not before the step, else the last one.
    phase = np.full(steps.shape, len(ends) - 1)
    for i in reversed(range(len(ends) - 1)):
        phase = np.where(steps <= ends[i], i, phase)
    phase_end = np.asarray(ends)[phase]
    phase_start = np.asarray([0.0, *ends[:-1]])[phase]
    span = phase_end - phase_start
    progress = np.divide(steps - phase_start, span, out=np.ones_like(steps), where=span != 0)
    begin: FloatArray = np.asarray([a for a, _ in levels], dtype=np.float64)[phase]
    end: FloatArray = np.asarray([b for _, b in levels], dtype=np.float64)[phase]
    annealed: FloatArray
    if get_str(p, "anneal") == "cos":
        annealed = end + (begin - end) / 2.0 * (np.cos(np.pi * progress) + 1.0)
    else:
        annealed = (end - begin) * progress + begin
    return annealed


def _one_cycle_code(p: Mapping[str, ParamValue]) -> FactorCode:
    if get_str(p, "phases") == "three":
        phases = """
        phases = [
            (PCT_START * T - 1.0, START_RATIO, 1.0),  # up to the peak
            (2.0 * PCT_START * T - 2.0, 1.0, START_RATIO),  # back down to the start
            (T - 1.0, START_RATIO, FINAL_RATIO),  # down to the final LR
        ]"""
    else:
        phases = """
        phases = [
            (PCT_START * T - 1.0, START_RATIO, 1.0),  # up to the peak
            (T - 1.0, 1.0, FINAL_RATIO),  # down to the final LR
        ]"""
    if get_str(p, "anneal") == "cos":
        anneal = "return end + (begin - end) / 2.0 * (math.cos(math.pi * progress) + 1.0)  # cos"
    else:
        anneal = "return (end - begin) * progress + begin  # linear"
    body = f"""
        # (end step, factor at its start, factor at its end) of each phase. As in torch's
        # OneCycleLR, phases end at fractional steps and the last update, T - 1, already has
        # FINAL_RATIO.
        {phases.strip()}
        step = min(s, T - 1)
        i = 0  # the first phase that ends at or after the step, else the last one
        while i < len(phases) - 1 and step > phases[i][0]:
            i += 1
        phase_start = phases[i - 1][0] if i > 0 else 0.0
        phase_end, begin, end = phases[i]
        span = phase_end - phase_start
        progress = (step - phase_start) / span if span != 0 else 1.0
        {anneal}
        """
    return FactorCode(("pct_start", "start_ratio", "final_ratio"), body)


register(
    Family(
        "cosine_restarts",
        "cosine with warm restarts (SGDR)",
        (
            fraction("first_period", 0.25, "first period, as a fraction of the budget", low=0.05),
            Param(
                "period_mult",
                "float",
                1.0,
                "each period is this many times longer than the last",
                low=1.0,
                high=10.0,
                search_low=1.0,
                search_high=3.0,
            ),
            ratio(
                "peak_mult",
                1.0,
                "each restart peaks at this times the last peak",
                "(]",
                search=(0.3, 1.0),
            ),
            final_ratio(0.0),
        ),
        cosine_restarts,
        _cosine_restarts_code,
        ("torch CosineAnnealingWarmRestarts", "keras CosineDecayRestarts"),
    )
)
register(
    Family(
        "cyclic",
        "cyclical LR between min_ratio and the peak (triangular, triangular2, exp_range)",
        (
            fraction(
                "cycle", 0.2, "length of one cycle, as a fraction of the budget", low=0.02, high=1.0
            ),
            ratio(
                "up_fraction", 0.5, "fraction of each cycle spent rising", "()", search=(0.1, 0.9)
            ),
            ratio("min_ratio", 0.1, "lowest LR / peak LR", "[)", log=True, search=(1e-3, 0.5)),
            choice(
                "mode",
                "triangular",
                "how the amplitude changes from cycle to cycle",
                ("triangular", "triangular2", "exp_range"),
            ),
            ratio(
                "decay_ratio",
                0.1,
                "exp_range: amplitude at the end / at the start",
                "(]",
                log=True,
                search=(1e-3, 1.0),
            ),
        ),
        cyclic,
        _cyclic_code,
        ("torch CyclicLR",),
    )
)
register(
    Family(
        "one_cycle",
        "1cycle: rise to the peak, then anneal far below the start",
        (
            ratio("pct_start", 0.3, "fraction of the budget spent rising", "()", search=(0.1, 0.5)),
            ratio(
                "start_ratio",
                0.04,
                "starting LR / peak LR (torch: 1 / div_factor)",
                "(]",
                log=True,
                search=(1e-3, 0.5),
            ),
            final_ratio(4e-6, "final LR / peak LR (torch: 1 / (div_factor * final_div_factor))"),
            choice("anneal", "cos", "annealing shape", ("cos", "linear")),
            choice(
                "phases",
                "two",
                "two phases, or three (back to the start, then down)",
                ("two", "three"),
            ),
        ),
        one_cycle,
        _one_cycle_code,
        ("torch OneCycleLR",),
    )
)
