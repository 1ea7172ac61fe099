"""What Optuna may propose: the SearchSpec, and suggest(trial) -> TrialConfig."""

from lrsearch.space.baselines import baseline_attrs, baseline_configs, baseline_of
from lrsearch.space.spec import (
    Budget,
    SearchSpec,
    Space,
    input_error,
    load_spec_file,
    parse_spec,
)
from lrsearch.space.suggest import TrialConfig, grid_space, suggest

__all__ = [
    "Budget",
    "SearchSpec",
    "Space",
    "TrialConfig",
    "baseline_attrs",
    "baseline_configs",
    "baseline_of",
    "grid_space",
    "input_error",
    "load_spec_file",
    "parse_spec",
    "suggest",
]
