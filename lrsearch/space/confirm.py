"""Confirmations: the search's top configs re-run on fresh seeds, so the best is not a lucky seed.

With ``[search] confirm = {top_k = 3, seeds = 3}`` a search, once its own trials are all
finished, re-runs its ``top_k`` best complete trials' configs (by value and direction) on
``seeds`` fresh seeds each: the same schedule, optimizer and options, only the seed differs.
The best is then the config with the best mean over its fresh seeds (service/confirmed.py).
The original trial's value is left out of that mean on purpose: it was picked *because* it
was high, so it is biased (the winner's curse), and only fresh seeds estimate the config's
true mean without that bias.

They take slots of their own, added to the budget by the transaction that counts the search's
last own trial, as the baselines do (store/confirmations.py). They are never pruned, never in
a pruner's reference set, and carry their config as user attributes (``confirms``: the trial
they confirm; ``confirm_seed``: which repeat; ``confirm_config``) instead of Optuna parameters,
so a lost one is queued again with the very same config.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from lrsearch.space.suggest import TrialConfig
from lrsearch.spec import SearchSpec

# User attributes of a confirmation trial: the trial it confirms, its repeat, its config.
CONFIRMS_ATTR = "confirms"
CONFIRM_SEED_ATTR = "confirm_seed"
CONFIRM_CONFIG_ATTR = "confirm_config"


def confirm_count(spec: SearchSpec) -> int:
    """How many confirmation trials a search with this spec runs after its own trials (at
    most; fewer when fewer than ``top_k`` trials completed)."""
    return spec.search.confirm.trials


def fresh_seed(seed: int, repeat: int) -> int:
    """The seed of repeat ``repeat`` of a config searched with ``seed``: a hash of both, in
    [0, 2**31), so it is none of the search's own seeds but for a 1-in-2**31 coincidence.

    >>> fresh_seed(7, 0) != fresh_seed(7, 1) != fresh_seed(8, 0)
    True
    """
    digest = hashlib.sha256(f"lrsearch-confirm:{seed}:{repeat}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def confirmation_configs(
    spec: SearchSpec, leaders: list[tuple[int, Mapping[str, Any]]]
) -> list[tuple[int, int, TrialConfig]]:
    """(trial confirmed, repeat, config) for each of the ``seeds`` repeats of each leader
    (trial number, config), in the leaders' order: the leader's config on a fresh seed.

    >>> from lrsearch.spec import parse_spec
    >>> spec = parse_spec({"name": "s", "task": "digits-mlp", "search": {"confirm": True}})
    >>> from lrsearch.schedules import ScheduleSpec
    >>> config = {"schedule": ScheduleSpec.create("cosine", 0.1).to_dict(), "optimizer": "sgd",
    ...     "optimizer_params": {"momentum": 0.9}, "seed": 5}
    >>> rows = confirmation_configs(spec, [(4, config)])
    >>> [(n, i, c.schedule.lr, c.seed == fresh_seed(5, i)) for n, i, c in rows]
    [(4, 0, 0.1, True), (4, 1, 0.1, True), (4, 2, 0.1, True)]
    """
    seeds = spec.search.confirm.seeds
    rows = []
    for number, data in leaders:
        config = TrialConfig.from_dict(data)
        for repeat in range(seeds):
            fresh = TrialConfig(
                config.schedule,
                config.optimizer,
                config.optimizer_params,
                fresh_seed(config.seed, repeat),
            )
            rows.append((number, repeat, fresh))
    return rows


def confirmation_attrs(confirms: int, repeat: int, config: TrialConfig) -> dict[str, Any]:
    """The user attributes a queued confirmation trial carries."""
    return {
        CONFIRMS_ATTR: confirms,
        CONFIRM_SEED_ATTR: repeat,
        CONFIRM_CONFIG_ATTR: config.to_dict(),
    }


def confirmation_of(user_attrs: Mapping[str, Any]) -> TrialConfig | None:
    """The config of a confirmation trial (from its user attributes), else None."""
    config = user_attrs.get(CONFIRM_CONFIG_ATTR)
    return TrialConfig.from_dict(config) if isinstance(config, dict) else None


def confirmation_key(user_attrs: Mapping[str, Any]) -> tuple[int, int] | None:
    """(trial confirmed, repeat) of a confirmation trial, else None."""
    confirms, repeat = user_attrs.get(CONFIRMS_ATTR), user_attrs.get(CONFIRM_SEED_ATTR)
    if isinstance(confirms, int) and isinstance(repeat, int):
        return confirms, repeat
    return None
