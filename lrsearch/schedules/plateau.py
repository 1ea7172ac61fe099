"""Reduce-on-plateau: the one adaptive family.

Its curve depends on the validation metric, so it cannot be a function of the step alone. The
family's curve is the peak LR (what a preview shows: the curve before any reduction), and a
:class:`PlateauState` that the training loop feeds with each validation result holds the
reductions so far. The rules are torch's ``ReduceLROnPlateau``: ``patience`` counts validations
(epochs), not steps; a reduction multiplies the LR by ``factor``, never below
``min_ratio * lr``, and is skipped when it would change the LR by less than ``eps``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from lrsearch.errors import ScheduleError
from lrsearch.schedules.budget import FloatArray, IntArray
from lrsearch.schedules.params import ParamValue, choice, count, get_float, get_str, ratio
from lrsearch.schedules.registry import FactorCode, Family, register

EPS = 1e-8  # torch's default: reductions smaller than this (in LR units) are ignored


def plateau(s: IntArray, T: int, p: Mapping[str, ParamValue]) -> FloatArray:
    """The peak LR: reductions come from :class:`PlateauState`, not from the step."""
    return np.ones(s.shape, dtype=np.float64)


@dataclass
class PlateauState:
    """What reduce-on-plateau remembers between validations.

    ``scale`` multiplies the schedule's LR (1.0 until the first reduction). ``mode`` is
    ``"min"`` for a loss and ``"max"`` for an accuracy. Create it with :meth:`for_spec`.

    >>> state = PlateauState(lr=0.1, factor=0.5, patience=0, threshold=0.0)
    >>> state.observe(1.0), state.observe(1.0), state.scale
    (False, True, 0.5)
    """

    lr: float
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_ratio: float = 0.0
    mode: Literal["min", "max"] = "min"
    scale: float = 1.0
    best: float | None = None
    bad_epochs: int = 0
    cooldown_left: int = 0

    @classmethod
    def for_spec(cls, lr: float, params: Mapping[str, ParamValue], mode: str) -> PlateauState:
        if mode not in ("min", "max"):
            raise ScheduleError("mode", f"{mode!r} is not allowed: must be one of min, max")
        return cls(
            lr=lr,
            factor=get_float(params, "factor"),
            patience=int(get_float(params, "patience")),
            threshold=get_float(params, "threshold"),
            threshold_mode=get_str(params, "threshold_mode"),
            cooldown=int(get_float(params, "cooldown")),
            min_ratio=get_float(params, "min_ratio"),
            mode="min" if mode == "min" else "max",
        )

    def observe(self, value: float) -> bool:
        """Record one validation result; True when it reduced the scale.

        After more than ``patience`` results without improvement the scale is multiplied by
        ``factor``, never below ``min_ratio``, then ``cooldown`` results pass before bad ones
        count again. A non-finite value counts as a bad epoch (it is never the best).
        """
        value = float(value)  # a tensor or numpy scalar is stored as a plain float
        if self._is_better(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        reduced = False
        if self.bad_epochs > self.patience:
            new_scale = max(self.scale * self.factor, self.min_ratio)
            if (self.scale - new_scale) * self.lr > EPS:
                self.scale, reduced = new_scale, True
            self.cooldown_left, self.bad_epochs = self.cooldown, 0
        return reduced

    def _is_better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        best, rel = self.best, self.threshold_mode == "rel"
        if self.mode == "min":
            return value < (best * (1.0 - self.threshold) if rel else best - self.threshold)
        return value > (best * (1.0 + self.threshold) if rel else best + self.threshold)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, data: Mapping[str, Any]) -> PlateauState:
        return cls(**data)


# The snippet's reduce-on-plateau. Its rules are PlateauState's own methods, emitted from their
# source, so the exported scheduler cannot drift from the one lrsearch trains with.
_SCALE_CLASSES = '''
EPS = {eps!r}  # a reduction that would change the LR by less than this is skipped, as in torch


class PlateauRules:
    """Reduce-on-plateau, by torch ReduceLROnPlateau's rules: `scale` multiplies the LR.

    Feed `observe` each validation result. After more than PATIENCE results without improvement
    (by THRESHOLD, relative to the best or absolute as THRESHOLD_MODE says), the scale is
    multiplied by FACTOR, never below MIN_RATIO, and COOLDOWN results pass before bad ones count
    again. A NaN or infinite result never counts as an improvement.
    """

    def __init__(self, mode: str = "min") -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {{mode!r}}")
        self.mode = mode  # "min": lower is better (a loss); "max": higher is better
        self.lr, self.factor, self.min_ratio = PEAK_LR, FACTOR, MIN_RATIO
        self.patience, self.cooldown = PATIENCE, COOLDOWN
        self.threshold, self.threshold_mode = THRESHOLD, THRESHOLD_MODE
        self.scale = 1.0  # until the first reduction
        self.best = None
        self.bad_epochs = 0
        self.cooldown_left = 0

{observe}
{is_better}

class PlateauScale(PlateauRules):
    """PlateauRules that call `on_reduce` after each reduction (the scheduler sets the LR at
    once), and whose state_dict() holds plain values."""

    def __init__(self, mode: str = "min", on_reduce=None) -> None:
        super().__init__(mode)
        self.on_reduce = on_reduce

    def observe(self, value: float) -> bool:
        """Record one validation result; True when it reduced the scale."""
        reduced = super().observe(value)
        if reduced and self.on_reduce is not None:
            self.on_reduce()
        return reduced

    def state_dict(self) -> dict:
        keys = ("mode", "scale", "best", "bad_epochs", "cooldown_left")
        return {{key: getattr(self, key) for key in keys}}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
'''


def _plateau_code(p: Mapping[str, ParamValue]) -> FactorCode:
    """The peak LR as the curve; PlateauScale (with PlateauState's rules) holds the reductions."""
    classes = _SCALE_CLASSES.format(
        eps=EPS,
        observe=inspect.getsource(PlateauState.observe),
        is_better=inspect.getsource(PlateauState._is_better),
    )
    return FactorCode(
        ("factor", "patience", "threshold", "threshold_mode", "cooldown", "min_ratio"),
        "return 1.0  # the peak LR: PlateauScale holds the reductions",
        classes,
    )


register(
    Family(
        "plateau",
        "reduce on plateau: multiply by factor when the metric stops improving",
        (
            ratio("factor", 0.1, "factor applied at each reduction", "()", search=(0.1, 0.7)),
            count("patience", 10, "validations (epochs) without improvement before reducing", 10),
            ratio(
                "threshold",
                1e-4,
                "smallest change that counts as an improvement",
                log=True,
                search=(1e-5, 1e-2),
            ),
            choice(
                "threshold_mode",
                "rel",
                "threshold relative to the best, or absolute",
                ("rel", "abs"),
            ),
            count("cooldown", 0, "validations to wait after a reduction", 5),
            ratio("min_ratio", 0.0, "lowest LR / peak LR"),
        ),
        plateau,
        _plateau_code,
        ("torch ReduceLROnPlateau",),
        adaptive=True,
    )
)
