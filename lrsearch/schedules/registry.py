"""The registry of schedule families: name -> Family.

A :class:`Family` is a pure, vectorized function of the step: given an integer array of steps
(counted from the end of warmup, already clipped to ``[0, total]``) and the number of steps
after warmup, it returns the LR as a multiple of the peak LR. Families never see torch or the
optimizer; the training loop owns the step count and passes it in.

Beside that numpy function each family carries its template: the same factor as scalar Python
source (:class:`FactorCode`), which :mod:`lrsearch.schedules.codegen` assembles into a PyTorch
snippet. Both live in the family's module, next to each other, and register in one record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lrsearch.errors import ScheduleError
from lrsearch.schedules.budget import FloatArray, IntArray
from lrsearch.schedules.params import Param, ParamValue

FactorFn = Callable[[IntArray, int, Mapping[str, ParamValue]], FloatArray]
CheckFn = Callable[[str, Mapping[str, ParamValue]], None]


@dataclass(frozen=True)
class FactorCode:
    """A family's part of a PyTorch snippet: the body of ``schedule_factor(s, T)``, as source.

    The body is scalar Python over ``math`` that mirrors the family's numpy function operation
    by operation (the same order of floating-point operations), so that the values agree to the
    last bits. It reads the family's parameters as UPPER_CASE constants and may call
    ``budget_steps``. An adaptive family's helpers define ``PlateauScale(mode, on_reduce)``, the
    object whose ``scale`` multiplies the LR and whose ``observe(metric)`` the user calls.
    """

    constants: tuple[str, ...]  # parameters the code reads, emitted as UPPER_CASE constants
    body: str  # the body of schedule_factor(s, T), unindented
    helpers: str = ""  # functions and classes the code needs, emitted before schedule_factor


TemplateFn = Callable[[Mapping[str, ParamValue]], FactorCode]


@dataclass(frozen=True)
class Family:
    """A schedule family: its name, parameters, curve, template and twins in other libraries.

    ``factors`` is the curve on numpy; ``template`` writes the same curve as PyTorch-snippet
    source for a spec's parameters (only the code those parameters need).
    """

    name: str
    summary: str
    params: tuple[Param, ...]
    factors: FactorFn
    template: TemplateFn
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
    """Add a family to the registry; names are unique, and both the curve and the template
    are required."""
    if family.name in _REGISTRY:
        raise ValueError(f"schedule family {family.name!r} is already registered")
    if not callable(family.factors) or not callable(family.template):
        raise ValueError(f"schedule family {family.name!r} needs a curve and a template")
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
