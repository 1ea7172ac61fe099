"""lrsearch: hyperparameter search for learning-rate schedules.

``lrsearch.Trial`` and ``lrsearch.TrialPruned`` (see :mod:`lrsearch.trial`) are loaded when
first used, so ``import lrsearch`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrsearch.trial import Trial, TrialPruned

__all__ = ["Trial", "TrialPruned"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        import lrsearch.trial

        return getattr(lrsearch.trial, name)
    raise AttributeError(f"module 'lrsearch' has no attribute {name!r}")
