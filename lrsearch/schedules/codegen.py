"""PyTorch source for a ScheduleSpec: a self-contained snippet that reproduces its curve.

:func:`pytorch_snippet` writes a short Python module that needs only ``math`` and ``torch`` (not
lrsearch, not numpy): the peak LR and the family's parameters as named constants, a pure
``lr_at(step, total_steps)`` equal to :func:`lrsearch.schedules.lr_at` for any run length, and
``make_scheduler(optimizer, total_steps)`` returning a ``torch.optim.lr_scheduler.LambdaLR``.

This module only assembles: the family's part, ``schedule_factor(s, T)``, comes from the
template its :class:`~lrsearch.schedules.registry.Family` record carries next to its numpy
function (see :class:`~lrsearch.schedules.registry.FactorCode`), written as plain scalar math so
that it reads like the formulas in docs/schedules.md. The code every snippet shares (warmup,
``lr_at``, ``make_scheduler``) is written here once, and ``budget_steps`` is emitted from
lrsearch's own source.

>>> spec = ScheduleSpec.create("linear", lr=0.1, params={"final_ratio": 0.1})
>>> namespace: dict[str, object] = {}
>>> exec(pytorch_snippet(spec), namespace)
>>> round(namespace["lr_at"](5, 10), 12)  # as lrsearch.schedules.lr_at(spec, 5, 10)
0.055
"""

from __future__ import annotations

import inspect
import textwrap

from lrsearch.errors import ScheduleError
from lrsearch.schedules.budget import budget_steps
from lrsearch.schedules.curve import MAX_STEPS
from lrsearch.schedules.registry import FactorCode, get_family
from lrsearch.schedules.spec import ScheduleSpec

__all__ = ["pytorch_snippet"]


# --------------------------------------------------------------------------- the snippet


def pytorch_snippet(
    spec: ScheduleSpec,
    *,
    total_steps: int | None = None,
    title: str = "",
    metric_mode: str = "min",
) -> str:
    """Python source that reproduces ``spec``'s LR curve with PyTorch alone, for any run length.

    The snippet imports only ``math`` (when it needs it) and ``torch``, and defines:

    - ``PEAK_LR`` (``spec.lr``) and the family's parameters as UPPER_CASE constants, written
      with ``repr`` so that every float round-trips exactly;
    - ``lr_at(step, total_steps)``: the LR of 0-based update ``step`` in a run of
      ``total_steps`` updates, equal to ``lrsearch.schedules.lr_at(spec, step, total_steps)``
      (past the end it holds its value at ``total_steps``);
    - ``make_scheduler(optimizer, total_steps)``: a ``torch.optim.lr_scheduler.LambdaLR``; call
      ``scheduler.step()`` after every ``optimizer.step()``. Param groups keep the ratios
      between their LRs, as with torch's own schedulers (the rule of
      :class:`lrsearch.train.SpecLR`): the group(s) with the largest initial LR get
      ``lr_at(step, total_steps)``, a group that started at half that LR gets half of it.

    For the adaptive ``plateau`` family the curve is the peak LR, and ``make_scheduler(optimizer,
    total_steps, mode=metric_mode)`` returns a LambdaLR subclass whose ``scheduler.plateau``
    (a ``PlateauScale``, torch ReduceLROnPlateau's rules) the training loop feeds with
    ``scheduler.plateau.observe(val_metric)`` after each validation; a reduction applies from
    the next update on, as in lrsearch's own training loop. ``metric_mode`` is ignored by the
    other families.

    ``title`` (e.g. "best trial 17 of study X") heads the comment; with ``total_steps`` the
    snippet also defines ``TOTAL_STEPS``, used in the usage example.

    Raises ScheduleError for a ``total_steps`` outside ``[1, MAX_STEPS]`` or a ``metric_mode``
    other than "min" or "max".
    """
    family = get_family(spec.family)
    if total_steps is not None and (
        isinstance(total_steps, bool)
        or not isinstance(total_steps, int)
        or not 1 <= total_steps <= MAX_STEPS
    ):
        raise ScheduleError(
            "total_steps",
            f"{total_steps!r} is out of range: must be an integer in [1, {MAX_STEPS}]",
        )
    if metric_mode not in ("min", "max"):
        raise ScheduleError(
            "metric_mode", f"{metric_mode!r} is not allowed: must be one of min, max"
        )
    factor = family.template(spec.params)
    warmup = spec.warmup_fraction > 0.0

    sections = [
        _constants(spec, factor, total_steps),
        *([_BUDGET_STEPS] if warmup or "budget_steps(" in factor.body + factor.helpers else []),
        *([factor.helpers.strip()] if factor.helpers else []),
        _schedule_factor(factor, warmup),
        _lr_at(warmup),
        _SET_INITIAL_LRS,
        *(_adaptive_code(metric_mode) if family.adaptive else [_MAKE_SCHEDULER]),
    ]
    code = "\n\n\n".join(sections)
    imports = ("import math\n\n" if "math." in code else "") + "import torch"
    header = _header(spec, factor, total_steps, title, metric_mode)
    return f"{header}\n\n{imports}\n\n{code}\n"


