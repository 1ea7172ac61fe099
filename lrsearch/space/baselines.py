"""Baselines: the classic schedules at the classic LR, run first so a search shows what it won.

With ``baselines = true`` (the default) a new search enqueues these as its first trials:
constant, step, exponential, inverse_time, linear, polynomial ("poly", power 0.9) and cosine,
each with its usual defaults, at the classic LR of the spec's first optimizer (0.1 for SGD
with momentum 0.9, 1e-3 for Adam-type optimizers). They count in the trial budget, are never
pruned, and carry their config as user attributes instead of Optuna parameters: they lie
outside the search space, so they must not skew its importance and slice plots.
"""

from __future__ import annotations

from typing import Any

from lrsearch.schedules import ScheduleSpec
from lrsearch.space.suggest import TrialConfig
from lrsearch.spec import SearchSpec

BASELINE_FAMILIES = (
    "constant",
    "step",
    "exponential",
    "inverse_time",
    "linear",
    "polynomial",
    "cosine",
)
# Where a family's default is not the classic setting: poly decay is usually power 0.9.
BASELINE_PARAMS: dict[str, dict[str, Any]] = {"polynomial": {"power": 0.9}}
CLASSIC_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2}
CLASSIC_OPTIMIZER_PARAMS: dict[str, dict[str, float | bool]] = {"sgd": {"momentum": 0.9}}

# User attributes of a baseline trial: its name and the config it trains with.
BASELINE_ATTR = "baseline"
BASELINE_CONFIG_ATTR = "baseline_config"


def baseline_configs(spec: SearchSpec) -> list[tuple[str, TrialConfig]]:
    """The baselines a search with this spec runs first, as (name, config), budget permitting."""
    if not spec.baselines or spec.search.sampler == "grid":
        return []  # a grid already sweeps every family at classic LRs
    optimizer = spec.space.optimizers[0]
    configs = []
    for i, family in enumerate(BASELINE_FAMILIES[: spec.budget.trials]):
        schedule = ScheduleSpec.create(family, CLASSIC_LR[optimizer], BASELINE_PARAMS.get(family))
        params = CLASSIC_OPTIMIZER_PARAMS.get(optimizer, {})
        seed = spec.search.seed * 100_003 + i
        configs.append((family, TrialConfig(schedule, optimizer, params, seed)))
    return configs


def baseline_attrs(name: str, config: TrialConfig) -> dict[str, Any]:
    return {BASELINE_ATTR: name, BASELINE_CONFIG_ATTR: config.to_dict()}


def baseline_of(user_attrs: dict[str, Any]) -> TrialConfig | None:
    """The config of a baseline trial (from its user attributes), or None for a searched one."""
    config = user_attrs.get(BASELINE_CONFIG_ATTR)
    return TrialConfig.from_dict(config) if isinstance(config, dict) else None
