"""Steps and budgets: the array types of the family functions, and whole steps from fractions.

Every time parameter of a family is a fraction of a budget of steps; :func:`budget_steps` is the
one rounding rule that turns it into whole steps, for the numpy curves and, emitted from this
very source, for the PyTorch snippets (lrsearch.schedules.codegen).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def budget_steps(fraction: float, total: int, minimum: int = 1) -> int:
    """Round a fraction of a budget of ``total`` steps to a whole number of steps.

    Rounds half up, then clamps to ``[minimum, total]`` (``minimum`` is 1 for periods and
    intervals, 0 for warmup). Example: ``budget_steps(0.3, 1000) == 300``.
    """
    steps = math.floor(fraction * total + 0.5)
    return max(minimum, min(total, steps)) if total >= minimum else total