def _header(
    spec: ScheduleSpec, factor: FactorCode, total_steps: int | None, title: str, metric_mode: str
) -> str:
    family = get_family(spec.family)
    lines = [line.rstrip() for line in title.strip().splitlines() if line.strip()]
    if lines:
        lines.append("")
    lines += [
        *textwrap.wrap(f"Learning-rate schedule {family.name!r}: {family.summary}.", 96),
        "Exported by lrsearch as self-contained PyTorch (needs only math and torch).",
        "",
        f"Peak LR: {spec.lr!r}",
    ]
    if family.params:
        lines.append("Parameters:")
        width = max(len(p.name) for p in family.params)
        for p in family.params:
            value = spec.params[p.name]
            lines.append(f"  {p.name:<{width}} = {value!r}  ({p.help})")
    else:
        lines.append("Parameters: none")
    if spec.warmup_fraction > 0.0:
        warmup = (
            f"Warmup: the first {spec.warmup_fraction!r} of the run rises linearly from "
            f"{spec.warmup_start_factor!r} x the peak LR to the peak LR; the schedule then runs "
            "on the steps that remain (its time fractions are of those steps)."
        )
        lines += textwrap.wrap(warmup, 96, subsequent_indent="  ")
    else:
        lines.append("Warmup: none")
    lines += [
        "",
        "lr_at(step, total_steps) is the LR of optimizer update `step` (counted from 0) in a run",
        "of `total_steps` updates, for any run length; past the end it holds its final value.",
        "",
        "Param groups keep the ratios between their LRs: the group(s) with the largest LR follow",
        "lr_at, a group made at half that LR follows half of it.",
        "",
        "Usage: call scheduler.step() after every optimizer.step().",
        "",
    ]
    n = "TOTAL_STEPS" if total_steps is not None else "num_epochs * len(train_loader)"
    if family.adaptive:
        lines += [
            f"    scheduler = make_scheduler(optimizer, total_steps={n})",
            "    for epoch in range(num_epochs):",
            "        for batch in train_loader:",
            "            ...",
            "            optimizer.step()",
            "            scheduler.step()",
            "        val_metric = ...",
            "        scheduler.plateau.observe(val_metric)  # after each validation",
            "",
            f'By default (mode="{metric_mode}") the metric improves when it goes '
            f"{'down' if metric_mode == 'min' else 'up'};",
            'pass mode="min" for a loss, mode="max" for an accuracy. A reduction applies from',
            "the next update on. scheduler.state_dict() includes the plateau's state.",
        ]
    else:
        lines += [
            f"    scheduler = make_scheduler(optimizer, total_steps={n})",
            "    for batch in train_loader:",
            "        ...",
            "        optimizer.step()",
            "        scheduler.step()",
        ]
    return "\n".join(f"# {line}".rstrip() for line in lines)


def _constants(spec: ScheduleSpec, factor: FactorCode, total_steps: int | None) -> str:
    family = get_family(spec.family)
    lines = [f"PEAK_LR = {spec.lr!r}"]
    for name in factor.constants:
        lines.append(f"{name.upper()} = {spec.params[name]!r}  # {family.param(name).help}")
    if spec.warmup_fraction > 0.0:
        lines += [
            f"WARMUP_FRACTION = {spec.warmup_fraction!r}  # of the whole run",
            f"WARMUP_START_FACTOR = {spec.warmup_start_factor!r}  # first LR / PEAK_LR",
        ]
    if total_steps is not None:
        lines.append(f"TOTAL_STEPS = {total_steps!r}  # optimizer updates in the run")
    return "\n".join(lines)


