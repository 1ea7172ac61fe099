"""Applying a ScheduleSpec to any torch optimizer, once per optimizer update.

:class:`SpecLR` is a ``torch.optim.lr_scheduler.LRScheduler``: call ``scheduler.step()`` after
every ``optimizer.step()``, as with torch's own schedulers. The whole curve is rendered once
when the scheduler is made, so a step is a lookup. Reduce-on-plateau also needs
``scheduler.observe(metric)`` after each validation.

>>> import torch
>>> from lrsearch.schedules import ScheduleSpec
>>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
>>> sched = SpecLR(opt, ScheduleSpec.create("linear", lr=0.1), total_steps=10)
>>> opt.param_groups[0]["lr"]
0.1
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lrsearch.errors import ScheduleError
from lrsearch.schedules import PlateauState, ScheduleSpec, curve, lr_at


class SpecLR(LRScheduler):
    """Sets every param group's LR to ``spec``'s curve for a run of ``total_steps`` updates.

    All param groups get the same LR. Past ``total_steps`` the LR stays at the curve's end.
    ``metric_mode`` ("min" or "max") says which way the validation metric improves; only the
    adaptive ``plateau`` family uses it.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        spec: ScheduleSpec,
        total_steps: int,
        *,
        metric_mode: str = "min",
    ) -> None:
        self._set_curve(spec, total_steps)
        self.plateau: PlateauState | None = (
            PlateauState.for_spec(spec.lr, spec.params, metric_mode) if spec.adaptive else None
        )
        super().__init__(optimizer)

    def _set_curve(self, spec: ScheduleSpec, total_steps: int) -> None:
        self.spec = spec
        self.total_steps = total_steps
        self._curve = curve(spec, total_steps).tolist()
        self._end_lr = lr_at(spec, total_steps, total_steps)

    def lr_for_step(self, step: int) -> float:
        """The LR of update ``step``, including any reduction made on plateau so far."""
        base = self._curve[step] if step < self.total_steps else self._end_lr
        return base * self.plateau.scale if self.plateau is not None else base

    def get_lr(self) -> list[float | Tensor]:
        lr = self.lr_for_step(max(self.last_epoch, 0))
        return [lr for _ in self.optimizer.param_groups]

    def observe(self, metric: float) -> None:
        """Feed one validation result (reduce-on-plateau); other families ignore it."""
        if self.plateau is None:
            return
        self.plateau.observe(float(metric))
        self._apply_now()

    def _apply_now(self) -> None:
        lr = self.lr_for_step(max(self.last_epoch, 0))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self._last_lr = [lr for _ in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue on the same curve (small: not the rendered curve)."""
        return {
            "spec": self.spec.to_dict(),
            "total_steps": self.total_steps,
            "last_epoch": self.last_epoch,
            "step_count": self._step_count,
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume: adopt the saved spec, budget, step and plateau state, and set the LR."""
        try:
            spec = ScheduleSpec.from_dict(state_dict["spec"], complete=True)
            total_steps, last_epoch = state_dict["total_steps"], state_dict["last_epoch"]
        except KeyError as exc:
            raise ScheduleError("state_dict", f"is missing {exc.args[0]!r}") from None
        self._set_curve(spec, total_steps)
        self.last_epoch = last_epoch
        self._step_count = state_dict.get("step_count", last_epoch + 1)
        saved = state_dict.get("plateau")
        self.plateau = PlateauState.from_state_dict(saved) if saved is not None else None
        self._apply_now()
