"""lrsearch: hyperparameter search for learning-rate schedules.

``lrsearch.Trial`` and ``lrsearch.TrialPruned`` (see :mod:`lrsearch.trial`),
``lrsearch.ScheduleSpec`` (a schedule, pure numpy), ``lrsearch.SpecLR`` (its torch scheduler) and
``lrsearch.__version__`` are loaded when first used, so ``import lrsearch`` stays light and
loads torch only for ``SpecLR``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrsearch.schedules import ScheduleSpec
    from lrsearch.trial import Trial, TrialPruned
    from lrsearch.trial.torch_ops import SpecLR

__all__ = ["ScheduleSpec", "SpecLR", "Trial", "TrialPruned", "__version__"]

# Public name -> the module that defines it.
_LAZY = {
    "ScheduleSpec": "lrsearch.schedules",
    "SpecLR": "lrsearch.trial.torch_ops",
    "Trial": "lrsearch.trial",
    "TrialPruned": "lrsearch.trial",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("lrsearch")
        except PackageNotFoundError:
            return "unknown"
    raise AttributeError(f"module 'lrsearch' has no attribute {name!r}")
