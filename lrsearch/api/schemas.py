"""The wire format: what the HTTP service accepts and returns. One module, one place to look."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from lrsearch.schedules.registry import Family, family_names
from lrsearch.service import SearchSummary

MAX_CURVE_STEPS = 1_000_000  # a curve of a million floats is about 20 MB of JSON
MAX_INT = 2**31 - 1  # offsets and numbers beyond this are no row's; SQL integers stop here


def _as_utc(moment: datetime) -> datetime:
    """Every time the API returns is UTC with its offset (RFC 3339). The service hands over
    aware times (lrsearch's own are stored in UTC; Optuna's local ones are converted there);
    a naive one here is lrsearch's, hence UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(_as_utc)]

# One casing on the wire: lower case, for study statuses and trial states alike (Optuna's
# upper-case state names are lowered here; query parameters accept either casing).
TrialState = Literal["running", "complete", "pruned", "fail", "waiting"]


def lowered(value: object) -> object:
    """A state or status in lower case (input in either casing, Optuna's names included)."""
    return value.lower() if isinstance(value, str) else value


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class FieldError(_Out):
    field: str = Field(description="the dotted path of the bad field, e.g. space.lr")
    message: str


class ErrorPublic(_Out):
    """Every error the service returns: a message, and the bad fields for a 422."""

    message: str
    errors: list[FieldError] = Field(default_factory=list)


class Health(_Out):
    status: Literal["ok"]


class Ready(_Out):
    status: Literal["ready"]
    schema_revision: str
    agents_alive: int = Field(
        description="agents whose heartbeat is younger than LRSEARCH_STALE_AFTER_S"
    )


class AgentPublic(_Out):
    name: str = Field(description="host:pid, as its trials' `worker`")
    state: Literal["alive", "stopped", "lost"]
    started_at: UtcTime
    heartbeat_at: UtcTime
    running: int = Field(description="trials it runs now")


class AgentsPublic(_Out):
    data: list[AgentPublic]
    alive: int


class ParamPublic(_Out):
    name: str
    kind: str
    default: float | int | str | list[float]
    allowed: str
    help: str


class FamilyPublic(_Out):
    family: str
    summary: str
    adaptive: bool
    twins: list[str]
    params: list[ParamPublic]


class FamiliesPublic(_Out):
    data: list[FamilyPublic]
    count: int


class ScheduleIn(BaseModel):
    """A ScheduleSpec as JSON: missing parameters take the family's defaults."""

    model_config = ConfigDict(extra="forbid")

    family: str = Field(json_schema_extra={"enum": list(family_names())})
    lr: float = Field(gt=0, description="the peak LR")
    params: dict[str, Any] = Field(default_factory=dict)
    warmup: dict[str, Any] = Field(
        default_factory=dict, description="fraction (of the run) and start_factor"
    )


class CurveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: ScheduleIn
    steps: int = Field(ge=1, le=MAX_CURVE_STEPS, description="length of the run, in updates")


class CurvePublic(_Out):
    schedule: dict[str, Any] = Field(description="the complete spec, every parameter filled in")
    steps: int
    lr: list[float] = Field(description="the LR of update 0 .. steps - 1")


class Counts(_Out):
    complete: int
    pruned: int
    failed: int
    running: int
    remaining: int = Field(description="trials of the budget not finished yet")
    retried: int = Field(description="attempts abandoned (interrupted, worker lost) and re-run")


class StudyPublic(_Out):
    name: str
    status: Annotated[str, BeforeValidator(lowered)] = Field(
        description="lower case: queued, running, stopping, done, failed (or cancelled)"
    )
    task: str
    metric: str
    direction: str
    trial_budget: int
    counts: Counts
    best_value: float | None
    best_trial: int | None
    created_at: UtcTime
    updated_at: UtcTime
    error: str | None


class StudiesPublic(_Out):
    data: list[StudyPublic]
    count: int = Field(description="studies in all, whatever the page")
    limit: int
    offset: int


class EpochPublic(_Out):
    epoch: int
    step: int
    train_loss: float | None
    value: float | None
    lr: float | None
    seconds: float | None


class TrialPublic(_Out):
    number: int
    state: Annotated[TrialState, BeforeValidator(lowered)] = Field(
        description="Optuna's state, in lower case: running, complete, pruned, fail, waiting"
    )
    value: float | None
    params: dict[str, Any]
    schedule: dict[str, Any] | None
    optimizer: str | None
    baseline: str | None = Field(
        None, description="the classic schedule this trial ran, if a baseline (not sampled)"
    )
    confirms: int | None = Field(
        None,
        description="the trial whose config this one re-runs on a fresh seed, if a "
        "confirmation (not sampled)",
    )
    attempt: int
    worker: str | None
    fail_reason: str | None
    intermediate_values: dict[str, float] = Field(description="epoch -> validation metric")
    started_at: UtcTime | None
    completed_at: UtcTime | None


class TrialDetail(TrialPublic):
    epochs: list[EpochPublic]
    steps: int | None = Field(
        None, description="updates the trial trains in full (its schedule's length)"
    )
    fail_traceback: str | None = Field(
        None, description="the last lines of the traceback of a trial that raised"
    )
    log_tail: str | None = Field(None, description="the last lines the trial's code printed")
    lr: list[float] | None = Field(None, description="the schedule rendered for ?steps=N")


