"""Typed, bounded parameters of schedule families, and their validation.

A :class:`Param` says what one parameter of a family is: its kind, default, allowed range and
whether a search should explore it on a log scale. Validation turns raw values (from JSON, TOML
or the command line) into clean Python values, or raises :class:`ScheduleError` naming the
field, the value and the allowed range.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from lrsearch.errors import ScheduleError

ParamKind = Literal["float", "int", "choice", "fractions", "floats"]
ParamValue = float | int | str | tuple[float, ...]


@dataclass(frozen=True)
class Param:
    """One parameter of a schedule family.

    ``low``/``high`` bound numbers (and every element of a ``fractions``/``floats`` list);
    ``low_open``/``high_open`` say whether the bound itself is excluded.
    ``search_low``/``search_high`` narrow the range a search explores by default (the full
    range may be unbounded or include degenerate values such as a final ratio of 0).
    """

    name: str
    kind: ParamKind
    default: ParamValue
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    log: bool = False
    search_low: float | None = None
    search_high: float | None = None

    def range_text(self) -> str:
        """The allowed values, as a user reads them: ``in (0, 1]``, ``>= 1``, ``one of a, b``."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        bounds = _interval_text(self.low, self.high, self.low_open, self.high_open)
        if self.kind == "fractions":
            return f"strictly increasing numbers {bounds}"
        if self.kind == "floats":
            return f"a non-empty list of numbers {bounds}"
        if self.kind == "int":
            return f"an integer {bounds}"
        return bounds

    def validate(self, value: object, field: str) -> ParamValue:
        """Return ``value`` converted to this parameter's type, or raise ScheduleError."""
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise ScheduleError(field, f"{value!r} is not allowed: must be {self.range_text()}")
            return value
        if self.kind in ("fractions", "floats"):
            return self._validate_list(value, field)
        number = _as_number(value, field, integer=self.kind == "int")
        self._check_bounds(number, field)
        return number

    def _validate_list(self, value: object, field: str) -> tuple[float, ...]:
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
            raise ScheduleError(field, f"{value!r} is not allowed: must be {self.range_text()}")
        items = tuple(float(_as_number(v, f"{field}[{i}]")) for i, v in enumerate(value))
        for i, item in enumerate(items):
            self._check_bounds(item, f"{field}[{i}]")
        if self.kind == "fractions" and any(b <= a for a, b in itertools.pairwise(items)):
            raise ScheduleError(field, f"{list(items)} is not allowed: must be {self.range_text()}")
        return items

    def _check_bounds(self, number: float, field: str) -> None:
        too_low = self.low is not None and (
            number < self.low or (self.low_open and number == self.low)
        )
        too_high = self.high is not None and (
            number > self.high or (self.high_open and number == self.high)
        )
        if too_low or too_high:
            raise ScheduleError(field, f"{number!r} is out of range: must be {self.range_text()}")


def _as_number(value: object, field: str, integer: bool = False) -> float | int:
    """Accept ints and floats (and numeric strings from the command line); reject the rest."""
    if isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise ScheduleError(field, f"{value!r} is not {kind}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "an integer" if integer else "a number"
        raise ScheduleError(field, f"{value!r} is not {kind}")
    if not math.isfinite(value):
        raise ScheduleError(field, f"{value!r} is not a finite number")
    if integer:
        if value != int(value):
            raise ScheduleError(field, f"{value!r} is not an integer")
        return int(value)
    return float(value) + 0.0  # + 0.0 turns -0.0 into 0.0: equal specs hash equal


def _interval_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "any number"
    if high is None:
        return f"{'>' if low_open else '>='} {_num(low)}"
    if low is None:
        return f"{'<' if high_open else '<='} {_num(high)}"
    return f"in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"


def _num(x: float | None) -> str:
    assert x is not None
    return str(int(x)) if float(x).is_integer() else repr(x)


# Parameters shared by several families, and the shapes most parameters take, defined once.

Ends = Literal["[]", "(]", "[)", "()"]


def ratio(
    name: str,
    default: float,
    help: str,
    ends: Ends = "[]",
    *,
    log: bool = False,
    search: tuple[float, float] | None = None,
) -> Param:
    """A number between 0 and 1: a ratio of LRs or a fraction of the budget.

    ``ends`` says which bounds are allowed, as an interval is written: ``"(]"`` is ``0 < x <= 1``.
    ``search`` narrows the range a search explores (default: the whole range).
    """
    low, high = search if search is not None else (None, None)
    return Param(
        name,
        "float",
        default,
        help,
        low=0.0,
        high=1.0,
        low_open=ends[0] == "(",
        high_open=ends[1] == ")",
        log=log,
        search_low=low,
        search_high=high,
    )


def final_ratio(default: float, help: str = "final LR / peak LR", ends: Ends = "[]") -> Param:
    return ratio("final_ratio", default, help, ends, log=True, search=(1e-4, 0.5))


def gamma(default: float, help: str) -> Param:
    return ratio("gamma", default, help, "()", search=(0.05, 0.9))


def fraction(name: str, default: float, help: str, low: float = 0.0, high: float = 1.0) -> Param:
    """A time parameter: a fraction of the (post-warmup) budget, in (0, 1]."""
    return ratio(name, default, help, "(]", search=(low or 0.01, high))


def fractions(name: str, default: tuple[float, ...], help: str) -> Param:
    """Strictly increasing points in time, as fractions of the budget strictly inside (0, 1)."""
    return Param(name, "fractions", default, help, low=0.0, high=1.0, low_open=True, high_open=True)


def choice(name: str, default: str, help: str, choices: tuple[str, ...]) -> Param:
    return Param(name, "choice", default, help, choices=choices)


def count(name: str, default: int, help: str, search_high: int) -> Param:
    """A number of validations (epochs), from 0 to 1000."""
    return Param(
        name, "int", default, help, low=0, high=1000, search_low=0, search_high=search_high
    )


# Typed access to validated parameter values, for the family functions.


def get_float(p: Mapping[str, ParamValue], name: str) -> float:
    value = p[name]
    assert isinstance(value, int | float)
    return float(value)


def get_floats(p: Mapping[str, ParamValue], name: str) -> tuple[float, ...]:
    value = p[name]
    assert isinstance(value, tuple)
    return value


def get_str(p: Mapping[str, ParamValue], name: str) -> str:
    value = p[name]
    assert isinstance(value, str)
    return value
