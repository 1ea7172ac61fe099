"""ScheduleSpec: a family, its parameters, the peak LR and an optional linear warmup.

A spec is validated when it is made, so a ScheduleSpec that exists is a valid one. Its JSON form
holds every parameter, so a stored spec renders the same curve even if defaults change later:

>>> spec = ScheduleSpec.create("cosine", lr=0.1, params={"final_ratio": 0.01})
>>> ScheduleSpec.from_json(spec.to_json()) == spec
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lrsearch.errors import ScheduleError
from lrsearch.schedules.params import ParamValue
from lrsearch.schedules.registry import Family, get_family

_KEYS = ("family", "lr", "params", "warmup")
_WARMUP_KEYS = ("fraction", "start_factor")


@dataclass(frozen=True)
class ScheduleSpec:
    """A complete, validated learning-rate schedule.

    ``lr`` is the peak LR; the family's curve is a multiple of it. ``warmup_fraction`` of the
    budget (rounded to whole steps) rises linearly from ``warmup_start_factor * lr`` to ``lr``
    before the family starts; the family's own time fractions are of the budget that remains.
    """

    family: str
    lr: float
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    warmup_fraction: float = 0.0
    warmup_start_factor: float = 0.0

    def __post_init__(self) -> None:
        fam = get_family(self.family)
        object.__setattr__(self, "lr", _positive(self.lr, "lr"))
        object.__setattr__(self, "params", _validate_params(fam, self.params))
        wf = _number(self.warmup_fraction, "warmup.fraction")
        if not 0.0 <= wf < 1.0:
            raise ScheduleError("warmup.fraction", f"{wf!r} is out of range: must be in [0, 1)")
        sf = _number(self.warmup_start_factor, "warmup.start_factor")
        if not 0.0 <= sf <= 1.0:
            raise ScheduleError("warmup.start_factor", f"{sf!r} is out of range: must be in [0, 1]")
        object.__setattr__(self, "warmup_fraction", wf)
        object.__setattr__(self, "warmup_start_factor", sf)

    @classmethod
    def create(
        cls,
        family: str,
        lr: float,
        params: Mapping[str, Any] | None = None,
        warmup_fraction: float = 0.0,
        warmup_start_factor: float = 0.0,
    ) -> ScheduleSpec:
        """A spec with the family's defaults for every parameter not given."""
        fam = get_family(family)
        merged = {**fam.defaults, **(params or {})}
        return cls(family, lr, merged, warmup_fraction, warmup_start_factor)

    def __hash__(self) -> int:
        return hash(self.to_json())

    @property
    def adaptive(self) -> bool:
        """True for families that also need the validation metric (reduce-on-plateau)."""
        return get_family(self.family).adaptive

    def to_dict(self) -> dict[str, Any]:
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}
        return {
            "family": self.family,
            "lr": self.lr,
            "params": params,
            "warmup": {"fraction": self.warmup_fraction, "start_factor": self.warmup_start_factor},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, complete: bool = False) -> ScheduleSpec:
        """Build a spec from its dict form.

        Missing parameters take the family's defaults, unless ``complete`` is set (for stored
        specs, which must name every parameter): then a missing one is an error.
        """
        if not isinstance(data, Mapping):
            raise ScheduleError("schedule", f"must be an object, not {type(data).__name__}")
        _reject_unknown(data, _KEYS, "", "fields are")
        for key in ("family", "lr"):
            if key not in data:
                raise ScheduleError(key, "is missing")
        if not isinstance(data["family"], str):
            raise ScheduleError("family", f"{data['family']!r} is not a family name")
        params = {} if data.get("params") is None else data["params"]
        if not isinstance(params, Mapping):
            raise ScheduleError("params", "must be an object of parameter values")
        if complete:
            fam = get_family(data["family"])
            for p in fam.params:
                if p.name not in params:
                    raise ScheduleError(f"{fam.name}.{p.name}", "is missing")
        warmup = {} if data.get("warmup") is None else data["warmup"]
        if not isinstance(warmup, Mapping):
            raise ScheduleError("warmup", "must be an object with fraction and start_factor")
        _reject_unknown(warmup, _WARMUP_KEYS, "warmup.", "fields are")
        return cls.create(
            data["family"],
            data["lr"],
            params,
            warmup.get("fraction", 0.0),
            warmup.get("start_factor", 0.0),
        )

    @classmethod
    def from_json(cls, text: str) -> ScheduleSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScheduleError("schedule", f"is not valid JSON: {exc}") from None
        return cls.from_dict(data, complete=True)


def _validate_params(fam: Family, params: Mapping[str, Any]) -> dict[str, ParamValue]:
    if not isinstance(params, Mapping):
        raise ScheduleError(f"{fam.name}", "params must be an object of parameter values")
    names = tuple(p.name for p in fam.params)
    _reject_unknown(
        params, names, f"{fam.name}.", "parameters are", noun="parameter", family=fam.name
    )
    clean: dict[str, ParamValue] = {}
    for p in fam.params:
        if p.name not in params:
            raise ScheduleError(f"{fam.name}.{p.name}", "is missing")
        clean[p.name] = p.validate(params[p.name], f"{fam.name}.{p.name}")
    if fam.check is not None:
        fam.check(fam.name, clean)
    return clean


def _reject_unknown(
    data: Mapping[str, Any],
    known: tuple[str, ...],
    prefix: str,
    what: str,
    noun: str = "field",
    family: str = "",
) -> None:
    for key in data:
        if key not in known:
            owner = f" of family {family!r}" if family else ""
            listed = ", ".join(known) if known else "none"
            raise ScheduleError(f"{prefix}{key}", f"unknown {noun}{owner}: {what} {listed}")


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScheduleError(field, f"{value!r} is not a number")
    if not math.isfinite(value):
        raise ScheduleError(field, f"{value!r} is not a finite number")
    return float(value) + 0.0  # + 0.0 turns -0.0 into 0.0: equal specs hash equal


def _positive(value: object, field: str) -> float:
    number = _number(value, field)
    if number <= 0.0:
        raise ScheduleError(field, f"{number!r} is out of range: must be > 0")
    return number