class TrialsPublic(_Out):
    data: list[TrialPublic]
    count: int
    limit: int
    offset: int


class ExtendRequest(BaseModel):
    """``POST /v1/studies/{name}/extend``: trials to add to the study's budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    trials: int = Field(ge=1, le=1_000_000, strict=True, description="trials to add")


class RetryRequest(BaseModel):
    """``POST /v1/studies/{name}/retry``: which trials to run again (failed ones, for now)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    failed: Literal[True] = Field(description="re-run the failed trials with their parameters")


class RetriedPublic(_Out):
    requeued: list[int] = Field(description="failed trials queued again with their parameters")
    fresh: int = Field(description="failed trials without parameters: a fresh sample each")
    study: StudyPublic


class BaselinePublic(_Out):
    """A classic schedule run after the search at the tuned best's optimizer, peak LR, warmup
    and seed, beside that tuned best."""

    name: str
    state: str = Field(description="queued until it ran; then complete, pruned or failed")
    value: float | None
    trial_number: int | None
    schedule: dict[str, Any]
    optimizer: str
    tuned_trial: int | None = Field(description="the search's best own trial it is compared with")
    tuned_value: float | None
    gain: float | None = Field(
        description="how much better the tuned best is (positive: better, in the metric's "
        "direction)"
    )


class ConfirmedConfigPublic(_Out):
    """One of the search's top configs, re-run on fresh seeds after the search."""

    trial_number: int = Field(description="the searched trial whose config was re-run")
    trial_value: float = Field(description="that trial's own value (selected, so biased)")
    schedule: dict[str, Any]
    optimizer: str
    optimizer_params: dict[str, Any]
    values: list[float] = Field(description="the complete confirmations' values")
    n: int = Field(description="complete confirmations")
    mean: float | None = Field(description="mean over the fresh seeds (the trial's own excluded)")
    std: float | None = Field(description="sample standard deviation (n - 1), n >= 2")
    interval: list[float] | None = Field(
        description="95% Student-t interval for the config's true mean, n >= 2"
    )
    p_best: float | None = Field(
        description="probability that it is truly the best of the confirmed configs "
        "(Monte Carlo over Student-t posteriors of each mean, fixed seed), n >= 2"
    )
    failed: int = Field(description="confirmations that ended without a value")
    queued: int = Field(description="confirmations still to run or running")


class ConfirmationPublic(_Out):
    """``[search] confirm``: the top configs on fresh seeds, best mean first."""

    done: bool = Field(description="every confirmation has ended: the best is the best mean")
    top_k: int
    seeds: int
    winner: int | None = Field(description="the trial whose config has the best mean, once done")
    configs: list[ConfirmedConfigPublic]


class ConfirmedPublic(_Out):
    """The best's statistics over its fresh seeds."""

    n: int
    mean: float
    std: float | None
    interval: list[float] | None = Field(description="95% Student-t interval of the mean")
    p_best: float | None = Field(description="probability that it is truly the best of the k")
    values: list[float]


class SingleBestPublic(_Out):
    trial_number: int
    value: float


class BestPublic(_Out):
    study: str
    metric: str
    direction: str
    value: float
    trial_number: int
    schedule: dict[str, Any]
    optimizer: str
    optimizer_params: dict[str, Any]
    seed: int
    steps: int | None = Field(description="optimizer updates the best trial trained for")
    baseline: str | None = Field(
        None, description="the classic schedule the best trial ran, when it is a baseline"
    )
    baselines: list[BaselinePublic] = Field(
        default_factory=list, description="the classic schedules run after the search"
    )
    confirmed: ConfirmedPublic | None = Field(
        None,
        description="the best config's mean, std, n, 95% interval and probability of being "
        "the best over its fresh seeds, once the confirmations are done (value and "
        "trial_number are then the trial it repeats)",
    )
    single_best: SingleBestPublic | None = Field(
        None, description="the best single trial (the best before any confirmation)"
    )
    confirmation: ConfirmationPublic | None = Field(
        None, description="every confirmed config ([search] confirm), best mean first"
    )
    updated_at: UtcTime
    lr: list[float] | None = Field(None, description="the curve for ?steps=N updates")


def study_public(summary: SearchSummary) -> StudyPublic:
    s = summary.search
    return StudyPublic(
        name=s.name,
        status=s.status,
        task=s.task,
        metric=s.metric,
        direction=s.direction,
        trial_budget=s.trial_budget,
        counts=Counts(
            complete=s.n_complete,
            pruned=s.n_pruned,
            failed=s.n_failed,
            running=max(s.running, 0),
            remaining=max(s.remaining, 0),
            retried=s.n_retried,
        ),
        best_value=summary.best_value,
        best_trial=summary.best_trial,
        created_at=s.created_at,
        updated_at=s.updated_at,
        error=s.error,
    )


def family_public(fam: Family) -> FamilyPublic:
    return FamilyPublic(
        family=fam.name,
        summary=fam.summary,
        adaptive=fam.adaptive,
        twins=list(fam.twins),
        params=[
            ParamPublic(
                name=p.name,
                kind=p.kind,
                default=list(p.default) if isinstance(p.default, tuple) else p.default,
                allowed=p.range_text(),
                help=p.help,
            )
            for p in fam.params
        ],
    )
