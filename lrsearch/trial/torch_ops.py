"""The torch side of a trial: the optimizer by name, and a ScheduleSpec applied per update.

Imported only when a trial makes its optimizer or scheduler, so ``import lrsearch`` and
:class:`~lrsearch.trial.Trial` need no torch.

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

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lrsearch.errors import InvalidInputError, ScheduleError
from lrsearch.schedules import PlateauState, RangeSweep, ScheduleSpec, curve, lr_at
from lrsearch.trial.probe import ProbeHooks


class SpecLR(LRScheduler):
    """Sets the param groups' LRs to ``spec``'s curve for a run of ``total_steps`` updates.

    Param groups keep the ratios between their LRs, as with torch's own schedulers: the
    group(s) with the largest initial LR follow the curve exactly (``spec.lr`` at the peak), and
    every other group gets the curve times its initial LR / that largest one, so a group made
    at half the LR of the others follows half the curve. A group's initial LR is its
    ``initial_lr`` when an earlier scheduler or a loaded optimizer state set one, else its
    ``lr`` when the scheduler is made; if every group starts at 0, all follow the curve. Groups
    that start equal all get the curve. ``initial_lr`` is then set to each group's peak.

    Past ``total_steps`` the LR stays at the curve's end. ``metric_mode`` ("min" or "max") says
    which way the validation metric improves; only the adaptive ``plateau`` family uses it.
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
        self.group_ratios = group_ratios(optimizer)
        # Before LRScheduler.__init__, which keeps an initial_lr it finds: base_lrs are the peaks.
        self._set_initial_lrs(optimizer)
        super().__init__(optimizer)

    def _set_curve(self, spec: ScheduleSpec, total_steps: int) -> None:
        self.spec = spec
        self.total_steps = total_steps
        self._curve = curve(spec, total_steps).tolist()
        self._end_lr = lr_at(spec, total_steps, total_steps)

    def _set_initial_lrs(self, optimizer: Optimizer) -> None:
        for group, ratio in zip(optimizer.param_groups, self.group_ratios, strict=True):
            group["initial_lr"] = self.spec.lr * ratio
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]

    def lr_for_step(self, step: int) -> float:
        """The LR of update ``step`` for the group(s) with the largest initial LR, including any
        reduction made on plateau so far; each group gets this times its ratio."""
        base = self._curve[step] if step < self.total_steps else self._end_lr
        return base * self.plateau.scale if self.plateau is not None else base

    def lowest_ahead(self) -> tuple[float, float]:
        """The LR of the next update and the lowest LR still ahead on the curve (for
        reduce-on-plateau, whose future is the metric's: its floor, ``min_ratio`` x the peak),
        for the group(s) with the largest initial LR."""
        step = max(self.last_epoch, 0)
        now = self.lr_for_step(step)
        if self.plateau is not None:
            return now, self.plateau.min_ratio * self.spec.lr
        return now, min(min(self._curve[step:], default=self._end_lr), self._end_lr)

    def get_lr(self) -> list[float | Tensor]:
        lr = self.lr_for_step(max(self.last_epoch, 0))
        return [lr * ratio for ratio in self.group_ratios]

    def observe(self, metric: float) -> None:
        """Feed one validation result (reduce-on-plateau); other families ignore it."""
        if self.plateau is not None and self.plateau.observe(float(metric)):
            self._apply_now()  # from the next update on, not only after the next step()

    def _apply_now(self) -> None:
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = lrs

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue on the same curve (small: not the rendered curve)."""
        return {
            "spec": self.spec.to_dict(),
            "total_steps": self.total_steps,
            "last_epoch": self.last_epoch,
            "step_count": self._step_count,
            "group_ratios": list(self.group_ratios),
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume: adopt the saved spec, budget, step, param-group ratios and plateau state, and
        set the LRs. A state saved without ratios keeps the ones this scheduler was made with."""
        try:
            spec = ScheduleSpec.from_dict(state_dict["spec"], complete=True)
            total_steps, last_epoch = state_dict["total_steps"], state_dict["last_epoch"]
        except KeyError as exc:
            raise ScheduleError("state_dict", f"is missing {exc.args[0]!r}") from None
        ratios = state_dict.get("group_ratios", self.group_ratios)
        if len(ratios) != len(self.optimizer.param_groups):
            raise ScheduleError(
                "state_dict",
                f"has LR ratios for {len(ratios)} param groups: the optimizer has "
                f"{len(self.optimizer.param_groups)}",
            )
        self._set_curve(spec, total_steps)
        self.group_ratios = [float(ratio) for ratio in ratios]
        self._set_initial_lrs(self.optimizer)
        self.last_epoch = last_epoch
        self._step_count = state_dict.get("step_count", last_epoch + 1)
        saved = state_dict.get("plateau")
        self.plateau = PlateauState.from_state_dict(saved) if saved is not None else None
        self._apply_now()


