"""What an LR curve is: pure math on numpy, a registry of families, and validated specs.

>>> from lrsearch.schedules import ScheduleSpec, curve
>>> spec = ScheduleSpec.create("cosine", lr=0.1, warmup_fraction=0.1)
>>> float(curve(spec, 100).max())
0.1
"""

# The family modules register themselves on import, in this (canonical) order.
from lrsearch.schedules import decay, anneal, cyclic, wsd, plateau  # noqa: F401, I001
from lrsearch.schedules.budget import budget_steps
from lrsearch.schedules.curve import curve, lr_at, lr_values, warmup_steps
from lrsearch.schedules.params import Param
from lrsearch.schedules.plateau import PlateauState
from lrsearch.schedules.registry import Family, families, family_names, get_family
from lrsearch.schedules.spec import ScheduleSpec
from lrsearch.schedules.sweep import RangeSweep

__all__ = [
    "Family",
    "Param",
    "PlateauState",
    "RangeSweep",
    "ScheduleSpec",
    "budget_steps",
    "curve",
    "families",
    "family_names",
    "get_family",
    "lr_at",
    "lr_values",
    "warmup_steps",
]
