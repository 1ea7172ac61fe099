"""The PyTorch snippets of lrsearch.schedules.codegen reproduce the curves they were made from.

Each generated snippet is executed in a fresh namespace, its scheduler driven with a real
``torch.optim.SGD``, and the LR of every update compared with :func:`curve` for runs of several
lengths. Parametrized over the registry: every Family record carries its numpy curve and its
template, and a newly registered family fails here until it has a non-default case below.
"""

from __future__ import annotations

import ast
import inspect
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

from lrsearch.errors import ScheduleError
from lrsearch.schedules import (
    Family,
    PlateauState,
    ScheduleSpec,
    budget_steps,
    curve,
    families,
    family_names,
    get_family,
    lr_at,
    registry,
)
from lrsearch.schedules.codegen import pytorch_snippet

LR = 0.3  # a peak LR that is not 1, so a missing factor of PEAK_LR shows up
TOTALS = (1, 2, 7, 100, 1001)
ALL = family_names()


def approx(expected: float) -> Any:
    return pytest.approx(expected, rel=1e-9, abs=1e-15)


def spec_of(family: str, warmup: float = 0.0, start: float = 0.0, **params: Any) -> ScheduleSpec:
    return ScheduleSpec.create(
        family, LR, params, warmup_fraction=warmup, warmup_start_factor=start
    )


# At least one non-default case per family (test_every_family_has_a_non_default_case).
NON_DEFAULT: list[ScheduleSpec] = [
    spec_of("constant", warmup=0.1, start=0.25),
    spec_of("step", interval=0.25, gamma=0.5),
    spec_of("step", warmup=0.2, start=0.1, interval=0.07, gamma=0.9),
    spec_of("multistep", milestones=(0.3, 0.6, 0.9), gamma=0.3),
    spec_of("multistep", warmup=0.05, milestones=(0.5,), gamma=0.5),
    spec_of("exponential", final_ratio=0.05),
    spec_of("inverse_time", warmup=0.1, start=0.5, final_ratio=0.2),
    spec_of("keras_decay", decay=0.01),
    spec_of("keras_decay", warmup=0.1, decay=0.0),
    spec_of("inverse_sqrt", warmup=0.1, timescale=0.1),
    spec_of("linear", warmup=0.5, start=0.5, final_ratio=0.1),  # T = 1: no room for warmup
    spec_of("polynomial", power=2.0, final_ratio=0.01),
    spec_of("polynomial", warmup=0.03, start=0.01, power=0.5),
    spec_of("piecewise_constant", boundaries=(0.2, 0.5, 0.8), factors=(1.0, 0.5, 0.2, 0.05)),
    spec_of("piecewise_constant", warmup=0.1, boundaries=(0.5,), factors=(2.0, 1.0)),
    spec_of("cosine", warmup=0.05, final_ratio=0.01),
    spec_of("cosine", warmup=0.3, start=0.1),
    spec_of("cosine_restarts", first_period=0.1, period_mult=1.5, peak_mult=0.5, final_ratio=0.01),
    spec_of("cosine_restarts", warmup=0.1, start=0.2, first_period=0.2, period_mult=2.0),
    spec_of("cosine_restarts", first_period=0.07, period_mult=1.3),  # P = 7 restarts at step 7
    spec_of("cosine_restarts", first_period=0.3, peak_mult=0.7, final_ratio=0.1),
    spec_of("cyclic", cycle=0.1, up_fraction=0.3, min_ratio=0.0, mode="triangular"),
    spec_of("cyclic", warmup=0.1, start=0.5, cycle=0.15, mode="triangular2"),
    spec_of("cyclic", cycle=0.02, up_fraction=0.9, mode="exp_range", decay_ratio=0.01),
    spec_of("one_cycle", phases="three", anneal="linear"),
    spec_of("one_cycle", phases="three", anneal="cos", pct_start=0.25, final_ratio=0.0),
    spec_of("one_cycle", warmup=0.1, anneal="linear", pct_start=0.45, start_ratio=0.2),
    spec_of("wsd", decay_fraction=0.3, decay_shape="linear", final_ratio=0.1),
    spec_of("wsd", warmup=0.05, start=0.1, decay_shape="cosine"),
    spec_of("wsd", decay_fraction=0.5, decay_shape="1-sqrt", final_ratio=0.01),
    spec_of(
        "plateau",
        warmup=0.1,
        start=0.2,
        factor=0.5,
        patience=1,
        threshold=0.05,
        threshold_mode="abs",
        cooldown=2,
        min_ratio=0.1,
    ),
]
DEFAULTS = [spec_of(name) for name in ALL]
CASES = DEFAULTS + NON_DEFAULT


