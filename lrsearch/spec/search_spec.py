"""SearchSpec: what a search job is, from a TOML file or the JSON body of ``POST /v1/studies``.

Validated once, at the edge; a bad field gives one line naming it:

>>> parse_spec({"name": "x", "task": "digits-mlp", "budget": {"trials": 0}})
Traceback (most recent call last):
...
lrsearch.errors.InvalidInputError: budget.trials: must be >= 1 (got 0)
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from lrsearch.errors import InvalidInputError, ScheduleError
from lrsearch.schedules import family_names, get_family
from lrsearch.spec.catalog import BUILTIN_TASKS, check_task_name, check_task_options

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# A metric is a column of lr_searches (64 characters); no control characters (PostgreSQL
# refuses a NUL byte in any text, and a metric name is printed in tables and plots).
METRIC_PATTERN = re.compile(r"[^\x00-\x1f\x7f]{1,64}")

# An objective is package.module:function; a command has at most this many arguments.
OBJECTIVE_PATTERN = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")
MAX_COMMAND_ARGS = 256
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

ParamSetting = float | int | str | list[float] | list[str]
_LISTS = ("fractions", "floats")


Optimizer = Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"]
Direction = Literal["minimize", "maximize"]


def _default_optimizers() -> list[Optimizer]:
    return ["sgd", "adamw"]


# An unset ``search.lr_range`` turns the range test on only from this many trials: its sweeps
# are charged at least one trial, at most 5 % of such a budget (README, "The LR range test").
AUTO_RANGE_MIN_TRIALS = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Strict):
    """The total trial budget (across all workers) and each trial's length."""

    trials: StrictInt = Field(20, ge=1, le=1_000_000)
    epochs: StrictInt | None = Field(None, ge=1, le=100_000)
    steps: StrictInt | None = Field(None, ge=1, le=100_000_000)
    evals: StrictInt = Field(
        10, ge=1, le=10_000, description="validations per trial when using steps"
    )

    @model_validator(mode="after")
    def _one_length(self) -> Budget:
        if self.epochs is not None and self.steps is not None:
            raise ValueError("give epochs or steps, not both")
        return self

    @property
    def reports(self) -> int:
        """How many validation results each trial reports (the pruners' resource)."""
        return self.epochs if self.epochs is not None else min(self.evals, self.steps or 1)


class Confirm(_Strict):
    """``[search] confirm``: after the search, re-run its ``top_k`` best configs on ``seeds``
    fresh seeds each; the best is then the config with the best mean (``top_k = 0``: off).

    ``confirm = true`` is ``{top_k = 3, seeds = 3}``; ``confirm = false`` turns it off."""

    top_k: StrictInt = Field(3, ge=0, le=20, description="configs re-run (0: no confirmation)")
    seeds: StrictInt = Field(
        3, ge=2, le=50, description="fresh seeds per config (2 at least: a spread needs two)"
    )

    @property
    def trials(self) -> int:
        """The slots the confirmations take (added to the budget after the search)."""
        return self.top_k * self.seeds


CONFIRM_OFF = Confirm(top_k=0)


class SearchOptions(_Strict):
    sampler: Literal["tpe", "random", "grid", "qmc"] = "tpe"
    seed: StrictInt = Field(0, ge=0, le=2**31 - 1)
    pruner: Literal["median", "schedule", "anneal", "successive_halving", "hyperband", "none"] = (
        "median"
    )
    startup_trials: StrictInt = Field(
        5, ge=0, le=10_000, description="trials before the sampler and the pruner start to act"
    )
    stop_after_failures: StrictInt = Field(
        3, ge=0, le=1_000_000, description="stop when the first N trials fail alike (0: never)"
    )
    lr_range: Literal["off", "auto"] = Field(
        "off",
        description="auto: an LR range test (short exponential LR sweeps per optimizer) sets "
        "the peak LR's search range before the searched trials start; unset in a spec: auto "
        "for a task when space.lr is not given and budget.trials >= 20, else off",
    )
    lr_range_seeds: StrictInt = Field(3, ge=1, le=10, description="sweeps per optimizer")
    lr_range_steps: StrictInt = Field(
        200, ge=20, le=100_000, description="optimizer updates of one sweep (at most)"
    )
    lr_range_share: float = Field(
        0.03,
        gt=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="the sweeps together train at most this share of the budget's updates "
        "(budget.trials x a trial's updates); each sweep runs 16 to lr_range_steps updates",
    )
    confirm: Confirm = Field(
        CONFIRM_OFF,
        description="re-run the top_k configs on fresh seeds after the search; the best is "
        "the best mean (true: top_k = 3, seeds = 3; false or top_k = 0: off)",
    )

    @field_validator("confirm", mode="before")
    @classmethod
    def _confirm_switch(cls, confirm: Any) -> Any:
        if confirm is True:
            return Confirm()
        if confirm is False:
            return CONFIRM_OFF
        if not isinstance(confirm, Mapping | Confirm):
            raise ValueError(
                f"must be true, false or a table {{top_k = 3, seeds = 3}} (got {_short(confirm)})"
            )
        return confirm


