"""PyTorch source for a ScheduleSpec: a self-contained snippet that reproduces its curve.

:func:`pytorch_snippet` writes a short Python module that needs only ``math`` and ``torch`` (not
lrsearch, not numpy): the peak LR and the family's parameters as named constants, a pure
``lr_at(step, total_steps)`` equal to :func:`lrsearch.schedules.lr_at` for any run length, and
``make_scheduler(optimizer, total_steps)`` returning a ``torch.optim.lr_scheduler.LambdaLR``.
Only the code the spec's family and options need is emitted (one cyclic mode, one anneal
shape), written as plain scalar math so that it reads like the formulas in docs/schedules.md.

Every family needs a template here; :func:`supported_families` lists them, and the tests check
that it covers the registry.

>>> spec = ScheduleSpec.create("linear", lr=0.1, params={"final_ratio": 0.1})
>>> namespace: dict[str, object] = {}
>>> exec(pytorch_snippet(spec), namespace)
>>> round(namespace["lr_at"](5, 10), 12)  # as lrsearch.schedules.lr_at(spec, 5, 10)
0.055
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lrsearch.errors import ScheduleError
from lrsearch.schedules.curve import MAX_STEPS
from lrsearch.schedules.params import ParamValue, get_float, get_str
from lrsearch.schedules.registry import get_family
from lrsearch.schedules.spec import ScheduleSpec

__all__ = ["pytorch_snippet", "supported_families"]


@dataclass(frozen=True)
class _Factor:
    """The family part of a snippet: ``schedule_factor(s, T)`` and what it needs."""

    constants: tuple[str, ...]  # parameters the code reads, emitted as UPPER_CASE constants
    body: str  # the body of schedule_factor, unindented
    helpers: str = ""  # functions schedule_factor calls, emitted before it


_Template = Callable[[Mapping[str, ParamValue]], _Factor]


# --------------------------------------------------------------------------- the templates
# Each mirrors its family function in decay.py, cyclic.py, wsd.py or plateau.py operation by
# operation (same order of floating-point operations), so the values agree to the last bits.


def _constant(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor((), "return 1.0  # the peak LR throughout")


def _step(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(
        ("interval", "gamma"),
        """
        interval = budget_steps(INTERVAL, T)  # steps between drops
        return GAMMA ** (s // interval)  # step `interval` already uses the lower LR
        """,
    )


def _multistep(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(
        ("milestones", "gamma"),
        """
        milestones = [budget_steps(m, T) for m in MILESTONES]
        passed = sum(1 for m in milestones if m <= s)  # step m already uses the lower LR
        return GAMMA**passed
        """,
    )


def _exponential(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(("final_ratio",), "return FINAL_RATIO ** (s / T)")


def _inverse_time(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(
        ("final_ratio",),
        """
        k = 1.0 / FINAL_RATIO - 1.0  # so that step T reaches FINAL_RATIO
        return 1.0 / (1.0 + k * (s / T))
        """,
    )


def _keras_decay(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(
        ("decay",),
        "return 1.0 / (1.0 + DECAY * s)  # DECAY is per update, whatever the run length",
    )


def _inverse_sqrt(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(
        ("timescale",),
        """
        tau = float(budget_steps(TIMESCALE, T))
        return math.sqrt(tau / (s + tau))
        """,
    )


def _linear(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(("final_ratio",), "return 1.0 + (FINAL_RATIO - 1.0) * (s / T)")


def _polynomial(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(
        ("power", "final_ratio"),
        "return (1.0 - FINAL_RATIO) * (1.0 - s / T) ** POWER + FINAL_RATIO",
    )


def _piecewise_constant(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(
        ("boundaries", "factors"),
        """
        boundaries = [budget_steps(b, T) for b in BOUNDARIES]
        index = sum(1 for b in boundaries if b <= s)  # step b already uses the next factor
        return FACTORS[index]
        """,
    )


def _cosine(p: Mapping[str, ParamValue]) -> _Factor:
    return _Factor(
        ("final_ratio",),
        "return FINAL_RATIO + (1.0 - FINAL_RATIO) * 0.5 * (1.0 + math.cos(math.pi * (s / T)))",
    )


_PERIOD_OF = '''
def period_of(s: int, first: float) -> tuple[int, float]:
    """The index of the period holding step s, and the (fractional) step where it starts.

    Period i lasts first * PERIOD_MULT**i steps and starts at step
    first * (PERIOD_MULT**i - 1) / (PERIOD_MULT - 1). The closed form can round a step that lies
    exactly on a restart into the wrong period, so a step within a relative 1e-12 of a period's
    start counts as on it.
    """

    def start_of(i: int) -> float:
        return first * (PERIOD_MULT**i - 1.0) / (PERIOD_MULT - 1.0)

    i = math.floor(math.log1p(s / first * (PERIOD_MULT - 1.0)) / math.log(PERIOD_MULT))
    slack = 1e-12 * max(s, first)
    if start_of(i) > s + slack:
        i -= 1
    if start_of(i + 1) <= s + slack:
        i += 1
    return i, start_of(i)
'''


def _cosine_restarts(p: Mapping[str, ParamValue]) -> _Factor:
    equal_periods = get_float(p, "period_mult") == 1.0
    fading = get_float(p, "peak_mult") != 1.0
    constants = ["first_period"]
    if equal_periods:
        lines = [
            "first = float(budget_steps(FIRST_PERIOD, T))  # steps per period",
            "# Step T (past the end) belongs to the last update's period: no restart there.",
            "restart = math.floor(min(s, T - 1) / first)",
            "progress = (s - restart * first) / first",
        ]
    else:
        constants.append("period_mult")
        lines = [
            "first = float(budget_steps(FIRST_PERIOD, T))  # steps in the first period",
            "# Step T (past the end) belongs to the last update's period: no restart there.",
            "restart, start = period_of(min(s, T - 1), first)",
            "progress = (s - start) / (first * PERIOD_MULT**restart)",
        ]
    if fading:
        constants.append("peak_mult")
        lines.append("peak = PEAK_MULT**restart  # restart i peaks at PEAK_MULT**i")
        cos = "(1.0 - FINAL_RATIO) * peak * 0.5 * (1.0 + math.cos(math.pi * progress))"
    else:
        cos = "(1.0 - FINAL_RATIO) * 0.5 * (1.0 + math.cos(math.pi * progress))"
    constants.append("final_ratio")
    lines.append(f"return FINAL_RATIO + {cos}")
    return _Factor(tuple(constants), "\n".join(lines), "" if equal_periods else _PERIOD_OF)


def _cyclic(p: Mapping[str, ParamValue]) -> _Factor:
    mode = get_str(p, "mode")
    constants = ["cycle", "up_fraction", "min_ratio"]
    lines = [
        "length = max(2, budget_steps(CYCLE, T))  # steps per cycle",
        "up = min(length - 1, max(1, budget_steps(UP_FRACTION, length)))  # rising steps",
        "ratio = up / length",
        "cycle = math.floor(1.0 + s / length)  # 1 for the first cycle",
        "x = 1.0 + s / length - cycle  # position in the cycle, from 0 to 1",
        "height = x / ratio if x <= ratio else (x - 1.0) / (ratio - 1.0)  # 0 -> 1 -> 0",
    ]
    if mode == "triangular2":
        lines.append("height = height * 0.5 ** (cycle - 1)  # triangular2: halved every cycle")
    elif mode == "exp_range":
        constants.append("decay_ratio")
        lines.append("height = height * DECAY_RATIO ** (s / T)  # exp_range: decays to DECAY_RATIO")
    lines.append("return MIN_RATIO + (1.0 - MIN_RATIO) * height")
    return _Factor(tuple(constants), "\n".join(lines))


def _one_cycle(p: Mapping[str, ParamValue]) -> _Factor:
    if get_str(p, "phases") == "three":
        phases = """
        phases = [
            (PCT_START * T - 1.0, START_RATIO, 1.0),  # up to the peak
            (2.0 * PCT_START * T - 2.0, 1.0, START_RATIO),  # back down to the start
            (T - 1.0, START_RATIO, FINAL_RATIO),  # down to the final LR
        ]"""
    else:
        phases = """
        phases = [
            (PCT_START * T - 1.0, START_RATIO, 1.0),  # up to the peak
            (T - 1.0, 1.0, FINAL_RATIO),  # down to the final LR
        ]"""
    if get_str(p, "anneal") == "cos":
        anneal = "return end + (begin - end) / 2.0 * (math.cos(math.pi * progress) + 1.0)  # cos"
    else:
        anneal = "return (end - begin) * progress + begin  # linear"
    body = f"""
        # (end step, factor at its start, factor at its end) of each phase. As in torch's
        # OneCycleLR, phases end at fractional steps and the last update, T - 1, already has
        # FINAL_RATIO.
        {phases.strip()}
        step = min(s, T - 1)
        i = 0  # the first phase that ends at or after the step, else the last one
        while i < len(phases) - 1 and step > phases[i][0]:
            i += 1
        phase_start = phases[i - 1][0] if i > 0 else 0.0
        phase_end, begin, end = phases[i]
        span = phase_end - phase_start
        progress = (step - phase_start) / span if span != 0 else 1.0
        {anneal}
        """
    return _Factor(("pct_start", "start_ratio", "final_ratio"), body)


def _wsd(p: Mapping[str, ParamValue]) -> _Factor:
    remaining = {
        "linear": "remaining = 1.0 - progress  # linear decay",
        "cosine": "remaining = 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine decay",
        "1-sqrt": "remaining = 1.0 - math.sqrt(progress)  # 1-sqrt decay",
    }[get_str(p, "decay_shape")]
    return _Factor(
        ("decay_fraction", "final_ratio"),
        f"""
        length = budget_steps(DECAY_FRACTION, T)  # the last `length` steps decay
        progress = min(max((s - (T - length)) / length, 0.0), 1.0)  # 0 while stable
        {remaining}
        return FINAL_RATIO + (1.0 - FINAL_RATIO) * remaining
        """,
    )


def _plateau(p: Mapping[str, ParamValue]) -> _Factor:
    # The curve is the peak; the reductions come from PlateauScale (see _plateau_code).
    return _Factor(
        ("factor", "patience", "threshold", "cooldown", "min_ratio"),
        "return 1.0  # the peak LR: PlateauScale holds the reductions",
    )


_TEMPLATES: dict[str, _Template] = {
    "constant": _constant,
    "step": _step,
    "multistep": _multistep,
    "exponential": _exponential,
    "inverse_time": _inverse_time,
    "keras_decay": _keras_decay,
    "inverse_sqrt": _inverse_sqrt,
    "linear": _linear,
    "polynomial": _polynomial,
    "piecewise_constant": _piecewise_constant,
    "cosine": _cosine,
    "cosine_restarts": _cosine_restarts,
    "cyclic": _cyclic,
    "one_cycle": _one_cycle,
    "wsd": _wsd,
    "plateau": _plateau,
}


def supported_families() -> tuple[str, ...]:
    """The families :func:`pytorch_snippet` has a template for."""
    return tuple(_TEMPLATES)


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
    - ``make_scheduler(optimizer, total_steps)``: a ``torch.optim.lr_scheduler.LambdaLR`` that
      sets every param group's LR to ``lr_at(step, total_steps)``; call ``scheduler.step()``
      after every ``optimizer.step()``.

    For the adaptive ``plateau`` family the curve is the peak LR, and ``make_scheduler(optimizer,
    total_steps, mode=metric_mode)`` returns a LambdaLR subclass whose ``scheduler.plateau``
    (a ``PlateauScale``, torch ReduceLROnPlateau's rules) the training loop feeds with
    ``scheduler.plateau.observe(val_metric)`` after each validation; a reduction applies from
    the next update on, as in lrsearch's own training loop. ``metric_mode`` is ignored by the
    other families.

    ``title`` (e.g. "best trial 17 of study X") heads the comment; with ``total_steps`` the
    snippet also defines ``TOTAL_STEPS``, used in the usage example.

    Raises ScheduleError for a family without a template, a ``total_steps`` below 1 or a
    ``metric_mode`` other than "min" or "max".
    """
    family = get_family(spec.family)
    template = _TEMPLATES.get(family.name)
    if template is None:
        known = ", ".join(_TEMPLATES)
        raise ScheduleError(
            "family",
            f"no PyTorch template for family {family.name!r}: templates exist for {known}",
        )
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
    factor = template(spec.params)
    warmup = spec.warmup_fraction > 0.0

    sections = [
        _constants(spec, factor, total_steps),
        *([_BUDGET_STEPS] if warmup or "budget_steps(" in factor.body + factor.helpers else []),
        *([factor.helpers.strip()] if factor.helpers else []),
        _schedule_factor(factor, warmup),
        _lr_at(warmup),
        *(_plateau_code(spec, metric_mode) if family.adaptive else [_MAKE_SCHEDULER]),
    ]
    code = "\n\n\n".join(sections)
    imports = ("import math\n\n" if "math." in code else "") + "import torch"
    header = _header(spec, factor, total_steps, title, metric_mode)
    return f"{header}\n\n{imports}\n\n{code}\n"


def _header(
    spec: ScheduleSpec, factor: _Factor, total_steps: int | None, title: str, metric_mode: str
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


def _constants(spec: ScheduleSpec, factor: _Factor, total_steps: int | None) -> str:
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


_BUDGET_STEPS = '''
def budget_steps(fraction: float, total: int, minimum: int = 1) -> int:
    """`fraction` of `total` steps, rounded half up, then clamped to [minimum, total]."""
    steps = math.floor(fraction * total + 0.5)
    return max(minimum, min(total, steps)) if total >= minimum else total
'''.strip()


def _schedule_factor(factor: _Factor, warmup: bool) -> str:
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


_SET_PEAK_LR = """
    for group in optimizer.param_groups:  # LambdaLR multiplies the initial LR by the factor
        group["lr"] = PEAK_LR
        if "initial_lr" in group:
            group["initial_lr"] = PEAK_LR""".strip("\n")

_MAKE_SCHEDULER = f'''
def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR that sets every param group's LR to lr_at(step, total_steps)."""
{_SET_PEAK_LR}
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_at(step, total_steps) / PEAK_LR
    )
'''.strip()


def _plateau_code(spec: ScheduleSpec, metric_mode: str) -> list[str]:
    if get_str(spec.params, "threshold_mode") == "rel":
        better_min, better_max = "self.best * (1.0 - THRESHOLD)", "self.best * (1.0 + THRESHOLD)"
    else:
        better_min, better_max = "self.best - THRESHOLD", "self.best + THRESHOLD"
    scale = f'''
class PlateauScale:
    """Reduce-on-plateau, by torch ReduceLROnPlateau's rules: `scale` multiplies the LR.

    Feed `observe` each validation result. After more than PATIENCE results without improvement
    (by THRESHOLD), the scale is multiplied by FACTOR, never below MIN_RATIO, and COOLDOWN
    results pass before bad ones count again. A reduction that would change the LR by less than
    EPS is skipped. A NaN or infinite result never counts as an improvement.
    """

    EPS = 1e-8

    def __init__(self, mode: str = "min") -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {{mode!r}}")
        self.mode = mode  # "min": lower is better (a loss); "max": higher is better
        self.scale = 1.0  # until the first reduction
        self.best = None
        self.bad_epochs = 0
        self.cooldown_left = 0
        self.on_reduce = None  # called after each reduction

    def observe(self, value: float) -> None:
        """Record one validation result."""
        value = float(value)
        if self.is_better(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > PATIENCE:
            new_scale = max(self.scale * FACTOR, MIN_RATIO)
            if (self.scale - new_scale) * PEAK_LR > self.EPS:
                self.scale = new_scale
                if self.on_reduce is not None:
                    self.on_reduce()
            self.cooldown_left, self.bad_epochs = COOLDOWN, 0

    def is_better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < {better_min}
        return value > {better_max}

    def state_dict(self) -> dict:
        keys = ("mode", "scale", "best", "bad_epochs", "cooldown_left")
        return {{key: getattr(self, key) for key in keys}}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
'''.strip()
    scheduler = '''
class PlateauLambdaLR(torch.optim.lr_scheduler.LambdaLR):
    """A LambdaLR whose factor is lr_at(step, total_steps) / PEAK_LR times `plateau.scale`.

    A reduction applies at once (from the next update on), not only after the next
    scheduler.step(). state_dict() holds the plateau's state as plain values.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, mode: str) -> None:
        self.plateau = PlateauScale(mode)
        super().__init__(
            optimizer, lambda step: lr_at(step, total_steps) / PEAK_LR * self.plateau.scale
        )
        self.plateau.on_reduce = self.apply_now

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
    """A LambdaLR setting every param group's LR to lr_at(step, total_steps) times the
    reductions on plateau so far. Call scheduler.plateau.observe(val_metric) after each
    validation; `mode` is "min" when lower is better (a loss), "max" when higher is better.
    """
{_SET_PEAK_LR}
    return PlateauLambdaLR(optimizer, total_steps, mode)
'''.strip()
    return [scale, scheduler, make]