def case_id(spec: ScheduleSpec) -> str:
    changed = {k: v for k, v in spec.params.items() if get_family(spec.family).defaults[k] != v}
    words = [f"{k}={v}" for k, v in changed.items()]
    if spec.warmup_fraction:
        words.append(f"warmup={spec.warmup_fraction},{spec.warmup_start_factor}")
    return "-".join([spec.family, *words]) if words else f"{spec.family}-defaults"


def load(source: str) -> dict[str, Any]:
    """Execute a snippet in a fresh namespace (as a module of its own would be)."""
    namespace: dict[str, Any] = {"__name__": "snippet"}
    exec(compile(source, "<snippet>", "exec"), namespace)
    return namespace


def run_lrs(
    namespace: dict[str, Any], total: int, *, metrics: Sequence[float] = (), every: int = 1
) -> list[float]:
    """The optimizer's LR at each of ``total`` updates; a plateau scheduler gets ``metrics[i]``
    after update ``(i + 1) * every - 1``, as a training loop validating every ``every`` steps."""
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=123.0)  # make_scheduler must replace it
    scheduler = namespace["make_scheduler"](optimizer, total)
    lrs = []
    for k in range(total):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        scheduler.step()
        if metrics and (k + 1) % every == 0 and (k + 1) // every <= len(metrics):
            scheduler.plateau.observe(metrics[(k + 1) // every - 1])
    return lrs


# --------------------------------------------------------------------------- the registry


@pytest.mark.parametrize("family", families(), ids=lambda family: family.name)
@pytest.mark.parametrize("params", ["defaults", "non-default"])
def test_each_record_has_a_curve_and_a_template_that_agree(family: Family, params: str) -> None:
    # The template's schedule_factor against the numpy function of the same record, on the
    # family's own local steps (no warmup), including step T.
    specs = [spec_of(family.name)] if params == "defaults" else NON_DEFAULT
    for spec in [s for s in specs if s.family == family.name]:
        schedule_factor = load(pytorch_snippet(spec))["schedule_factor"]
        for total in (1, 2, 7, 100, 1001):
            steps = np.arange(total + 1, dtype=np.int64)
            expected = family.factors(steps, total, spec.params).tolist()
            assert [schedule_factor(s, total) for s in range(total + 1)] == [
                approx(x) for x in expected
            ], (spec, total)


def test_every_family_has_a_non_default_case() -> None:
    assert {spec.family for spec in NON_DEFAULT} == set(ALL)


def test_a_family_without_a_template_cannot_be_registered() -> None:
    constant = get_family("constant")
    no_template: Any = None  # what a record written without one would hold
    flat = Family("flat_test", "a family without a template", (), constant.factors, no_template)
    with pytest.raises(ValueError, match="'flat_test' needs a curve and a template"):
        registry.register(flat)
    assert "flat_test" not in family_names()


# --------------------------------------------------------------------------- the values


@pytest.mark.parametrize("spec", CASES, ids=case_id)
def test_the_scheduler_follows_the_curve_for_any_run_length(spec: ScheduleSpec) -> None:
    namespace = load(pytorch_snippet(spec))
    for total in TOTALS:
        expected = curve(spec, total).tolist()
        assert run_lrs(namespace, total) == [approx(x) for x in expected], total
        snippet_lr_at = namespace["lr_at"]
        for step in (total, total + 1, total + 5):  # past the end: the value at the end
            assert snippet_lr_at(step, total) == approx(lr_at(spec, step, total))


@pytest.mark.parametrize("spec", CASES, ids=case_id)
def test_lr_at_matches_at_every_step(spec: ScheduleSpec) -> None:
    snippet_lr_at = load(pytorch_snippet(spec))["lr_at"]
    for total in (3, 64, 333):
        expected = curve(spec, total).tolist()
        assert [snippet_lr_at(k, total) for k in range(total)] == [approx(x) for x in expected]


@pytest.mark.parametrize(
    "spec",
    [
        spec_of("cosine_restarts", first_period=first, period_mult=mult, peak_mult=0.5)
        for first in (0.05, 0.07, 0.13, 0.25)
        for mult in (1.0, 1.3, 1.5, 2.0, 3.0, 7.0)
    ],
    ids=case_id,
)
def test_cosine_restarts_restart_on_the_same_steps(spec: ScheduleSpec) -> None:
    # Restart steps are the delicate part: non-integer period starts, and step T's period.
    snippet_lr_at = load(pytorch_snippet(spec))["lr_at"]
    for total in (20, 100, 137, 1000):
        expected = curve(spec, total).tolist()
        assert [snippet_lr_at(k, total) for k in range(total)] == [approx(x) for x in expected]
        assert snippet_lr_at(total, total) == approx(lr_at(spec, total, total))


# --------------------------------------------------------------------------- plateau


def expected_plateau_lrs(
    spec: ScheduleSpec, total: int, metrics: Sequence[float], every: int, mode: str
) -> list[float]:
    """lrsearch's LRs: the curve times the state's scale, the state fed after each validation."""
    state = PlateauState.for_spec(spec.lr, spec.params, mode)
    lrs = []
    for k, base in enumerate(curve(spec, total).tolist()):
        lrs.append(base * state.scale)
        if (k + 1) % every == 0 and (k + 1) // every <= len(metrics):
            state.observe(metrics[(k + 1) // every - 1])
    return lrs


# A loss that improves, stalls (with noise, a NaN and an infinity), improves again, stalls.
LOSSES = [1.0, 0.8, 0.7, 0.69, 0.7, 0.71, math.nan, 0.72, 0.5, 0.49, 0.5, math.inf, 0.6, 0.6]
LOSSES += [0.6] * 20


@pytest.mark.parametrize(
    "spec",
    [
        spec_of("plateau"),
        spec_of("plateau", factor=0.5, patience=2, threshold=0.02, cooldown=1),
        spec_of("plateau", warmup=0.1, start=0.2, patience=0, threshold_mode="abs", cooldown=2),
        spec_of("plateau", factor=0.3, patience=1, min_ratio=0.05),
        spec_of("plateau", factor=0.9, patience=0, threshold=0.0),
    ],
    ids=case_id,
)
@pytest.mark.parametrize("mode", ["min", "max"])
def test_plateau_reduces_as_lrsearch_does(spec: ScheduleSpec, mode: str) -> None:
    metrics = LOSSES if mode == "min" else [-x for x in LOSSES]
    namespace = load(pytorch_snippet(spec, metric_mode=mode))
    assert inspect.signature(namespace["make_scheduler"]).parameters["mode"].default == mode
    for total, every in ((340, 10), (35, 1), (7, 3)):
        expected = expected_plateau_lrs(spec, total, metrics, every, mode)
        got = run_lrs(namespace, total, metrics=metrics, every=every)
        assert got == [approx(x) for x in expected], (total, every)
    # With the default metrics the long run must really reduce (the test tests something).
    assert min(expected_plateau_lrs(spec, 340, metrics, 10, mode)) < spec.lr * 0.99


def test_the_snippets_plateau_rules_are_plateau_states_own_source() -> None:
    source = pytorch_snippet(spec_of("plateau", warmup=0.1))  # warmup needs budget_steps
    for method in (PlateauState.observe, PlateauState._is_better):
        assert inspect.getsource(method) in source
    assert inspect.getsource(budget_steps).strip() in source  # the one rounding rule, too


def test_plateau_mode_can_be_overridden_and_is_checked() -> None:
    spec = spec_of("plateau", patience=0)
    namespace = load(pytorch_snippet(spec))  # metric_mode defaults to "min"
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = namespace["make_scheduler"](optimizer, 100, mode="max")
    for accuracy in (0.5, 0.4):  # worse in mode max: reduce at once (patience 0)
        scheduler.plateau.observe(accuracy)
    assert optimizer.param_groups[0]["lr"] == approx(LR * 0.1)
    assert scheduler.get_last_lr() == [approx(LR * 0.1)]
    with pytest.raises(ValueError, match="mode"):
        namespace["make_scheduler"](optimizer, 100, mode="up")
    with pytest.raises(ScheduleError, match="metric_mode"):
        pytorch_snippet(spec, metric_mode="up")


def test_plateau_scheduler_state_survives_a_checkpoint() -> None:
    spec = spec_of("plateau", factor=0.5, patience=1, cooldown=1)
    namespace = load(pytorch_snippet(spec))
    total, split = 60, 32  # the reduction after update 29, mid-cooldown at the split

    def make() -> tuple[torch.optim.Optimizer, Any]:
        param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.SGD([param], lr=1.0)
        return optimizer, namespace["make_scheduler"](optimizer, total)

    def advance(optimizer: torch.optim.Optimizer, scheduler: Any, steps: range) -> list[float]:
        lrs = []
        for k in steps:
            lrs.append(float(optimizer.param_groups[0]["lr"]))
            optimizer.step()
            scheduler.step()
            if (k + 1) % 5 == 0:
                scheduler.plateau.observe(LOSSES[(k + 1) // 5 - 1])
        return lrs

    optimizer, scheduler = make()
    straight = advance(optimizer, scheduler, range(total))

    optimizer, scheduler = make()
    first = advance(optimizer, scheduler, range(split))
    buffer = io.BytesIO()
    torch.save({"opt": optimizer.state_dict(), "sched": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # plain values only
    optimizer, scheduler = make()
    optimizer.load_state_dict(saved["opt"])
    scheduler.load_state_dict(saved["sched"])
    assert first + advance(optimizer, scheduler, range(split, total)) == straight
    assert min(straight) < LR  # it did reduce before the checkpoint was taken
    assert min(first) < LR


# --------------------------------------------------------------------------- the source


@pytest.mark.parametrize("spec", CASES, ids=case_id)
def test_the_snippet_is_self_contained(spec: ScheduleSpec) -> None:
    source = pytorch_snippet(spec, total_steps=500, title="best trial 17 of study X")
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported <= {"math", "torch"}
    assert "import lrsearch" not in source and "from lrsearch" not in source
    code_lines = [line for line in source.splitlines() if not line.startswith("#")]
    assert not any("lrsearch" in line for line in code_lines)  # only the header names it
    compile(source, "<snippet>", "exec")
    namespace = load(source)
    assert namespace["PEAK_LR"] == spec.lr
    assert namespace["TOTAL_STEPS"] == 500
    for name, value in spec.params.items():  # the constants emitted are the exact values
        if name.upper() in namespace:
            assert namespace[name.upper()] == value
    if spec.warmup_fraction > 0.0:
        assert namespace["WARMUP_FRACTION"] == spec.warmup_fraction
        assert namespace["WARMUP_START_FACTOR"] == spec.warmup_start_factor


def test_the_header_names_the_family_parameters_title_and_usage() -> None:
    spec = spec_of("cosine", warmup=0.05, final_ratio=0.01)
    source = pytorch_snippet(spec, total_steps=1000, title="best trial 17 of study X")
    header = source.split("\nimport", 1)[0]
    assert all(line.startswith("#") or not line for line in header.splitlines())
    assert header.startswith("# best trial 17 of study X\n")
    assert "'cosine'" in header and "final_ratio = 0.01" in header and "0.05" in header
    assert "scheduler = make_scheduler(optimizer, total_steps=TOTAL_STEPS)" in header
    assert "scheduler.step()" in header
    assert "\nTOTAL_STEPS = 1000" in source

    bare = pytorch_snippet(spec_of("constant"), title="line one\nline two")
    assert bare.startswith("# line one\n# line two\n")
    assert "TOTAL_STEPS" not in bare
    assert "import math" not in bare  # nothing in it needs math
    assert "budget_steps" not in bare

    plateau = pytorch_snippet(spec_of("plateau"), metric_mode="max")
    assert "scheduler.plateau.observe(val_metric)" in plateau
    assert 'mode: str = "max"' in plateau


def test_only_the_chosen_options_are_emitted() -> None:
    triangular = pytorch_snippet(spec_of("cyclic", mode="triangular"))
    assert "DECAY_RATIO =" not in triangular and "0.5 ** (cycle" not in triangular
    triangular2 = pytorch_snippet(spec_of("cyclic", mode="triangular2"))
    assert "DECAY_RATIO =" not in triangular2 and "0.5 ** (cycle - 1)" in triangular2
    assert "DECAY_RATIO ** (s / T)" in pytorch_snippet(spec_of("cyclic", mode="exp_range"))

    linear = pytorch_snippet(spec_of("one_cycle", anneal="linear", phases="two"))
    assert "math.cos" not in linear and "2.0 * PCT_START" not in linear
    assert "math.cos" in pytorch_snippet(spec_of("one_cycle"))

    equal = pytorch_snippet(spec_of("cosine_restarts"))
    assert "period_of" not in equal and "PERIOD_MULT" not in equal and "PEAK_MULT" not in equal
    growing = pytorch_snippet(spec_of("cosine_restarts", period_mult=1.5, peak_mult=0.5))
    assert "def period_of" in growing and "PEAK_MULT**restart" in growing

    assert "WARMUP" not in pytorch_snippet(spec_of("cosine"))
    assert "1.0 - math.sqrt(progress)" in pytorch_snippet(spec_of("wsd", decay_shape="1-sqrt"))


def test_floats_round_trip_exactly() -> None:
    spec = spec_of("cosine", warmup=0.1 + 0.2, final_ratio=1 / 3)
    spec = ScheduleSpec.create("cosine", 1 / 7, spec.params, spec.warmup_fraction, 1e-300)
    namespace = load(pytorch_snippet(spec))
    assert namespace["PEAK_LR"] == 1 / 7
    assert namespace["FINAL_RATIO"] == 1 / 3
    assert namespace["WARMUP_FRACTION"] == 0.1 + 0.2
    assert namespace["WARMUP_START_FACTOR"] == 1e-300


@pytest.mark.parametrize("total_steps", [0, -3, 2.5, True, 10**9])
def test_a_bad_total_steps_is_an_error(total_steps: Any) -> None:
    with pytest.raises(ScheduleError, match="total_steps"):
        pytorch_snippet(spec_of("cosine"), total_steps=total_steps)


def test_make_scheduler_replaces_an_earlier_initial_lr() -> None:
    spec = spec_of("linear", final_ratio=0.5)
    namespace = load(pytorch_snippet(spec))
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)  # sets initial_lr = 1.0
    namespace["make_scheduler"](optimizer, 10)
    assert optimizer.param_groups[0]["lr"] == approx(LR)
    assert optimizer.param_groups[0]["initial_lr"] == LR


# --------------------------------------------------------------------------- param groups
# make_scheduler keeps the ratios between param groups, as torch's schedulers (and SpecLR) do:
# the group(s) with the largest initial LR follow the curve, the others a fixed share of it.

GROUP_CASES = [
    spec_of("cosine", warmup=0.1, final_ratio=0.01),
    spec_of("step", interval=0.25, gamma=0.5),
    spec_of("one_cycle", phases="three"),
    spec_of("cyclic", warmup=0.05, start=0.2, mode="triangular2"),
    spec_of("wsd", decay_shape="1-sqrt"),
]


def group_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    return [float(group["lr"]) for group in optimizer.param_groups]


def two_groups(head: float, backbone: float) -> torch.optim.Optimizer:
    params = [torch.zeros(1, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    return torch.optim.SGD(
        [{"params": [params[0]]}, {"params": [params[1]], "lr": backbone}], lr=head
    )


@pytest.mark.parametrize("spec", GROUP_CASES, ids=case_id)
def test_make_scheduler_keeps_the_ratio_between_param_groups(spec: ScheduleSpec) -> None:
    namespace = load(pytorch_snippet(spec))
    total = 100
    optimizer = two_groups(head=2.0, backbone=0.5)  # the backbone at a quarter of the head
    scheduler = namespace["make_scheduler"](optimizer, total)
    assert [group["initial_lr"] for group in optimizer.param_groups] == [LR, LR * 0.25]
    for k, expected in enumerate(curve(spec, total).tolist()):
        head, backbone = group_lrs(optimizer)
        assert head == approx(expected), k  # the largest group follows the curve exactly
        assert backbone == approx(0.25 * expected), k  # the other one a quarter of it
        optimizer.step()
        scheduler.step()


def test_the_plateau_scheduler_keeps_the_ratio_through_reductions() -> None:
    spec = spec_of("plateau", warmup=0.1, factor=0.5, patience=0)
    namespace = load(pytorch_snippet(spec))
    total = 40
    optimizer = two_groups(head=0.1, backbone=1.0)  # here the second group is the largest
    scheduler = namespace["make_scheduler"](optimizer, total)
    state = PlateauState.for_spec(spec.lr, spec.params, "min")
    for k, base in enumerate(curve(spec, total).tolist()):
        head, backbone = group_lrs(optimizer)
        assert backbone == approx(base * state.scale), k
        assert head == approx(0.1 * backbone), k
        optimizer.step()
        scheduler.step()
        if (k + 1) % 5 == 0:
            scheduler.plateau.observe(LOSSES[(k + 1) // 5 - 1])
            state.observe(LOSSES[(k + 1) // 5 - 1])
    assert state.scale < 1.0  # it did reduce


def test_make_scheduler_takes_ratios_from_initial_lr_and_groups_at_zero() -> None:
    spec = spec_of("linear", final_ratio=0.5)
    namespace = load(pytorch_snippet(spec))
    optimizer = two_groups(head=1.0, backbone=0.1)
    for group, initial in zip(optimizer.param_groups, (1.0, 0.5), strict=True):
        group["initial_lr"] = initial  # as a loaded optimizer state has it, its lr decayed
    namespace["make_scheduler"](optimizer, 10)
    assert group_lrs(optimizer) == [approx(LR), approx(LR * 0.5)]

    frozen = two_groups(head=1.0, backbone=0.0)  # a group at 0 stays at 0
    namespace["make_scheduler"](frozen, 10)
    assert group_lrs(frozen) == [approx(LR), 0.0]
    at_zero = two_groups(head=0.0, backbone=0.0)  # all at 0: all follow the curve
    namespace["make_scheduler"](at_zero, 10)
    assert group_lrs(at_zero) == [approx(LR), approx(LR)]