_BUDGET_STEPS = inspect.getsource(budget_steps).strip()  # the very function the curves use


def _schedule_factor(factor: FactorCode, warmup: bool) -> str:
    after = " after warmup" if warmup else ""
    doc = f'"""LR / PEAK_LR at step s of the T steps{after} (0 <= s <= T)."""'
    body = textwrap.indent(f"{doc}\n{textwrap.dedent(factor.body).strip()}", "    ")
    return f"def schedule_factor(s: int, T: int) -> float:\n{body}"


def _lr_at(warmup: bool) -> str:
    head = '''
def lr_at(step: int, total_steps: int) -> float:
    """The LR of optimizer update `step` (counted from 0) in a run of `total_steps` updates."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, not {total_steps}")
    step = min(max(step, 0), total_steps)  # past the end: hold the value at the end
'''.strip()
    if not warmup:
        return f"{head}\n    return PEAK_LR * schedule_factor(step, total_steps)"
    return (
        head
        + """
    warmup = min(budget_steps(WARMUP_FRACTION, total_steps, minimum=0), total_steps - 1)
    if step < warmup:
        return PEAK_LR * (WARMUP_START_FACTOR + (1.0 - WARMUP_START_FACTOR) * (step / warmup))
    return PEAK_LR * schedule_factor(step - warmup, total_steps - warmup)"""
    )


_SET_INITIAL_LRS = '''
def set_initial_lrs(optimizer: torch.optim.Optimizer) -> None:
    """Give each param group its peak LR, keeping the ratios between the groups' LRs.

    The group(s) with the largest initial LR get PEAK_LR; a group that started at half that LR
    gets half of it. A group's initial LR is its `initial_lr` when an earlier scheduler or a
    loaded optimizer state set one, else its `lr`. If every group starts at 0, all get PEAK_LR.
    LambdaLR then multiplies each group's peak by the factor lr_at(step, total_steps) / PEAK_LR.
    """
    groups = optimizer.param_groups
    initial = [float(group.get("initial_lr", group["lr"])) for group in groups]
    top = max(initial)
    for group, lr in zip(groups, initial):
        group["lr"] = group["initial_lr"] = PEAK_LR * (lr / top) if top > 0.0 else PEAK_LR
'''.strip()

_MAKE_SCHEDULER = '''
def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR that sets the LR of the group(s) with the largest initial LR to
    lr_at(step, total_steps), and every other group's to that times its ratio to them."""
    set_initial_lrs(optimizer)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_at(step, total_steps) / PEAK_LR
    )
'''.strip()


def _adaptive_code(metric_mode: str) -> list[str]:
    """The scheduler of an adaptive family: a LambdaLR scaled by the family's PlateauScale."""
    scheduler = '''
class PlateauLambdaLR(torch.optim.lr_scheduler.LambdaLR):
    """A LambdaLR whose factor is lr_at(step, total_steps) / PEAK_LR times `plateau.scale`.

    A reduction applies at once (from the next update on), not only after the next
    scheduler.step(). state_dict() holds the plateau's state as plain values.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, mode: str) -> None:
        self.plateau = PlateauScale(mode, on_reduce=self.apply_now)
        super().__init__(
            optimizer, lambda step: lr_at(step, total_steps) / PEAK_LR * self.plateau.scale
        )

    def apply_now(self) -> None:
        """Set every param group's LR for the current step and scale."""
        groups = self.optimizer.param_groups
        for i, group in enumerate(groups):
            group["lr"] = self.base_lrs[i] * self.lr_lambdas[i](self.last_epoch)
        self._last_lr = [group["lr"] for group in groups]  # what get_last_lr() returns

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["plateau"] = self.plateau.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        self.plateau.load_state_dict(state.pop("plateau"))
        super().load_state_dict(state)
'''.strip()
    make = f'''
def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, mode: str = "{metric_mode}"
) -> PlateauLambdaLR:
    """A LambdaLR setting the LR of the group(s) with the largest initial LR to
    lr_at(step, total_steps) times the reductions on plateau so far, and every other group's to
    that times its ratio to them. Call scheduler.plateau.observe(val_metric) after each
    validation; `mode` is "min" when lower is better (a loss), "max" when higher is better.
    """
    set_initial_lrs(optimizer)
    return PlateauLambdaLR(optimizer, total_steps, mode)
'''.strip()
    return [scheduler, make]
