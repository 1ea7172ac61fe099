"""What Optuna may propose: the SearchSpec, and suggest(trial) -> TrialConfig."""

from lrsearch.space.spec import Budget, SearchSpec, Space, load_spec_file, parse_spec
from lrsearch.space.suggest import TrialConfig, grid_space, suggest

__all__ = [
    "Budget",
    "SearchSpec",
    "Space",
    "TrialConfig",
    "grid_space",
    "load_spec_file",
    "parse_spec",
    "suggest",
]
