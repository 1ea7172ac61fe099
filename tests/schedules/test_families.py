"""Value tests for every schedule family, at the edges, against closed forms computed by hand.

Registry-wide properties are parametrized over ``family_names()`` so that a newly registered
family is covered without editing this file; the explicit cases below pin the numbers.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pytest

from lrsearch.errors import ScheduleError
from lrsearch.schedules import (
    Param,
    PlateauState,
    ScheduleSpec,
    budget_steps,
    curve,
    families,
    family_names,
    get_family,
    lr_at,
    lr_values,
    warmup_steps,
)

LR = 0.5  # a peak LR that is not 1, so a missing factor of lr shows up
TOTALS = (1, 2, 3, 10, 997, 100_000)
ALL = family_names()


def approx(expected: float) -> object:
    return pytest.approx(expected, rel=1e-12, abs=1e-15)


def spec_of(family: str, warmup: float = 0.0, start: float = 0.0, **params: object):
    return ScheduleSpec.create(
        family, LR, params, warmup_fraction=warmup, warmup_start_factor=start
    )


def at(spec: ScheduleSpec, total: int, *steps: int) -> list[float]:
    return [lr_at(spec, s, total) for s in steps]


def cos_anneal(begin: float, end: float, progress: float) -> float:
    """Cosine from ``begin`` (progress 0) to ``end`` (progress 1)."""
    return end + (begin - end) / 2.0 * (math.cos(math.pi * progress) + 1.0)


# --------------------------------------------------------------------------- budget_steps


@pytest.mark.parametrize(
    ("fraction", "total", "minimum", "expected"),
    [
        (0.3, 1000, 1, 300),
        (0.25, 10, 1, 3),  # 2.5 rounds half up
        (0.05, 10, 1, 1),  # 0.5 rounds half up
        (0.04, 10, 1, 1),  # 0.4 rounds to 0, clamped to the minimum
        (0.04, 10, 0, 0),  # warmup may be empty
        (1.0, 7, 1, 7),
        (0.999, 3, 1, 3),
    ],
)
def test_budget_steps(fraction: float, total: int, minimum: int, expected: int) -> None:
    assert budget_steps(fraction, total, minimum) == expected


# --------------------------------------------------------------------------- registry-wide


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("warmup", [0.0, 0.1])
def test_curve_finite_and_non_negative(family: str, warmup: float) -> None:
    spec = spec_of(family, warmup=warmup, start=0.1)
    for total in TOTALS:
        values = curve(spec, total)
        assert values.shape == (total,)
        assert values.dtype == np.float64
        assert np.isfinite(values).all(), (family, total)
        assert (values >= 0.0).all(), (family, total)
        # With default parameters no family goes above the peak LR.
        assert values.max() <= LR * (1 + 1e-12), (family, total)


def _edge_values(p: Param) -> list[object]:
    """Every choice, or the numbers at (or just inside) each end of the allowed range."""
    if p.kind == "choice":
        return list(p.choices)
    if p.kind in ("fractions", "floats"):
        return [p.default]
    tiny = 0 if p.kind == "int" else 1e-9
    values: list[object] = []
    if p.low is not None:
        values.append(p.low + tiny if p.low_open else p.low)
    if p.high is not None:
        values.append(p.high - tiny if p.high_open else p.high)
    else:
        values.append(1e6)
    return values


@pytest.mark.parametrize("family", ALL)
def test_curve_finite_at_parameter_edges(family: str) -> None:
    fam = get_family(family)
    names = [p.name for p in fam.params]
    for combo in itertools.product(*(_edge_values(p) for p in fam.params)):
        for warmup in (0.0, 0.5, 0.99):
            spec = ScheduleSpec.create(family, LR, dict(zip(names, combo, strict=True)), warmup)
            for total in (1, 2, 3, 10, 997):
                values = curve(spec, total)
                assert np.isfinite(values).all(), (combo, warmup, total)
                assert (values >= 0.0).all(), (combo, warmup, total)


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("total", [1, 2, 3, 10, 997])
@pytest.mark.parametrize("warmup", [0.0, 0.3])
def test_curve_agrees_with_lr_at_and_lr_values(family: str, total: int, warmup: float) -> None:
    spec = spec_of(family, warmup=warmup, start=0.25)
    values = curve(spec, total)
    warm = warmup_steps(spec, total)
    sampled = sorted({0, 1, warm - 1, warm, warm + 1, total // 2, total - 2, total - 1})
    sampled = [s for s in sampled if 0 <= s < total]
    for s in sampled:
        assert lr_at(spec, s, total) == approx(values[s])
    steps = np.asarray(sampled, dtype=np.int64)
    np.testing.assert_allclose(lr_values(spec, steps, total), values[steps], rtol=1e-12)
    # numpy integers are steps too
    assert lr_at(spec, np.int64(total - 1), total) == approx(values[-1])


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("total", [1, 2, 10, 997])
def test_past_the_end_is_clamped(family: str, total: int) -> None:
    spec = spec_of(family, warmup=0.1, start=0.5)
    end = lr_at(spec, total, total)
    assert at(spec, total, total + 1, 2 * total + 3, 10**9) == [approx(end)] * 3
    steps = np.asarray([total, total + 1, 10**12], dtype=np.int64)
    np.testing.assert_allclose(lr_values(spec, steps, total), end, rtol=1e-12)


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("start", [0.0, 0.1, 1.0])
def test_warmup_ramp(family: str, start: float) -> None:
    total = 100
    spec = spec_of(family, warmup=0.1, start=start)
    assert warmup_steps(spec, total) == 10
    values = curve(spec, total)
    # Linear from start * lr at step 0; it would reach lr at step 10, where the family starts.
    expected = [LR * (start + (1.0 - start) * k / 10) for k in range(10)]
    assert values[:10].tolist() == [approx(v) for v in expected]
    assert values[0] == approx(start * LR)
    assert values[9] == approx(LR * (start + (1.0 - start) * 0.9))
    # After warmup the family runs on the 90 steps that remain, from its own step 0.
    plain = curve(spec_of(family), 90)
    np.testing.assert_allclose(values[10:], plain, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("family", ALL)
def test_warmup_reaches_the_peak_for_families_that_start_there(family: str) -> None:
    spec = spec_of(family, warmup=0.2, start=0.0)
    first = lr_at(spec_of(family), 0, 80)
    assert lr_at(spec, 20, 100) == approx(first)
    if family not in ("cyclic", "one_cycle"):  # these start below the peak by design
        assert first == approx(LR)


@pytest.mark.parametrize("family", ALL)
def test_curve_scales_with_lr(family: str) -> None:
    a = ScheduleSpec.create(family, 0.1, warmup_fraction=0.1, warmup_start_factor=0.3)
    b = ScheduleSpec.create(family, 0.4, warmup_fraction=0.1, warmup_start_factor=0.3)
    np.testing.assert_allclose(curve(b, 997), 4.0 * curve(a, 997), rtol=1e-12)


def test_long_curves_for_every_family() -> None:
    # Speed belongs in benchmarks; this only exercises 100k-step curves for all families.
    for fam in families():
        values = curve(spec_of(fam.name, warmup=0.05), 100_000)
        assert values.shape == (100_000,)
        assert np.isfinite(values).all()


# --------------------------------------------------------------------------- warmup details


def test_warmup_rounding_and_small_budgets() -> None:
    spec = spec_of("constant", warmup=0.05, start=0.2)
    assert warmup_steps(spec, 10) == 1  # 0.5 rounds half up
    assert at(spec, 10, 0, 1) == [approx(0.2 * LR), approx(LR)]
    assert warmup_steps(spec, 1) == 0  # a one-step run has no warmup
    assert at(spec, 1, 0) == [approx(LR)]
    long = spec_of("cosine", warmup=0.9, start=0.0)
    assert warmup_steps(long, 2) == 1  # always leaves one step for the family
    assert at(long, 2, 0, 1, 2) == [approx(0.0), approx(LR), approx(0.0)]
    assert warmup_steps(long, 100) == 90


def test_warmup_time_fractions_are_of_the_remaining_budget() -> None:
    spec = spec_of("step", warmup=0.1, start=0.0, interval=0.5, gamma=0.1)
    # 10 warmup steps, then interval 0.5 of the remaining 90 = 45 steps: drop at 10 + 45.
    assert at(spec, 100, 9, 10, 54, 55, 99) == [
        approx(0.9 * LR),
        approx(LR),
        approx(LR),
        approx(0.1 * LR),
        approx(0.1 * LR),
    ]
    cos = spec_of("cosine", warmup=0.1, start=0.2, final_ratio=0.0)
    assert at(cos, 100, 0, 5, 10, 55, 100) == [
        approx(0.2 * LR),
        approx(0.6 * LR),
        approx(LR),
        approx(0.5 * LR),
        approx(0.0),
    ]


# --------------------------------------------------------------------------- decay families


def test_constant() -> None:
    spec = spec_of("constant")
    assert at(spec, 100, 0, 50, 99, 100, 10**6) == [approx(LR)] * 5
    assert curve(spec, 1).tolist() == [LR]


def test_step() -> None:
    spec = spec_of("step", interval=0.3, gamma=0.1)  # interval 30 steps
    steps = (0, 29, 30, 59, 60, 89, 90, 99, 100, 5000)
    factors = (1, 1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.001, 0.001)
    assert at(spec, 100, *steps) == [approx(LR * f) for f in factors]


def test_step_docstring_example_and_rounding() -> None:
    spec = spec_of("step", interval=0.5, gamma=0.1)
    np.testing.assert_allclose(curve(spec, 4), [LR, LR, 0.1 * LR, 0.1 * LR], rtol=1e-12)
    spec = spec_of("step", interval=0.25, gamma=0.5)  # 2.5 steps round to 3
    assert at(spec, 10, 2, 3, 5, 6, 9) == [
        approx(LR),
        approx(0.5 * LR),
        approx(0.5 * LR),
        approx(0.25 * LR),
        approx(0.125 * LR),
    ]


def test_multistep() -> None:
    spec = spec_of("multistep", milestones=(0.5, 0.75), gamma=0.1)  # steps 50 and 75
    steps = (0, 49, 50, 74, 75, 99, 100, 10**6)
    factors = (1, 1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01)
    assert at(spec, 100, *steps) == [approx(LR * f) for f in factors]


def test_multistep_rounding_and_coinciding_milestones() -> None:
    spec = spec_of("multistep", milestones=(0.25, 0.55), gamma=0.5)  # 2.5 -> 3, 5.5 -> 6
    assert at(spec, 10, 2, 3, 5, 6) == [
        approx(LR),
        approx(0.5 * LR),
        approx(0.5 * LR),
        approx(0.25 * LR),
    ]
    # In 3 steps both milestones round to step 2: both drops apply there (torch's Counter).
    spec = spec_of("multistep", milestones=(0.5, 0.75), gamma=0.1)
    assert at(spec, 3, 0, 1, 2) == [approx(LR), approx(LR), approx(0.01 * LR)]


def test_exponential() -> None:
    spec = spec_of("exponential", final_ratio=0.01)
    assert at(spec, 100, 0, 50, 99, 100, 1000) == [
        approx(LR),
        approx(0.1 * LR),
        approx(LR * 0.01**0.99),
        approx(0.01 * LR),
        approx(0.01 * LR),
    ]


def test_inverse_time_reaches_final_ratio_at_step_t() -> None:
    spec = spec_of("inverse_time", final_ratio=0.01)  # k = 1 / 0.01 - 1 = 99
    assert at(spec, 100, 0, 50, 99, 100, 101) == [
        approx(LR),
        approx(LR / 50.5),
        approx(LR / (1 + 99 * 0.99)),
        approx(0.01 * LR),
        approx(0.01 * LR),
    ]
    for total in (1, 7, 997):
        assert lr_at(spec, total, total) == approx(0.01 * LR)
    assert curve(spec_of("inverse_time", final_ratio=1.0), 5).tolist() == [approx(LR)] * 5


def test_keras_decay() -> None:
    spec = spec_of("keras_decay", decay=1e-3)
    assert at(spec, 1000, 0, 1, 500, 999, 1000, 5000) == [
        approx(LR),
        approx(LR / 1.001),
        approx(LR / 1.5),
        approx(LR / 1.999),
        approx(LR / 2.0),
        approx(LR / 2.0),  # clamped at the end of the budget
    ]
    # decay is per update, not a fraction of the budget: a longer run shares the prefix.
    np.testing.assert_allclose(curve(spec, 2000)[:1000], curve(spec, 1000), rtol=1e-12)
    # iterations count from the end of warmup
    warm = spec_of("keras_decay", warmup=0.1, decay=0.01)
    assert at(warm, 100, 10, 60) == [approx(LR), approx(LR / 1.5)]
    assert curve(spec_of("keras_decay", decay=0.0), 4).tolist() == [approx(LR)] * 4


def test_inverse_sqrt() -> None:
    spec = spec_of("inverse_sqrt", timescale=0.05)  # tau = 50 steps of 1000
    assert at(spec, 1000, 0, 50, 150, 450, 999, 1000, 4000) == [
        approx(LR),
        approx(LR * math.sqrt(0.5)),
        approx(0.5 * LR),
        approx(LR / math.sqrt(10)),
        approx(LR * math.sqrt(50 / 1049)),
        approx(LR * math.sqrt(50 / 1050)),
        approx(LR * math.sqrt(50 / 1050)),
    ]


def test_linear() -> None:
    assert at(spec_of("linear", final_ratio=0.0), 100, 0, 25, 99, 100) == [
        approx(LR),
        approx(0.75 * LR),
        approx(0.01 * LR),
        approx(0.0),
    ]
    assert at(spec_of("linear", final_ratio=0.1), 100, 50, 99, 100, 200) == [
        approx(0.55 * LR),
        approx(LR * (1 - 0.9 * 0.99)),
        approx(0.1 * LR),
        approx(0.1 * LR),
    ]


def test_polynomial() -> None:
    spec = spec_of("polynomial", power=2.0, final_ratio=0.1)
    assert at(spec, 100, 0, 50, 99, 100, 101) == [
        approx(LR),
        approx(LR * (0.9 * 0.25 + 0.1)),
        approx(LR * (0.9 * 0.01**2 + 0.1)),
        approx(0.1 * LR),
        approx(0.1 * LR),
    ]
    # power 1 is the linear family
    np.testing.assert_allclose(
        curve(spec_of("polynomial", power=1.0, final_ratio=0.2), 97),
        curve(spec_of("linear", final_ratio=0.2), 97),
        rtol=1e-12,
    )


def test_piecewise_constant() -> None:
    spec = spec_of("piecewise_constant", boundaries=(0.5, 0.75), factors=(1.0, 0.1, 0.01))
    steps = (0, 49, 50, 74, 75, 99, 100, 1000)
    factors = (1, 1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01)
    assert at(spec, 100, *steps) == [approx(LR * f) for f in factors]
    # factors above 1 are allowed (the LR may exceed the nominal peak)
    spec = spec_of("piecewise_constant", boundaries=(0.25,), factors=(2.0, 0.5))
    assert at(spec, 8, 0, 1, 2, 7) == [approx(2 * LR)] * 2 + [approx(LR / 2)] * 2


def test_cosine() -> None:
    assert at(spec_of("cosine", final_ratio=0.0), 100, 0, 50, 99, 100, 150) == [
        approx(LR),
        approx(0.5 * LR),
        approx(LR * 0.5 * (1 + math.cos(math.pi * 0.99))),
        approx(0.0),
        approx(0.0),
    ]
    assert at(spec_of("cosine", final_ratio=0.1), 100, 25, 50, 100) == [
        approx(LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))),
        approx(0.55 * LR),
        approx(0.1 * LR),
    ]


# --------------------------------------------------------------------------- cyclic families


def _sgdr(final: float, peak: float, progress: float) -> float:
    return LR * (final + (1 - final) * peak * 0.5 * (1 + math.cos(math.pi * progress)))


def test_cosine_restarts_constant_periods() -> None:
    spec = spec_of("cosine_restarts", first_period=0.25, period_mult=1.0, peak_mult=1.0)
    # period 25 steps: peaks at 0, 25, 50, 75; troughs one step before each restart
    trough = _sgdr(0.0, 1.0, 24 / 25)
    assert at(spec, 100, 0, 12, 24, 25, 49, 50, 74, 75, 99) == [
        approx(LR),
        approx(_sgdr(0.0, 1.0, 12 / 25)),
        approx(trough),
        approx(LR),
        approx(trough),
        approx(LR),
        approx(trough),
        approx(LR),
        approx(trough),
    ]


def test_cosine_restarts_growing_periods_and_shrinking_peaks() -> None:
    spec = spec_of(
        "cosine_restarts", first_period=0.25, period_mult=2.0, peak_mult=0.5, final_ratio=0.1
    )
    # periods 25, 50, 100: restarts at 25 and 75, peaking at 0.5 and 0.25
    assert at(spec, 100, 0, 24, 25, 50, 74, 75, 99) == [
        approx(LR),
        approx(_sgdr(0.1, 1.0, 24 / 25)),
        approx(_sgdr(0.1, 0.5, 0.0)),
        approx(_sgdr(0.1, 0.5, 0.5)),
        approx(_sgdr(0.1, 0.5, 49 / 50)),
        approx(_sgdr(0.1, 0.25, 0.0)),
        approx(_sgdr(0.1, 0.25, 24 / 100)),
    ]
    assert lr_at(spec, 25, 100) == approx(0.55 * LR)


def test_cosine_restarts_fractional_period_mult() -> None:
    spec = spec_of("cosine_restarts", first_period=0.2, period_mult=1.5)
    # periods 20, 30, 45: restarts at 20, 50 and 95
    assert at(spec, 100, 19, 20, 49, 50, 94, 95, 99) == [
        approx(_sgdr(0.0, 1.0, 19 / 20)),
        approx(LR),
        approx(_sgdr(0.0, 1.0, 29 / 30)),
        approx(LR),
        approx(_sgdr(0.0, 1.0, 44 / 45)),
        approx(LR),
        approx(_sgdr(0.0, 1.0, 4 / 67.5)),
    ]


@pytest.mark.parametrize(
    ("first", "mult"),
    [(0.001, 1.0), (0.001, 2.0), (0.001, 3.0), (0.001, 10.0), (0.00016, 1.5)],
)
def test_cosine_restarts_peaks_on_every_restart(first: float, mult: float) -> None:
    # Restart steps found by summing periods. The closed-form index (a logarithm) rounds down
    # on some exact restarts (e.g. 12100 for a first period of 100 and period_mult 3, 11100 for
    # period_mult 10, 211 for 16 and 1.5): those steps must still start the new period.
    spec = spec_of("cosine_restarts", first_period=first, period_mult=mult)
    total = 100_000
    values = curve(spec, total)
    start, period, checked = 0.0, float(budget_steps(first, total)), 0
    while start < total:
        if start.is_integer():
            assert values[int(start)] == approx(LR), start
            if start > 0:
                assert values[int(start) - 1] < 0.05 * LR, start
            checked += 1
        start += period
        period *= mult
    assert checked >= 4


def test_cosine_restarts_does_not_restart_past_the_end() -> None:
    spec = spec_of("cosine_restarts", first_period=0.25, final_ratio=0.01)
    assert lr_at(spec, 99, 100) < 0.02 * LR
    # At the end of the budget the last period has decayed to its floor, and stays there.
    assert at(spec, 100, 100, 101, 1000) == [approx(0.01 * LR)] * 3


def _clr(low: float, height: float) -> float:
    return LR * (low + (1 - low) * height)


def test_cyclic_triangular() -> None:
    spec = spec_of("cyclic", cycle=0.2, up_fraction=0.5, min_ratio=0.1, mode="triangular")
    # cycle 20 steps, 10 rising: troughs at 0, 20, ..., peaks at 10, 30, ...
    steps = (0, 5, 10, 15, 20, 30, 90, 99, 100, 1000)
    heights = (0, 0.5, 1, 0.5, 0, 1, 1, 0.1, 0, 0)
    assert at(spec, 100, *steps) == [approx(_clr(0.1, h)) for h in heights]


def test_cyclic_triangular2_halves_each_cycle() -> None:
    spec = spec_of("cyclic", cycle=0.2, up_fraction=0.5, min_ratio=0.1, mode="triangular2")
    assert at(spec, 100, 10, 20, 30, 40, 50, 90) == [
        approx(_clr(0.1, 1.0)),
        approx(_clr(0.1, 0.0)),
        approx(_clr(0.1, 0.5)),
        approx(_clr(0.1, 0.0)),
        approx(_clr(0.1, 0.25)),
        approx(_clr(0.1, 1 / 16)),
    ]


def test_cyclic_exp_range() -> None:
    spec = spec_of(
        "cyclic", cycle=0.2, up_fraction=0.5, min_ratio=0.1, mode="exp_range", decay_ratio=0.1
    )
    assert at(spec, 100, 0, 10, 20, 50, 90) == [
        approx(_clr(0.1, 0.0)),
        approx(_clr(0.1, 0.1**0.1)),
        approx(_clr(0.1, 0.0)),
        approx(_clr(0.1, 0.1**0.5)),
        approx(_clr(0.1, 0.1**0.9)),
    ]


def test_cyclic_asymmetric_and_tiny_budgets() -> None:
    spec = spec_of("cyclic", cycle=0.2, up_fraction=0.25, min_ratio=0.0)  # 5 up, 15 down
    assert at(spec, 100, 0, 3, 5, 10, 19, 20, 25) == [
        approx(0.0),
        approx(0.6 * LR),
        approx(LR),
        approx(LR * 2 / 3),
        approx(LR / 15),
        approx(0.0),
        approx(LR),
    ]
    # Rising steps round half up (0.33 * 20 = 6.6 -> 7) and leave at least one falling step.
    spec = spec_of("cyclic", cycle=0.2, up_fraction=0.33, min_ratio=0.0)
    assert at(spec, 100, 6, 7, 8) == [approx(LR * 6 / 7), approx(LR), approx(LR * 12 / 13)]
    spec = spec_of("cyclic", cycle=0.2, up_fraction=0.99, min_ratio=0.0)  # 19.8 -> 19 of 20
    assert at(spec, 100, 18, 19, 20) == [approx(LR * 18 / 19), approx(LR), approx(0.0)]
    # A cycle is at least two steps (one up, one down), even in a one-step run.
    spec = spec_of("cyclic", min_ratio=0.1)
    assert at(spec, 1, 0, 1) == [approx(0.1 * LR), approx(LR)]
    assert curve(spec, 2).tolist() == [approx(0.1 * LR), approx(LR)]


def test_cyclic_triangular2_many_cycles_without_overflow_warning() -> None:
    spec = spec_of("cyclic", cycle=1e-4, min_ratio=0.1, mode="triangular2")  # 10,000 cycles
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = curve(spec, 100_000)
    np.testing.assert_allclose(values[-100:], 0.1 * LR, rtol=1e-12)


def _one_cycle(anneal: str, begin: float, end: float, progress: float) -> float:
    if anneal == "cos":
        return LR * cos_anneal(begin, end, progress)
    return LR * (begin + (end - begin) * progress)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_two_phases(anneal: str) -> None:
    start, final = 0.04, 1e-4
    spec = spec_of("one_cycle", pct_start=0.3, start_ratio=start, final_ratio=final, anneal=anneal)
    # Phase ends (torch's convention): 0.3 * 100 - 1 = 29 and 99.
    assert at(spec, 100, 0, 10, 29, 30, 64, 98, 99, 100, 500) == [
        approx(start * LR),
        approx(_one_cycle(anneal, start, 1.0, 10 / 29)),
        approx(LR),
        approx(_one_cycle(anneal, 1.0, final, 1 / 70)),
        approx(LR * (1.0 + final) / 2),
        approx(_one_cycle(anneal, 1.0, final, 69 / 70)),
        approx(final * LR),
        approx(final * LR),
        approx(final * LR),
    ]


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_three_phases(anneal: str) -> None:
    start, final = 0.04, 1e-4
    spec = spec_of(
        "one_cycle",
        pct_start=0.25,
        start_ratio=start,
        final_ratio=final,
        anneal=anneal,
        phases="three",
    )
    # Phase ends: 0.25 * 100 - 1 = 24, 2 * 25 - 2 = 48, then 99.
    assert at(spec, 100, 0, 12, 24, 36, 48, 49, 99, 100) == [
        approx(start * LR),
        approx(LR * (start + 1.0) / 2),
        approx(LR),
        approx(LR * (1.0 + start) / 2),
        approx(start * LR),
        approx(_one_cycle(anneal, start, final, 1 / 51)),
        approx(final * LR),
        approx(final * LR),
    ]


def test_one_cycle_default_parameters() -> None:
    spec = spec_of("one_cycle")  # pct 0.3, start 0.04, final 4e-6, cos, two phases
    assert at(spec, 100, 0, 29, 64, 99) == [
        approx(0.04 * LR),
        approx(LR),
        approx(LR * (1 + 4e-6) / 2),
        approx(4e-6 * LR),
    ]
    assert lr_at(spec, 0, 1) == approx(4e-6 * LR)  # a one-step run is all last step


# --------------------------------------------------------------------------- wsd


@pytest.mark.parametrize(
    ("shape", "remaining"),
    [
        ("linear", lambda x: 1.0 - x),
        ("cosine", lambda x: 0.5 * (1.0 + math.cos(math.pi * x))),
        ("1-sqrt", lambda x: 1.0 - math.sqrt(x)),
    ],
)
@pytest.mark.parametrize("final", [0.0, 0.1])
def test_wsd(shape: str, remaining: object, final: float) -> None:
    spec = spec_of("wsd", decay_fraction=0.2, decay_shape=shape, final_ratio=final)

    def expected(x: float) -> float:
        return LR * (final + (1 - final) * remaining(x))

    # Stable until step 80, the decay starts there and reaches final_ratio at step 100.
    assert at(spec, 100, 0, 79, 80, 81, 90, 99, 100, 250) == [
        approx(LR),
        approx(LR),
        approx(LR),
        approx(expected(1 / 20)),
        approx(expected(0.5)),
        approx(expected(19 / 20)),
        approx(final * LR),
        approx(final * LR),
    ]


# --------------------------------------------------------------------------- plateau


def test_plateau_curve_is_the_peak() -> None:
    spec = spec_of("plateau", warmup=0.1, start=0.5)
    assert spec.adaptive
    assert not spec_of("cosine").adaptive
    values = curve(spec, 100)
    assert values[0] == approx(0.5 * LR)
    assert values[10:].tolist() == [approx(LR)] * 90


def _scales(state: PlateauState, values: list[float]) -> list[float]:
    out = []
    for v in values:
        state.observe(v)
        out.append(state.scale)
    return out


def test_plateau_patience() -> None:
    state = PlateauState(lr=0.1, factor=0.5, patience=2, threshold=0.0)
    # best 1.0, then bad epochs; the third bad one (> patience) reduces
    assert _scales(state, [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert state.best == 1.0
    assert state.bad_epochs == 0


def test_plateau_improvement_resets_the_count() -> None:
    state = PlateauState(lr=0.1, factor=0.5, patience=1, threshold=0.0)
    assert _scales(state, [3.0, 3.0, 2.0, 2.0, 1.0, 1.0, 1.0]) == [1, 1, 1, 1, 1, 1, 0.5]
    assert state.best == 1.0


def test_plateau_cooldown() -> None:
    state = PlateauState(lr=0.1, factor=0.5, patience=0, threshold=0.0, cooldown=2)
    # reduce, then two validations of cooldown where bad epochs do not count
    assert _scales(state, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]) == [1, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert state.cooldown_left == 1


def test_plateau_min_ratio_floor() -> None:
    state = PlateauState(lr=0.1, factor=0.1, patience=0, threshold=0.0, min_ratio=0.05)
    assert _scales(state, [1.0, 1.0, 1.0, 1.0]) == [1, approx(0.1), approx(0.05), approx(0.05)]


def test_plateau_ignores_reductions_below_eps() -> None:
    # (1 - 0.5) * 1e-9 is below torch's eps of 1e-8: the LR is left alone
    state = PlateauState(lr=1e-9, factor=0.5, patience=0, threshold=0.0)
    assert _scales(state, [1.0, 1.0, 1.0]) == [1, 1, 1]


@pytest.mark.parametrize(
    ("mode", "threshold_mode", "best", "worse", "better"),
    [
        ("min", "rel", 10.0, 9.1, 8.9),  # needs < 10 * (1 - 0.1) = 9
        ("min", "abs", 10.0, 9.95, 9.85),  # needs < 10 - 0.1 = 9.9
        ("max", "rel", 10.0, 10.9, 11.1),  # needs > 10 * (1 + 0.1) = 11
        ("max", "abs", 10.0, 10.05, 10.15),  # needs > 10 + 0.1 = 10.1
    ],
)
def test_plateau_threshold(
    mode: str, threshold_mode: str, best: float, worse: float, better: float
) -> None:
    state = PlateauState(
        lr=0.1, factor=0.5, patience=0, threshold=0.1, threshold_mode=threshold_mode, mode=mode
    )
    assert _scales(state, [best, worse]) == [1, 0.5]
    assert state.best == best
    assert _scales(state, [better]) == [0.5]
    assert state.best == better
    assert state.bad_epochs == 0


def test_plateau_rel_and_abs_differ() -> None:
    rel = PlateauState(lr=0.1, patience=0, threshold=0.1, threshold_mode="rel")
    abs_ = PlateauState(lr=0.1, patience=0, threshold=0.1, threshold_mode="abs")
    assert _scales(rel, [10.0, 9.5]) == [1, approx(0.1)]
    assert _scales(abs_, [10.0, 9.5]) == [1, 1]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_plateau_non_finite_is_a_bad_epoch(bad: float) -> None:
    state = PlateauState(lr=0.1, factor=0.5, patience=1, threshold=0.0)
    assert _scales(state, [bad]) == [1]
    assert state.best is None
    assert state.bad_epochs == 1
    assert _scales(state, [1.0, bad, bad]) == [1, 1, 0.5]
    assert state.best == 1.0
    max_state = PlateauState(lr=0.1, factor=0.5, patience=0, threshold=0.0, mode="max")
    assert _scales(max_state, [1.0, bad]) == [1, 0.5]


def test_plateau_for_spec() -> None:
    spec = spec_of(
        "plateau",
        factor=0.5,
        patience=3,
        threshold=0.01,
        threshold_mode="abs",
        cooldown=2,
        min_ratio=0.01,
    )
    state = PlateauState.for_spec(spec.lr, spec.params, "max")
    assert (state.lr, state.factor, state.patience, state.threshold) == (LR, 0.5, 3, 0.01)
    assert (state.threshold_mode, state.cooldown, state.min_ratio, state.mode) == (
        "abs",
        2,
        0.01,
        "max",
    )
    assert (state.scale, state.best, state.bad_epochs, state.cooldown_left) == (1.0, None, 0, 0)
    defaults = PlateauState.for_spec(0.1, get_family("plateau").defaults, "min")
    assert (defaults.factor, defaults.patience, defaults.threshold) == (0.1, 10, 1e-4)
    assert (defaults.threshold_mode, defaults.cooldown, defaults.min_ratio) == ("rel", 0, 0.0)
    with pytest.raises(ScheduleError, match="mode"):
        PlateauState.for_spec(0.1, spec.params, "maximum")


def test_plateau_state_dict_round_trip() -> None:
    state = PlateauState(lr=0.1, factor=0.5, patience=1, threshold=0.0, cooldown=1)
    _scales(state, [2.0, 1.0, 1.5, 1.5])  # one reduction, now in cooldown
    data = state.state_dict()
    assert data["scale"] == 0.5
    assert data["best"] == 1.0
    restored = PlateauState.from_state_dict(json.loads(json.dumps(data)))
    assert restored == state
    follow = [1.5, 1.5, 1.5, 0.5, 0.9, 0.9]
    assert _scales(restored, follow) == _scales(state, follow)
    assert restored.state_dict() == state.state_dict()
