"""Validation of ScheduleSpec: every bad input is a ScheduleError naming field, value and range.

Parameter cases are generated from the registry, so a new family's parameters are covered
without editing this file; explicit cases below pin the exact range texts.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from lrsearch.errors import LRSearchError, ScheduleError
from lrsearch.schedules import (
    Param,
    ScheduleSpec,
    curve,
    families,
    family_names,
    get_family,
    lr_at,
)
from lrsearch.schedules.curve import MAX_STEPS

ALL = family_names()


@contextmanager
def raises(field: str, *fragments: str) -> Iterator[None]:
    """Expect a ScheduleError on ``field`` whose message holds every fragment."""
    with pytest.raises(ScheduleError) as info:
        yield
    err = info.value
    message = str(err)
    assert err.field == field, message
    assert message.startswith(f"{field}: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)
    assert issubclass(ScheduleError, LRSearchError)


# --------------------------------------------------------------------------- parameter ranges


def _outside(p: Param) -> list[float | int]:
    """Values just outside each finite end of a numeric range."""
    step = 1 if p.kind == "int" else 1e-9
    values: list[float | int] = []
    if p.low is not None:
        values.append(p.low if p.low_open else p.low - step)
    if p.high is not None:
        values.append(p.high if p.high_open else p.high + step)
    return values


def _out_of_range_cases() -> list[Any]:
    cases = []
    for fam in families():
        for p in fam.params:
            if p.kind == "choice":
                continue
            for value in _outside(p):
                if p.kind in ("fractions", "floats"):
                    assert isinstance(p.default, tuple)
                    bad: object = (value, *p.default[1:])
                    field = f"{fam.name}.{p.name}[0]"
                else:
                    bad, field = value, f"{fam.name}.{p.name}"
                cases.append(pytest.param(fam.name, p, bad, field, value, id=f"{field}={value}"))
    return cases


@pytest.mark.parametrize(("family", "param", "bad", "field", "value"), _out_of_range_cases())
def test_value_just_outside_the_range(
    family: str, param: Param, bad: object, field: str, value: float
) -> None:
    with raises(field, f"{family}.{param.name}", repr(value), param.range_text()):
        ScheduleSpec.create(family, 0.1, {param.name: bad})


@pytest.mark.parametrize("family", ALL)
def test_every_numeric_parameter_has_a_tested_bound(family: str) -> None:
    for p in get_family(family).params:
        if p.kind != "choice":
            assert _outside(p), f"{family}.{p.name} is unbounded on both sides"


@pytest.mark.parametrize("family", ALL)
def test_values_at_closed_bounds_are_accepted(family: str) -> None:
    for p in get_family(family).params:
        if p.kind in ("choice", "fractions", "floats"):
            continue
        for bound, is_open in ((p.low, p.low_open), (p.high, p.high_open)):
            if bound is not None and not is_open:
                spec = ScheduleSpec.create(family, 0.1, {p.name: bound})
                assert spec.params[p.name] == bound


@pytest.mark.parametrize(
    ("family", "name", "value", "range_text"),
    [
        ("step", "gamma", 1.0, "in (0, 1)"),
        ("step", "gamma", 0.0, "in (0, 1)"),
        ("step", "interval", 0.0, "in (0, 1]"),
        ("step", "interval", 1.5, "in (0, 1]"),
        ("cosine", "final_ratio", -0.01, "in [0, 1]"),
        ("exponential", "final_ratio", 0.0, "in (0, 1]"),
        ("keras_decay", "decay", -1e-06, ">= 0"),
        ("polynomial", "power", 10.5, "in (0, 10]"),
        ("cosine_restarts", "period_mult", 0.5, "in [1, 10]"),
        ("cyclic", "min_ratio", 1.0, "in [0, 1)"),
        ("one_cycle", "pct_start", 1.0, "in (0, 1)"),
        ("plateau", "patience", -1, "an integer in [0, 1000]"),
        ("plateau", "cooldown", 1001, "an integer in [0, 1000]"),
    ],
)
def test_range_texts(family: str, name: str, value: float, range_text: str) -> None:
    field = f"{family}.{name}"
    with raises(field, f"{value!r} is out of range: must be {range_text}"):
        ScheduleSpec.create(family, 0.1, {name: value})


@pytest.mark.parametrize(
    ("family", "params", "field", "fragment"),
    [
        ("multistep", {"milestones": (0.5, 1.0)}, "multistep.milestones[1]", "1.0"),
        ("multistep", {"milestones": (0.0, 0.5)}, "multistep.milestones[0]", "0.0"),
        ("multistep", {"milestones": (0.5, 0.5)}, "multistep.milestones", "[0.5, 0.5]"),
        ("multistep", {"milestones": (0.75, 0.5)}, "multistep.milestones", "[0.75, 0.5]"),
        ("multistep", {"milestones": ()}, "multistep.milestones", "()"),
        (
            "piecewise_constant",
            {"boundaries": (0.6, 0.3)},
            "piecewise_constant.boundaries",
            "[0.6, 0.3]",
        ),
        (
            "piecewise_constant",
            {"boundaries": (0.3, 0.3)},
            "piecewise_constant.boundaries",
            "[0.3, 0.3]",
        ),
        (
            "piecewise_constant",
            {"factors": (1.0, 0.0, 0.1)},
            "piecewise_constant.factors[1]",
            "0.0",
        ),
        (
            "piecewise_constant",
            {"factors": (1.0, 0.1, 1000.5)},
            "piecewise_constant.factors[2]",
            "1000.5",
        ),
    ],
)
def test_bad_lists(family: str, params: dict[str, Any], field: str, fragment: str) -> None:
    (name,) = params
    with raises(field, fragment, get_family(family).param(name).range_text()):
        ScheduleSpec.create(family, 0.1, params)


def test_increasing_text() -> None:
    with raises("multistep.milestones", "strictly increasing numbers in (0, 1)"):
        ScheduleSpec.create("multistep", 0.1, {"milestones": [0.5, 0.5]})


@pytest.mark.parametrize(
    ("boundaries", "factors", "count", "needed"),
    [((0.5,), (1.0, 0.1, 0.01), 3, 2), ((0.2, 0.4, 0.6), (1.0, 0.1), 2, 4), ((0.5,), (1.0,), 1, 2)],
)
def test_piecewise_factor_count(
    boundaries: tuple[float, ...], factors: tuple[float, ...], count: int, needed: int
) -> None:
    with raises("piecewise_constant.factors", f"has {count} values", f"({needed})"):
        ScheduleSpec.create(
            "piecewise_constant", 0.1, {"boundaries": boundaries, "factors": factors}
        )
    ok = ScheduleSpec.create(
        "piecewise_constant", 0.1, {"boundaries": boundaries, "factors": (1.0,) * needed}
    )
    assert len(ok.params["factors"]) == needed  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parameter types


@pytest.mark.parametrize(
    ("family", "name", "value", "fragment"),
    [
        ("cosine", "final_ratio", [0.1], "is not a number"),
        ("cosine", "final_ratio", {"v": 0.1}, "is not a number"),
        ("cosine", "final_ratio", None, "is not a number"),
        ("cosine", "final_ratio", True, "is not a number"),
        ("cosine", "final_ratio", "abc", "is not a number"),
        ("cosine", "final_ratio", math.nan, "is not a finite number"),
        ("cosine", "final_ratio", math.inf, "is not a finite number"),
        ("cosine", "final_ratio", "nan", "is not a finite number"),
        ("plateau", "patience", 2.5, "is not an integer"),
        ("plateau", "patience", "2.5", "is not an integer"),
        ("plateau", "patience", False, "is not an integer"),
        ("cyclic", "mode", 1, "must be one of triangular, triangular2, exp_range"),
        ("cyclic", "mode", "Triangular", "must be one of triangular, triangular2, exp_range"),
        ("cyclic", "mode", None, "must be one of"),
        ("one_cycle", "phases", 2, "must be one of two, three"),
        ("multistep", "milestones", 0.5, "strictly increasing numbers in (0, 1)"),
        ("multistep", "milestones", "0.5,0.75", "strictly increasing numbers in (0, 1)"),
        ("multistep", "milestones", {"a": 0.5}, "strictly increasing numbers in (0, 1)"),
        ("piecewise_constant", "factors", 1.0, "a non-empty list of numbers in (0, 1000]"),
    ],
)
def test_wrong_types(family: str, name: str, value: object, fragment: str) -> None:
    with raises(f"{family}.{name}", fragment):
        ScheduleSpec.create(family, 0.1, {name: value})


def test_list_items_must_be_numbers() -> None:
    with raises("multistep.milestones[1]", "is not a number"):
        ScheduleSpec.create("multistep", 0.1, {"milestones": [0.5, None]})
    with raises("multistep.milestones[0]", "is not a number"):
        ScheduleSpec.create("multistep", 0.1, {"milestones": [True, 0.5]})
    with raises("multistep.milestones[0]", "is not a finite number"):
        ScheduleSpec.create("multistep", 0.1, {"milestones": [math.nan]})


def test_conversions() -> None:
    # numeric strings (from the command line) and whole floats for ints are accepted
    spec = ScheduleSpec.create("plateau", 0.1, {"patience": 3.0, "cooldown": "2", "factor": "0.5"})
    assert spec.params["patience"] == 3
    assert type(spec.params["patience"]) is int
    assert spec.params["cooldown"] == 2
    assert spec.params["factor"] == 0.5
    assert type(spec.params["factor"]) is float
    spec = ScheduleSpec.create("cosine", 1, {"final_ratio": 0})
    assert type(spec.lr) is float
    assert type(spec.params["final_ratio"]) is float
    spec = ScheduleSpec.create("multistep", 0.1, {"milestones": [0.25, "0.5"]})
    assert spec.params["milestones"] == (0.25, 0.5)


# --------------------------------------------------------------------------- family and names


@pytest.mark.parametrize("name", ["cosin", "Cosine", "", 3, None])
def test_unknown_family(name: object) -> None:
    with raises("family", f"unknown family {name!r}", *ALL):
        ScheduleSpec.create(name, 0.1)  # type: ignore[arg-type]
    with raises("family", f"unknown family {name!r}"):
        get_family(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [["cosine"], {"name": "cosine"}])
def test_unhashable_family_is_a_schedule_error(name: object) -> None:
    with pytest.raises(ScheduleError):
        ScheduleSpec.create(name, 0.1)  # type: ignore[arg-type]


def test_unknown_parameter() -> None:
    with raises(
        "cosine.final_ration", "unknown parameter of family 'cosine'", "parameters are final_ratio"
    ):
        ScheduleSpec.create("cosine", 0.1, {"final_ration": 0.1})
    with raises("constant.gamma", "parameters are none"):
        ScheduleSpec.create("constant", 0.1, {"gamma": 0.1})
    with raises("step.warmup", "parameters are interval, gamma"):
        ScheduleSpec.from_dict({"family": "step", "lr": 0.1, "params": {"warmup": 0.1}})


@pytest.mark.parametrize("family", ALL)
def test_missing_parameter_with_complete(family: str) -> None:
    full = ScheduleSpec.create(family, 0.1).to_dict()
    for name in full["params"]:
        data = json.loads(json.dumps(full))
        del data["params"][name]
        with raises(f"{family}.{name}", "is missing"):
            ScheduleSpec.from_json(json.dumps(data))
        with raises(f"{family}.{name}", "is missing"):
            ScheduleSpec.from_dict(data, complete=True)
        with raises(f"{family}.{name}", "is missing"):
            ScheduleSpec(family, 0.1, data["params"])
        # without complete, the default fills in
        assert ScheduleSpec.from_dict(data) == ScheduleSpec.create(family, 0.1)


# --------------------------------------------------------------------------- lr and warmup


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (0.0, "0.0 is out of range: must be > 0"),
        (0, "0.0 is out of range: must be > 0"),
        (-0.0, "is out of range: must be > 0"),
        (-0.1, "-0.1 is out of range: must be > 0"),
        (math.nan, "nan is not a finite number"),
        (math.inf, "inf is not a finite number"),
        (-math.inf, "-inf is not a finite number"),
        (True, "True is not a number"),
        ("0.1", "'0.1' is not a number"),
        (None, "None is not a number"),
        ([0.1], "[0.1] is not a number"),
    ],
)
def test_bad_lr(value: object, fragment: str) -> None:
    with raises("lr", fragment):
        ScheduleSpec.create("cosine", value)  # type: ignore[arg-type]
    with raises("lr", fragment):
        ScheduleSpec.from_dict({"family": "cosine", "lr": value})


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (-0.01, "-0.01 is out of range: must be in [0, 1)"),
        (1.0, "1.0 is out of range: must be in [0, 1)"),
        (1.5, "1.5 is out of range: must be in [0, 1)"),
        (math.nan, "is not a finite number"),
        (True, "is not a number"),
        ("0.1", "is not a number"),
    ],
)
def test_bad_warmup_fraction(value: object, fragment: str) -> None:
    with raises("warmup.fraction", fragment):
        ScheduleSpec.create("cosine", 0.1, warmup_fraction=value)  # type: ignore[arg-type]
    with raises("warmup.fraction", fragment):
        ScheduleSpec.from_dict({"family": "cosine", "lr": 0.1, "warmup": {"fraction": value}})


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (-0.01, "-0.01 is out of range: must be in [0, 1]"),
        (1.01, "1.01 is out of range: must be in [0, 1]"),
        (math.inf, "is not a finite number"),
        (None, "is not a number"),
    ],
)
def test_bad_warmup_start_factor(value: object, fragment: str) -> None:
    with raises("warmup.start_factor", fragment):
        ScheduleSpec.create("cosine", 0.1, warmup_start_factor=value)  # type: ignore[arg-type]
    with raises("warmup.start_factor", fragment):
        ScheduleSpec.from_dict(
            {"family": "cosine", "lr": 0.1, "warmup": {"fraction": 0.1, "start_factor": value}}
        )


def test_warmup_edges_are_accepted() -> None:
    for fraction, start in ((0.0, 0.0), (0.999, 1.0), (0.5, 0)):
        spec = ScheduleSpec.create("cosine", 0.1, None, fraction, start)
        assert (spec.warmup_fraction, spec.warmup_start_factor) == (fraction, start)
        assert type(spec.warmup_start_factor) is float


# --------------------------------------------------------------------------- dict and JSON form


def test_from_dict_structure_errors() -> None:
    with raises("schedule", "must be an object, not list"):
        ScheduleSpec.from_dict(["cosine", 0.1])  # type: ignore[arg-type]
    with raises("family", "is missing"):
        ScheduleSpec.from_dict({"lr": 0.1})
    with raises("lr", "is missing"):
        ScheduleSpec.from_dict({"family": "cosine"})
    with raises("family", "3 is not a family name"):
        ScheduleSpec.from_dict({"family": 3, "lr": 0.1})
    with raises("family", "is not a family name"):
        ScheduleSpec.from_dict({"family": ["cosine"], "lr": 0.1})
    with raises("params", "must be an object"):
        ScheduleSpec.from_dict({"family": "cosine", "lr": 0.1, "params": [["final_ratio", 0.1]]})
    with raises("params", "must be an object"):
        ScheduleSpec.from_dict({"family": "cosine", "lr": 0.1, "params": "final_ratio=0.1"})
    with raises("warmup", "must be an object"):
        ScheduleSpec.from_dict({"family": "cosine", "lr": 0.1, "warmup": 0.1})
    with raises("extra", "unknown field", "fields are family, lr, params, warmup"):
        ScheduleSpec.from_dict({"family": "cosine", "lr": 0.1, "extra": 1})
    with raises("warmup.steps", "unknown field", "fields are fraction, start_factor"):
        ScheduleSpec.from_dict({"family": "cosine", "lr": 0.1, "warmup": {"steps": 10}})
    with raises("schedule", "is not valid JSON"):
        ScheduleSpec.from_json("{family: cosine}")
    with raises("schedule", "must be an object, not list"):
        ScheduleSpec.from_json("[]")


@pytest.mark.parametrize("key", ["params", "warmup"])
@pytest.mark.parametrize("value", [[], "", 0, False])
def test_falsy_non_objects_are_rejected(key: str, value: object) -> None:
    with pytest.raises(ScheduleError, match=key):
        ScheduleSpec.from_dict({"family": "cosine", "lr": 0.1, key: value})


def _non_default(p: Param) -> Any:
    """A valid value for ``p`` that differs from its default."""
    if p.kind == "choice":
        return next(c for c in reversed(p.choices) if c != p.default)
    if p.kind == "fractions":
        assert isinstance(p.default, tuple)
        n = len(p.default)
        return tuple(round(0.1 + 0.8 * (i + 1) / (n + 1), 6) for i in range(n))
    if p.kind == "floats":
        assert isinstance(p.default, tuple)
        return tuple(v / 2 for v in p.default)
    low = p.search_low if p.search_low is not None else p.low
    high = p.search_high if p.search_high is not None else p.high
    assert low is not None
    assert high is not None
    if p.kind == "int":
        assert isinstance(p.default, int)
        value: float | int = p.default + 1 if p.default + 1 <= high else p.default - 1
    else:
        value = round(low + (high - low) * 0.37, 9)
    assert value != p.default
    return value


def _non_default_spec(family: str) -> ScheduleSpec:
    params = {p.name: _non_default(p) for p in get_family(family).params}
    return ScheduleSpec.create(family, 3e-4, params, 0.05, 0.1)


def _is_plain_json(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain_json(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("which", ["defaults", "non_defaults"])
def test_round_trip(family: str, which: str) -> None:
    if which == "defaults":
        spec = ScheduleSpec.create(family, 0.1)
    else:
        spec = _non_default_spec(family)
        for p in get_family(family).params:
            assert spec.params[p.name] != p.default
    data = spec.to_dict()
    assert _is_plain_json(data)
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {"family", "lr", "params", "warmup"}
    assert set(data["params"]) == {p.name for p in get_family(family).params}
    assert ScheduleSpec.from_dict(data) == spec
    assert ScheduleSpec.from_dict(data, complete=True) == spec
    text = spec.to_json()
    assert ScheduleSpec.from_json(text) == spec
    assert ScheduleSpec.from_json(text).to_json() == text
    assert json.loads(text) == data
    again = ScheduleSpec.from_json(text)
    assert hash(again) == hash(spec)
    np.testing.assert_array_equal(curve(again, 257), curve(spec, 257))


def test_to_dict_shape() -> None:
    spec = ScheduleSpec.create("multistep", 0.1, {"milestones": (0.3, 0.6), "gamma": 0.5}, 0.1, 0.2)
    assert spec.to_dict() == {
        "family": "multistep",
        "lr": 0.1,
        "params": {"milestones": [0.3, 0.6], "gamma": 0.5},
        "warmup": {"fraction": 0.1, "start_factor": 0.2},
    }
    assert spec.to_json() == (
        '{"family": "multistep", "lr": 0.1, "params": {"gamma": 0.5, "milestones": [0.3, 0.6]}, '
        '"warmup": {"fraction": 0.1, "start_factor": 0.2}}'
    )


def test_hashing_and_equality() -> None:
    a = ScheduleSpec.create("step", 1, {"gamma": 0.5, "interval": 0.25})
    b = ScheduleSpec.create("step", 1.0, {"interval": 0.25, "gamma": 0.5})
    c = ScheduleSpec("step", 1.0, {"interval": 0.25, "gamma": 0.5})
    assert a == b == c
    assert hash(a) == hash(b) == hash(c)
    assert len({a, b, c}) == 1
    other = ScheduleSpec.create("step", 1.0, {"interval": 0.25, "gamma": 0.4})
    assert other != a
    assert len({a, other}) == 2
    assert {a: "x"}[ScheduleSpec.from_json(a.to_json())] == "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.lr = 0.2  # type: ignore[misc]
    specs = {ScheduleSpec.create(name, 0.1) for name in ALL}
    assert len(specs) == len(ALL)


@pytest.mark.parametrize(
    "kwargs",
    [{"params": {"final_ratio": -0.0}}, {"warmup_fraction": -0.0}, {"warmup_start_factor": -0.0}],
)
def test_negative_zero_hashes_like_zero(kwargs: dict[str, Any]) -> None:
    a = ScheduleSpec.create("cosine", 0.1, **kwargs)
    b = ScheduleSpec.create("cosine", 0.1)
    assert a == b
    assert hash(a) == hash(b)


def test_adaptive() -> None:
    assert [name for name in ALL if ScheduleSpec.create(name, 0.1).adaptive] == ["plateau"]


# --------------------------------------------------------------------------- curve arguments


SPEC = ScheduleSpec.create("cosine", 0.1)


@pytest.mark.parametrize(
    ("total", "fragment"),
    [
        (0, "0 is out of range: must be in [1, 100000000]"),
        (-1, "-1 is out of range"),
        (MAX_STEPS + 1, "out of range"),
        (1.5, "1.5 is not an integer"),
        (10.0, "10.0 is not an integer"),
        (np.float64(10.0), "is not an integer"),
        ("10", "'10' is not an integer"),
        (True, "True is not an integer"),
        (None, "None is not an integer"),
    ],
)
def test_bad_total_steps(total: object, fragment: str) -> None:
    with raises("total_steps", fragment):
        curve(SPEC, total)  # type: ignore[arg-type]
    with raises("total_steps", fragment):
        lr_at(SPEC, 0, total)  # type: ignore[arg-type]


@pytest.mark.parametrize("step", [-1, -(10**9), 1.0, 0.5, "1", True, None, np.float64(1.0)])
def test_bad_step(step: object) -> None:
    with raises("step", "is not allowed: must be an integer >= 0"):
        lr_at(SPEC, step, 10)  # type: ignore[arg-type]


def test_numpy_integers_are_accepted() -> None:
    assert curve(SPEC, np.int32(5)).shape == (5,)
    assert lr_at(SPEC, np.int64(3), np.int64(10)) == lr_at(SPEC, 3, 10)
    assert lr_at(SPEC, np.uint8(3), 10) == lr_at(SPEC, 3, 10)


@pytest.mark.parametrize("step", [2**63, 2**70, np.uint64(2**64 - 1)])
def test_huge_step_is_clamped(step: int) -> None:
    assert lr_at(SPEC, step, 10) == lr_at(SPEC, 10, 10)