class Space(_Strict):
    """What Optuna may propose. Per-family ``params`` narrow a range ``[low, high]``, fix a
    value, or list the allowed choices."""

    families: list[str] = Field(default_factory=lambda: list(family_names()), min_length=1)
    lr: tuple[float, float] = (1e-6, 1.0)
    optimizers: list[Optimizer] = Field(default_factory=_default_optimizers, min_length=1)
    warmup: tuple[float, float] = (0.0, 0.1)
    warmup_start_factor: float = Field(0.0, ge=0.0, le=1.0)
    params: dict[str, dict[str, ParamSetting]] = Field(default_factory=dict)

    @field_validator("families")
    @classmethod
    def _known_families(cls, families: list[str]) -> list[str]:
        for name in families:
            try:
                get_family(name)
            except ScheduleError as exc:
                raise ValueError(exc.reason) from None
        if len(set(families)) != len(families):
            raise ValueError("lists a family twice")
        return families

    @field_validator("optimizers")
    @classmethod
    def _unique_optimizers(cls, optimizers: list[str]) -> list[str]:
        if len(set(optimizers)) != len(optimizers):
            raise ValueError("lists an optimizer twice")
        return optimizers

    @field_validator("lr")
    @classmethod
    def _lr_range(cls, lr: tuple[float, float]) -> tuple[float, float]:
        low, high = lr
        if not 0.0 < low <= high <= 100.0:
            raise ValueError(f"[{low}, {high}] must satisfy 0 < low <= high <= 100")
        return lr

    @field_validator("warmup")
    @classmethod
    def _warmup_range(cls, warmup: tuple[float, float]) -> tuple[float, float]:
        low, high = warmup
        if not 0.0 <= low <= high < 1.0:
            raise ValueError(f"[{low}, {high}] must satisfy 0 <= low <= high < 1")
        return warmup

    @model_validator(mode="after")
    def _params_fit_the_families(self) -> Space:
        for family, settings in self.params.items():
            if family not in self.families:
                raise ValueError(f"params.{family}: family {family!r} is not in space.families")
            fam = get_family(family)
            for key, setting in settings.items():
                try:
                    param = fam.param(key)
                except KeyError:
                    known = ", ".join(p.name for p in fam.params) or "none"
                    raise ValueError(
                        f"params.{family}.{key}: unknown parameter (parameters are {known})"
                    ) from None
                _check_setting(param, setting, f"params.{family}.{key}")
            fixed = {k: v for k, v in settings.items() if fam.param(k).kind in _LISTS}
            if fam.check is not None and len(fixed) == sum(p.kind in _LISTS for p in fam.params):
                try:  # every list parameter fixed: they must fit together
                    fam.check(f"params.{family}", {k: _floats(v) for k, v in fixed.items()})
                except ScheduleError as exc:
                    raise ValueError(str(exc)) from None
        return self


def _floats(setting: ParamSetting) -> tuple[float, ...]:
    assert isinstance(setting, list)
    return tuple(float(v) for v in setting)


def _check_setting(param: Any, setting: ParamSetting, field: str) -> None:
    """A fixed value, a [low, high] range (numbers) or a list of choices, each in range."""
    try:
        if param.kind == "choice":
            for choice in setting if isinstance(setting, list) else [setting]:
                param.validate(choice, field)
        elif param.kind in ("fractions", "floats"):
            param.validate(setting, field)
        elif isinstance(setting, list):
            if len(setting) != 2:
                raise ValueError(f"{field}: a range is [low, high], got {setting}")
            low, high = (param.validate(v, field) for v in setting)
            if low > high:
                raise ValueError(f"{field}: range [{low}, {high}] has low > high")
        else:
            param.validate(setting, field)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None