class SweepLR(SpecLR):
    """The LR range test's sweep as a scheduler: ``sweep``'s exponential curve over its own
    updates (``sweep.sized(total_steps).steps``), whatever ``total_steps`` the training code
    planned (kept as ``trial_updates``: the sweep's length follows from it, and what the sweep
    costs is counted in trials of that length). Param groups keep their LR ratios, as with
    :class:`SpecLR`; ``high`` is the largest group's peak.
    """

    def __init__(self, optimizer: Optimizer, sweep: RangeSweep, total_steps: int) -> None:
        self.sweep, self.trial_updates = sweep.sized(total_steps), total_steps
        super().__init__(optimizer, ScheduleSpec.create("constant", lr=sweep.high), total_steps)

    def _set_curve(self, spec: ScheduleSpec, total_steps: int) -> None:
        self.spec = spec
        self.total_steps = self.sweep.steps
        self._curve = [self.sweep.lr_at(t) for t in range(self.sweep.steps)]
        self._end_lr = self.sweep.high

    @property
    def updates(self) -> int:
        """Optimizer updates stepped so far."""
        return max(self.last_epoch, 0)

    @property
    def last_lr(self) -> float:
        """The LR of the last update stepped (the first one's before any)."""
        return self.lr_for_step(max(self.updates - 1, 0))


def group_ratios(optimizer: Optimizer) -> list[float]:
    """Each param group's initial LR over the largest one (all 1.0 when every group is at 0).

    A group's initial LR is its ``initial_lr`` where one is set (by an earlier scheduler, or an
    optimizer state loaded from a checkpoint, whose ``lr`` may already be decayed), else its
    ``lr``, as torch's own schedulers take it.
    """
    initial = [float(group.get("initial_lr", group["lr"])) for group in optimizer.param_groups]
    top = max(initial)
    return [lr / top if top > 0.0 else 1.0 for lr in initial]


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


def make_optimizer(
    name: str, params: Iterable[Any], lr: float, options: Mapping[str, float | bool]
) -> Optimizer:
    """The optimizer ``name`` at peak LR ``lr``, with ``options`` (momentum, weight decay...).

    ``params`` is what torch optimizers take: tensors, or param groups (dicts). Groups that set
    their own ``lr`` keep their ratio to the largest one, which gets ``lr``; a group without
    one gets ``lr``:

    >>> w = torch.zeros(1, requires_grad=True)
    >>> b = torch.zeros(1, requires_grad=True)
    >>> groups = [{"params": [w], "lr": 1.0}, {"params": [b], "lr": 0.5}]
    >>> [group["lr"] for group in make_optimizer("sgd", groups, 0.1, {}).param_groups]
    [0.1, 0.05]
    >>> groups = [{"params": [w]}, {"params": [b], "lr": 0.5}]
    >>> [group["lr"] for group in make_optimizer("sgd", groups, 0.1, {}).param_groups]
    [0.1, 0.1]
    """
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        known = ", ".join(OPTIMIZERS)
        raise InvalidInputError(
            "optimizer", f"unknown optimizer {name!r}: known are {known}"
        ) from None
    return cls(_scaled_groups(list(params), lr), lr=lr, **options)


def _scaled_groups(params: list[Any], lr: float) -> list[Any]:
    """Param groups with their own ``lr`` rescaled so that the largest gets ``lr``."""
    if not params or not all(isinstance(group, Mapping) for group in params):
        return params
    own = [float(group["lr"]) for group in params if "lr" in group]
    top = max(own, default=0.0)
    if top <= 0.0:
        return [{k: v for k, v in group.items() if k != "lr"} for group in params]
    return [
        {**group, "lr": lr * float(group["lr"]) / top} if "lr" in group else dict(group)
        for group in params
    ]


def anneal_probe(hooks: ProbeHooks, updates: int, end_scale: float, metric: str) -> float:
    """Train ``updates`` updates with each param group's LR falling linearly from its value now
    to ``end_scale`` times it, evaluate, and put the weights, the optimizer's state, the LRs,
    the RNG and the train/eval mode back as they were; the evaluation's ``metric``.

    >>> model = torch.nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> x, y = torch.ones(4, 2), torch.zeros(4, 1)
    >>> def step():
    ...     opt.zero_grad(); torch.nn.functional.mse_loss(model(x), y).backward(); opt.step()
    >>> def evaluate():
    ...     return {"val_loss": float(torch.nn.functional.mse_loss(model(x), y).detach())}
    >>> before = evaluate()["val_loss"]
    >>> annealed = anneal_probe(ProbeHooks(model, opt, step, evaluate), 5, 0.0, "val_loss")
    >>> annealed < before == evaluate()["val_loss"]
    True
    """
    model, optimizer = hooks.model, hooks.optimizer
    weights = copy.deepcopy(model.state_dict())
    state = copy.deepcopy(optimizer.state_dict())
    lrs = [group["lr"] for group in optimizer.param_groups]
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None  # type: ignore[no-untyped-call]
    training = model.training
    try:
        for i in range(updates):
            fall = (i + 1) / updates  # the last update runs at end_scale x the LR
            for group, lr in zip(optimizer.param_groups, lrs, strict=True):
                group["lr"] = lr * (1.0 - fall * (1.0 - end_scale))
            hooks.train_step()
        result = hooks.evaluate()
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(state)
        for group, lr in zip(optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        model.train(training)
    if isinstance(result, Mapping):
        if metric not in result:
            raise InvalidInputError(
                "evaluate", f"the probe's evaluation gave {', '.join(result)}, not {metric!r}"
            )
        return float(result[metric])
    return float(result)
