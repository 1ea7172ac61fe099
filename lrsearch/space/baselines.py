"""Baselines: the classic schedules, run after the search so it shows what the schedule won.

With ``baselines = true`` (the default) a search runs these once its own trials are all
finished: constant, step, exponential, inverse_time, linear, polynomial ("poly", power 0.9) and
cosine, each with its usual defaults, at a fair LR: the tuned best's optimizer (with its
options), peak LR, warmup and seed, so only the decay differs. When no searched trial completed
they run at the classic LR of the spec's first optimizer (0.1 for SGD with momentum 0.9, 1e-3
for Adam-type optimizers), as :func:`baseline_configs` gives them.

They take slots of their own, added to the budget by the transaction that counts the search's
last own trial (store/baselines.py): the search's budget is all search. They are never pruned,
never enter a pruner's reference set, and carry their config as user attributes instead of
Optuna parameters: they lie outside the search space, so they must not skew its importance
and slice plots.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def baseline_count(spec: SearchSpec) -> int:
    """How many baselines a search with this spec runs after its own trials."""
    if not spec.baselines or spec.search.sampler == "grid":
        return 0  # a grid already sweeps every family at classic LRs
    return len(BASELINE_FAMILIES)


def tuned_baseline_configs(
    spec: SearchSpec, tuned: Mapping[str, Any] | None
) -> list[tuple[str, TrialConfig]]:
    """The baselines at the tuned best's optimizer, options, peak LR, warmup and seed (the
    config ``lr_best`` keeps), each with a classic decay; the classic ones without a best.

    >>> from lrsearch.spec import parse_spec
    >>> spec = parse_spec({"name": "s", "task": "digits-mlp"})
    >>> tuned = {"schedule": {"family": "constant", "lr": 0.02, "params": {},
    ...     "warmup": {"fraction": 0.05, "start_factor": 0.0}}, "optimizer": "adamw",
    ...     "optimizer_params": {"weight_decay": 0.01}, "seed": 7}
    >>> name, config = tuned_baseline_configs(spec, tuned)[6]
    >>> (name, config.schedule.lr, config.schedule.warmup_fraction, config.optimizer, config.seed)
    ('cosine', 0.02, 0.05, 'adamw', 7)
    """
    if baseline_count(spec) == 0:
        return []
    if tuned is None:
        return baseline_configs(spec)
    best = TrialConfig.from_dict(tuned)
    peak = best.schedule
    return [
        (
            family,
            TrialConfig(
                ScheduleSpec.create(
                    family,
                    peak.lr,
                    BASELINE_PARAMS.get(family),
                    warmup_fraction=peak.warmup_fraction,
                    warmup_start_factor=peak.warmup_start_factor,
                ),
                best.optimizer,
                best.optimizer_params,
                best.seed,
            ),
        )
        for family in BASELINE_FAMILIES
    ]


def baseline_configs(spec: SearchSpec) -> list[tuple[str, TrialConfig]]:
    """The baselines at the classic LR of the spec's first optimizer, as (name, config)."""
    if baseline_count(spec) == 0:
        return []
    optimizer = spec.space.optimizers[0]
    configs = []
    for i, family in enumerate(BASELINE_FAMILIES):
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