class SearchSpec(_Strict):
    """A whole search job: what trains (exactly one of ``task``, ``objective`` or ``command``),
    the metric, the budget, the sampler and pruner, and the space.

    ``task`` is a built-in task or ``python:package.module:factory`` (a TensorTask factory);
    ``metric`` and ``direction`` default to the task's. ``objective = "package.module:function"``
    is called with a :class:`lrsearch.Trial` in the worker's process; ``command`` (an argv, run
    in ``cwd`` with ``env`` added, or over HTTP the name of a server-side command template) is a
    child process that reports over the local channel. Those two need ``metric`` and
    ``direction``: there is no catalog to take them from.
    """

    name: str = Field(pattern=NAME_PATTERN)
    task: str | None = Field(None, max_length=256)
    objective: str | None = Field(None, max_length=256)
    command: list[str] | str | None = None
    cwd: str | None = Field(None, max_length=4096)
    env: dict[str, str] = Field(default_factory=dict)
    task_options: dict[str, Any] = Field(default_factory=dict)
    metric: str | None = None
    direction: Direction | None = None
    budget: Budget = Budget()
    search: SearchOptions = SearchOptions()
    space: Space = Space()
    baselines: StrictBool = Field(
        True,
        description="after the search's own trials, run the classic schedules at the tuned "
        "best's LR (on slots of their own), to compare against",
    )

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str | None) -> str | None:
        if task is None:
            return task
        try:
            check_task_name(task)
        except InvalidInputError as exc:
            raise ValueError(exc.reason) from None
        return task

    @field_validator("objective")
    @classmethod
    def _objective_form(cls, objective: str | None) -> str | None:
        if objective is not None and OBJECTIVE_PATTERN.fullmatch(objective) is None:
            raise ValueError(f"{_short(objective)} is not of the form package.module:function")
        return objective

    @field_validator("command")
    @classmethod
    def _command_form(cls, command: list[str] | str | None) -> list[str] | str | None:
        if isinstance(command, str):
            if re.fullmatch(NAME_PATTERN, command) is None:
                raise ValueError(f"{_short(command)} is not a command template name")
        elif command is not None:
            if not 1 <= len(command) <= MAX_COMMAND_ARGS:
                raise ValueError(f"must be a list of 1 to {MAX_COMMAND_ARGS} arguments")
            if not command[0] or any("\x00" in arg for arg in command):
                raise ValueError("arguments must be non-empty at the start and hold no NUL byte")
        return command

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key, value in env.items():
            if ENV_NAME.fullmatch(key) is None or "\x00" in value:
                raise ValueError(f"{_short(key)} is not a usable environment variable")
        return env

    @field_validator("metric")
    @classmethod
    def _printable_metric(cls, metric: str | None) -> str | None:
        if metric is not None and METRIC_PATTERN.fullmatch(metric) is None:
            reason = "must be 1 to 64 characters, none a control character"
            raise ValueError(f"{reason}: {_short(metric)}")
        return metric

    @model_validator(mode="after")
    def _one_way_in(self) -> SearchSpec:
        given = [key for key in ("task", "objective", "command") if getattr(self, key) is not None]
        if not given:
            raise ValueError(
                "task: is missing: name a task, an objective (package.module:function) or a command"
            )
        if len(given) > 1:
            raise ValueError(f"{given[1]}: give only one of task, objective and command")
        if self.command is None:
            for key in ("cwd", "env"):
                if getattr(self, key):
                    raise ValueError(f"{key}: only a command has a working directory and env")
        if self.task is None:
            if self.task_options:
                raise ValueError("task_options: only a task has options")
            for key in ("metric", "direction"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key}: is required with {given[0]} (no catalog knows it)")
        return self

    @model_validator(mode="after")
    def _options_of_the_task(self) -> SearchSpec:
        if self.task is None:
            return self
        try:
            check_task_options(self.task, self.task_options)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _metric_of_the_task(self) -> SearchSpec:
        info = BUILTIN_TASKS.get(self.task or "")
        if info is not None and self.metric is not None and self.metric not in info.metrics:
            known = ", ".join(info.metrics)
            raise ValueError(f"metric: task {self.task!r} reports {known}, not {self.metric!r}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _range_test_by_default(cls, data: Any) -> Any:
        """``search.lr_range`` left unset: the range test runs where nobody chose the LR range
        (``space.lr`` not given, so lrsearch's [1e-6, 1]), the budget can afford it
        (AUTO_RANGE_MIN_TRIALS) and the built-in loop trains (``task``: it sweeps; a user's
        objective or command sweeps only if it uses ``trial.scheduler``, so there the test is
        asked for); a grid's fixed LRs and a range the spec gives are kept."""
        if not isinstance(data, Mapping):
            return data
        search, space = data.get("search", {}), data.get("space", {})
        budget = data.get("budget", {})
        if not all(isinstance(v, Mapping) for v in (search, space, budget)):
            return data  # the field validators say what is wrong
        if "lr_range" in search:
            return data
        trials = budget.get("trials", Budget.model_fields["trials"].default)
        wide = "lr" not in space and search.get("sampler", "tpe") != "grid"
        enough = isinstance(trials, int) and trials >= AUTO_RANGE_MIN_TRIALS
        looped = bool(data.get("task"))
        chosen = "auto" if wide and enough and looped else "off"
        return {**data, "search": {**search, "lr_range": chosen}}

    @model_validator(mode="after")
    def _range_test_fits(self) -> SearchSpec:
        if self.search.lr_range == "off":
            return self
        if self.search.sampler == "grid":
            raise ValueError("search.lr_range: the grid sampler runs a fixed LR grid; use off")
        low, high = self.space.lr
        if high < low * 100.0:
            raise ValueError(
                f"search.lr_range: space.lr [{low}, {high}] spans less than 2 decades: "
                "nothing to narrow (use off)"
            )
        return self

    @property
    def runs(self) -> str:
        """What trains: ``"task"``, ``"objective"`` or ``"command"``."""
        return "task" if self.task else "objective" if self.objective else "command"

    @property
    def label(self) -> str:
        """What trains, in one string of at most 256 characters (lr_searches.task)."""
        if self.task is not None:
            return self.task
        if self.objective is not None:
            return f"objective:{self.objective}"
        shown = self.command if isinstance(self.command, str) else shlex.join(self.command or [])
        return f"command:{shown}"[:256]

    def resolved_metric(
        self, reported: Mapping[str, str] | None = None, default: str | None = None
    ) -> tuple[str, Direction]:
        """The metric to optimize and its direction, with the task's defaults filled in.

        ``reported`` (metric -> direction) and ``default`` come from the loaded task; without
        them the built-in catalog answers (user tasks then default to ``val_loss``). An
        objective or a command names both.
        """
        if self.task is None:
            assert self.metric is not None and self.direction is not None
            return self.metric, self.direction
        info = BUILTIN_TASKS.get(self.task)
        if reported is None:
            reported = info.metrics if info is not None else {"val_loss": "minimize"}
            default = info.default_metric if info is not None else "val_loss"
        metric = self.metric or default or "val_loss"
        if metric not in reported:
            known = ", ".join(reported)
            raise InvalidInputError("metric", f"task {self.task!r} reports {known}, not {metric!r}")
        if self.direction is not None:
            return metric, self.direction
        return metric, "maximize" if reported[metric] == "maximize" else "minimize"

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_spec(data: Mapping[str, Any]) -> SearchSpec:
    """Validate a spec given as a mapping; the first problem becomes one InvalidInputError."""
    try:
        return SearchSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise _as_input_error(exc) from None


def load_spec_file(path: str | Path) -> SearchSpec:
    """Read and validate a TOML spec file."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError("spec", f"{str(file)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError("spec", f"cannot read {str(file)!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError("spec", f"{str(file)!r} is not valid TOML: {exc}") from None
    return parse_spec(data)


def _as_input_error(exc: ValidationError) -> InvalidInputError:
    return input_error(exc.errors(include_url=False)[0])


def input_error(error: Mapping[str, Any]) -> InvalidInputError:
    """One pydantic error (an item of ``ValidationError.errors()``) as a field and a reason."""
    loc = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith(_FIELD_PREFIXES):
        field, _, reason = message.partition(": ")
        return InvalidInputError(f"{loc}.{field}".strip(".") if loc else field, reason)
    kind = error["type"]
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {
            "greater_than_equal": ">=",
            "less_than_equal": "<=",
            "greater_than": ">",
            "less_than": "<",
        }[kind]
        limit = next(iter(error.get("ctx", {"": "the limit"}).values()))
        message = f"must be {bound} {limit}"
    if kind == "extra_forbidden":
        message = "unknown field"
    if kind == "missing":
        return InvalidInputError(loc, "is missing")
    if kind == "value_error":  # our own validators name the value themselves
        return InvalidInputError(loc, message)
    return InvalidInputError(loc, f"{message} (got {_short(error.get('input'))})")


_FIELD_PREFIXES = (
    "params.",
    "metric:",
    "task_options",
    "task:",
    "objective:",
    "command:",
    "cwd:",
    "env:",
    "direction:",
    "search.lr_range:",
)


def _short(value: object, limit: int = 80) -> str:
    """The offending value for a message: a huge body must not come back whole."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
