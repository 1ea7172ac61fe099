"""The registry of schedule families: name -> Family.

A :class:`Family` is a pure, vectorized function of the step: given an integer array of steps
(counted from the end of warmup, already clipped to ``[0, total]``) and the number of steps
after warmup, it returns the LR as a multiple of the peak LR. Families never see torch or the
optimizer; the training loop owns the step count and passes it in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lrsearch.errors import ScheduleError
from lrsearch.schedules.params import Param, ParamValue

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FactorFn = Callable[[IntArray, int, Mapping[str, ParamValue]], FloatArray]
CheckFn = Callable[[str, Mapping[str, ParamValue]], None]


@dataclass(frozen=True)
class Family:
    """A schedule family: its name, parameters, curve and twins in other libraries."""

    name: str
    summary: str
    params: tuple[Param, ...]
    factors: FactorFn
    twins: tuple[str, ...] = ()
    adaptive: bool = False  # needs the validation metric (reduce-on-plateau)
    check: CheckFn | None = None  # constraints between parameters, beyond each one's range

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def defaults(self) -> dict[str, ParamValue]:
        return {p.name: p.default for p in self.params}


_REGISTRY: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family to the registry; names are unique."""
    if family.name in _REGISTRY:
        raise ValueError(f"schedule family {family.name!r} is already registered")
    _REGISTRY[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The family called ``name``, or ScheduleError listing the known names."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):  # TypeError: an unhashable "name" such as a list
        known = ", ".join(_REGISTRY)
        raise ScheduleError(
            "family", f"unknown family {name!r}: known families are {known}"
        ) from None


def families() -> tuple[Family, ...]:
    """All registered families, in registration order (simple ones first)."""
    return tuple(_REGISTRY.values())


def family_names() -> tuple[str, ...]:
    return tuple(f.name for f in families())


def budget_steps(fraction: float, total: int, minimum: int = 1) -> int:
    """Round a fraction of a budget of ``total`` steps to a whole number of steps.

    Rounds half up, then clamps to ``[minimum, total]`` (``minimum`` is 1 for periods and
    intervals, 0 for warmup). Example: ``budget_steps(0.3, 1000) == 300``.
    """
    steps = math.floor(fraction * total + 0.5)
    return max(minimum, min(total, steps)) if total >= minimum else total
