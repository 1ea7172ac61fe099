"""What Optuna may propose: a SearchSpec -> suggest(trial) -> TrialConfig; the baselines."""

from lrsearch.space.baselines import (
    baseline_attrs,
    baseline_configs,
    baseline_count,
    baseline_of,
    tuned_baseline_configs,
)
from lrsearch.space.suggest import TrialConfig, grid_space, suggest

__all__ = [
    "TrialConfig",
    "baseline_attrs",
    "baseline_configs",
    "baseline_count",
    "baseline_of",
    "grid_space",
    "suggest",
    "tuned_baseline_configs",
]
