"""From an Optuna trial to a TrialConfig: the conditional schedule space.

The family is chosen first; then only that family's parameters are suggested, under stable,
readable names: ``family``, ``lr``, ``optimizer``, ``warmup_fraction`` and ``<family>.<param>``
(``cosine.final_ratio``), so optuna-dashboard's slice and importance plots read naturally. TPE
handles such conditional spaces with ``multivariate=True, group=True``.

List parameters are suggested as chains of fractions so that any sample is valid:
``multistep.milestones_0`` is the first milestone's place in the budget and
``multistep.milestones_1`` the second's place in what remains after the first;
``piecewise_constant.factors_1`` is the second interval's factor relative to the first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lrsearch.schedules import Family, Param, ScheduleSpec, get_family
from lrsearch.schedules.params import ParamValue
from lrsearch.spec import SearchSpec, Space

OPTIMIZER_DEFAULTS: dict[str, dict[str, float | bool]] = {
    "sgd": {"momentum": 0.9, "nesterov": True},
    "adam": {},
    "adamw": {"weight_decay": 0.01},
    "rmsprop": {},
    "adagrad": {},
}
# one_cycle rises from a low start by itself; a warmup prefix before it is redundant.
NO_WARMUP = frozenset({"one_cycle"})


class TrialLike(Protocol):
    """The part of ``optuna.Trial`` that suggesting needs."""

    @property
    def number(self) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...
    def suggest_int(self, name: str, low: int, high: int) -> int: ...


@dataclass(frozen=True)
class TrialConfig:
    """What one trial trains with: a schedule, an optimizer and a seed."""

    schedule: ScheduleSpec
    optimizer: str
    optimizer_params: Mapping[str, float | bool] = field(default_factory=dict)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.to_dict(),
            "optimizer": self.optimizer,
            "optimizer_params": dict(self.optimizer_params),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialConfig:
        return cls(
            ScheduleSpec.from_dict(data["schedule"], complete=True),
            data["optimizer"],
            dict(data.get("optimizer_params", {})),
            int(data.get("seed", 0)),
        )


def suggest(
    trial: TrialLike,
    spec: SearchSpec,
    lr_ranges: Mapping[str, tuple[float, float]] | None = None,
) -> TrialConfig:
    """Ask the trial for a family, its parameters, a peak LR, warmup and an optimizer.

    ``lr_ranges`` (optimizer -> (low, high), from the LR range test) narrow the peak LR per
    optimizer: then the optimizer is chosen before the LR, from its own range, kept inside
    ``space.lr``.
    """
    space = spec.space
    family = get_family(trial.suggest_categorical("family", space.families))
    if lr_ranges is None:
        lr = trial.suggest_float("lr", space.lr[0], space.lr[1], log=True)
        optimizer = trial.suggest_categorical("optimizer", space.optimizers)
    else:
        optimizer = trial.suggest_categorical("optimizer", space.optimizers)
        low, high = lr_ranges.get(optimizer, space.lr)
        low, high = max(low, space.lr[0]), min(high, space.lr[1])
        lr = trial.suggest_float("lr", low, max(low, high), log=True)
    if spec.search.sampler == "grid":
        params: dict[str, ParamValue] = {}
        warmup = 0.0
    else:
        params = _suggest_params(trial, family, space.params.get(family.name, {}))
        warmup = _suggest_warmup(trial, family, space)
    schedule = ScheduleSpec.create(
        family.name,
        lr,
        params,
        warmup_fraction=warmup,
        warmup_start_factor=space.warmup_start_factor,
    )
    seed = spec.search.seed * 100_003 + trial.number
    return TrialConfig(schedule, optimizer, OPTIMIZER_DEFAULTS[optimizer], seed)


def grid_space(spec: SearchSpec) -> dict[str, list[Any]]:
    """The classic grid: every family x a log-scale LR grid (1 and 3 per decade) x optimizer.

    Family parameters stay at their defaults and there is no warmup.
    """
    low, high = spec.space.lr
    values = [
        float(f"{mantissa * 10.0**exponent:.12g}")
        for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for mantissa in (1.0, 3.0)
    ]
    lrs = [v for v in values if low * (1 - 1e-9) <= v <= high * (1 + 1e-9)] or [low]
    return {
        "family": list(spec.space.families),
        "lr": lrs,
        "optimizer": list(spec.space.optimizers),
    }


def _suggest_warmup(trial: TrialLike, family: Family, space: Space) -> float:
    low, high = space.warmup
    if family.name in NO_WARMUP or high == 0.0:
        return 0.0
    return trial.suggest_float("warmup_fraction", low, high)


def _suggest_params(
    trial: TrialLike, family: Family, settings: Mapping[str, Any]
) -> dict[str, ParamValue]:
    params: dict[str, ParamValue] = {}
    for param in family.params:
        setting = settings.get(param.name)
        if param.kind in ("fractions", "floats"):
            if setting is not None:
                params[param.name] = tuple(float(v) for v in setting)
            continue
        params[param.name] = _suggest_one(trial, f"{family.name}.{param.name}", param, setting)
    _suggest_lists(trial, family, settings, params)
    return params


def _suggest_one(trial: TrialLike, name: str, param: Param, setting: Any) -> ParamValue:
    if param.kind == "choice":
        if isinstance(setting, str):
            return setting
        choices = list(setting) if setting is not None else list(param.choices)
        return str(trial.suggest_categorical(name, choices))
    if setting is not None and not isinstance(setting, list):
        return setting  # type: ignore[no-any-return]  # fixed in the spec
    low, high = setting if setting is not None else (param.search_low, param.search_high)
    if low is None or high is None:
        return param.default
    if param.kind == "int":
        return trial.suggest_int(name, int(low), int(high))
    return trial.suggest_float(name, float(low), float(high), log=param.log and low > 0)


def _suggest_lists(
    trial: TrialLike, family: Family, settings: Mapping[str, Any], params: dict[str, ParamValue]
) -> None:
    """Milestones/boundaries as a chain of fractions; piecewise factors as a chain of ratios."""
    lists = [p for p in family.params if p.kind in ("fractions", "floats")]
    for param in lists:
        if param.name in params:
            continue
        name = f"{family.name}.{param.name}"
        if param.kind == "fractions":
            count = len(param.default) if isinstance(param.default, tuple) else 2
            fixed_factors = params.get("factors")
            if isinstance(fixed_factors, tuple):
                count = len(fixed_factors) - 1
            params[param.name] = _fraction_chain(trial, name, count)
        else:
            bounds = params.get("boundaries")
            count = len(bounds) if isinstance(bounds, tuple) else 2
            params[param.name] = _ratio_chain(trial, name, count)


def _fraction_chain(trial: TrialLike, name: str, count: int) -> tuple[float, ...]:
    points, previous = [], 0.0
    for i in range(count):
        share = trial.suggest_float(f"{name}_{i}", 0.2, 0.8)
        previous = previous + share * (1.0 - previous)
        points.append(round(previous, 6))
    return tuple(points)


def _ratio_chain(trial: TrialLike, name: str, drops: int) -> tuple[float, ...]:
    factors = [1.0]
    for i in range(1, drops + 1):
        factors.append(factors[-1] * trial.suggest_float(f"{name}_{i}", 0.05, 0.9, log=True))
    return tuple(factors)
