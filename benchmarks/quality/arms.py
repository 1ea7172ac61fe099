"""Running one search of one arm: lrsearch through its worker, or a plain Optuna script.

Both return a :class:`SearchRun`: every trial with its state, value, intermediate values, the
optimizer updates it trained and the config it trained with. lrsearch arms run in this process
with ``run_worker`` on a fresh SQLite file (one worker, one torch thread), through lrsearch's
public entry points only: ``parse_spec``, ``lrsearch.service`` (create, stop) and Optuna's API
on the same storage to read the trials back.

A step budget, not a trial count, ends a search: a watcher thread sums the updates trained so
far and stops the search (``stop_study``: no new trials, the running one finishes) once the
budget is reached. With one worker a search's first k trials do not depend on its trial
budget, so cutting the trial list at the budget afterwards (scoring.py) gives exactly the
search that budget would have run.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

from benchmarks.quality.plan import (
    PLAIN_OPTIMIZER_PARAMS,
    WIDE_LR,
    Arm,
    BenchTask,
    Sizes,
    bench_device,
)
from lrsearch.config import Settings
from lrsearch.errors import LRSearchError, TrainingDiverged
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.worker import run_worker
from lrsearch.service import Backend, SubmitPolicy, create_search, lr_range_view, stop_study
from lrsearch.spec import SearchOptions, parse_spec
from lrsearch.tasks.registry import load_task
from lrsearch.train.loop import RunLength, steps_per_epoch, train

WATCH_S = 0.5


@dataclass
class TrialRecord:
    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    value: float | None
    steps: int  # optimizer updates trained
    intermediate: dict[int, float]  # epoch -> the metric after it
    config: dict[str, Any] | None  # schedule, optimizer, optimizer_params (seed left out)
    baseline: str | None = None
    probe_steps: int = 0  # of ``steps``: the anneal probes' updates


@dataclass
class SearchRun:
    task: str
    arm: str
    seed: int
    steps_per_epoch: int
    budget_steps: int
    wall_s: float
    trials: list[TrialRecord] = field(default_factory=list)
    # The lr-range arm: the range chosen per optimizer and the sweeps' updates (no curves).
    lr_range: dict[str, Any] | None = None
    # The spec the search ran (lrsearch arms; absent from runs recorded before it was kept).
    spec: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchRun:
        """Back from ``to_dict`` through JSON (whose object keys are strings)."""
        trials = [
            TrialRecord(**{**t, "intermediate": {int(k): v for k, v in t["intermediate"].items()}})
            for t in data["trials"]
        ]
        return cls(**{**data, "trials": trials})


@dataclass(frozen=True)
class SearchJob:
    task: BenchTask
    arm: Arm
    seed: int
    sizes: Sizes
    workdir: Path

    @property
    def label(self) -> str:
        return f"{self.task.name}-{self.arm.name}-s{self.seed}"


def run_search(job: SearchJob) -> SearchRun:
    """Run ``job`` to its step budget; lrsearch's worker or the plain Optuna script."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    task = load_task(job.task.task, job.task.options)
    per_epoch = steps_per_epoch(task)
    budget = job.sizes.nominal_trials * job.task.epochs * per_epoch
    cap = math.ceil(job.sizes.nominal_trials * job.sizes.trial_cap_factor)
    started = time.perf_counter()
    ranged, spec = None, None
    if job.arm.kind == "plain":
        trials = plain_optuna_search(job.task, job.seed, budget, cap)
    else:
        spec = lrsearch_spec(job, cap)
        trials, ranged = lrsearch_search(job, spec, per_epoch, budget)
    wall = time.perf_counter() - started
    return SearchRun(
        job.task.name, job.arm.name, job.seed, per_epoch, budget, wall, trials, ranged, spec
    )


# --------------------------------------------------------------------------- lrsearch arms


def lrsearch_spec(job: SearchJob, trials: int) -> dict[str, Any]:
    """The spec a user would write for this arm: lrsearch defaults but for the arm's one change."""
    search: dict[str, Any] = {
        "sampler": job.arm.sampler,
        "seed": job.seed,
        "pruner": job.arm.pruner,
        "startup_trials": job.sizes.startup_trials,
        # Stopped at the step budget, the search never opens its confirmation slots: the
        # benchmark runs them itself (confirm.py); the spec says what a user would write.
        **(
            {"confirm": {"top_k": job.arm.confirm[0], "seeds": job.arm.confirm[1]}}
            if job.arm.confirm
            else {}
        ),
    }
    if job.arm.lr_range:
        # lrsearch sizes its sweeps from budget.trials x a trial's updates; this spec's
        # budget.trials is the trial cap (``trials``), not the budget, which is
        # nominal_trials trials' worth of updates. The share of the cap that equals lrsearch's
        # default share of the budget is what a user's spec (budget.trials = nominal) gets.
        share = SearchOptions.model_fields["lr_range_share"].default
        search.update(
            lr_range="auto",
            lr_range_seeds=3,
            lr_range_share=share * job.sizes.nominal_trials / trials,
        )
        if job.sizes.lr_range_steps is not None:  # None: lrsearch sizes its sweeps itself
            search["lr_range_steps"] = job.sizes.lr_range_steps
    space = dict(job.task.space)
    if job.arm.wide_lr:
        space["lr"] = list(WIDE_LR)
    return {
        "name": job.label,
        "task": job.task.task,
        "task_options": job.task.options,
        "metric": job.task.metric,
        "direction": job.task.direction,
        "budget": {"trials": trials, "epochs": job.task.epochs},
        "search": search,
        "space": space,
        "baselines": job.arm.baselines,
    }


def lrsearch_search(
    job: SearchJob, written: dict[str, Any], per_epoch: int, budget: int
) -> tuple[list[TrialRecord], dict[str, Any] | None]:
    url = f"sqlite:///{job.workdir / (job.label + '.db')}"
    spec = parse_spec(written)
    # The spec names metric and direction, so no child process needs to probe the task.
    with Backend.from_settings(Settings(storage_url=url)) as backend:
        create_search(backend, spec, SubmitPolicy.local(), resume=True)  # creates the file
        watcher = BudgetWatcher(backend, spec.name, per_epoch, job.task.epochs, budget)
        watcher.start()
        try:
            run_worker(url, spec.name, threads=1, device=bench_device())
        finally:
            watcher.done.set()
            watcher.join()
        trials = read_trials(backend, spec.name, per_epoch, job.task.epochs)
        if not job.arm.lr_range:
            return trials, None
        view = lr_range_view(backend, spec.name)
        return trials, {k: v for k, v in view.items() if k != "curves"}


class BudgetWatcher(threading.Thread):
    """Stops the search once the updates its trials trained reach ``budget``."""

    def __init__(
        self, backend: Backend, name: str, per_epoch: int, epochs: int, budget: int
    ) -> None:
        super().__init__(daemon=True)
        self.backend, self.name = backend, name
        self.per_epoch, self.epochs, self.budget = per_epoch, epochs, budget
        self.done = threading.Event()

    def run(self) -> None:
        study = optuna.load_study(study_name=self.name, storage=self.backend.optuna_storage())
        while not self.done.wait(WATCH_S):
            trials = study.get_trials(deepcopy=False)
            used = sum(trial_steps(t, self.per_epoch, self.epochs) for t in trials)
            if used >= self.budget:
                with contextlib.suppress(LRSearchError):  # already done: nothing to stop
                    stop_study(self.backend, self.name)
                return


def trial_steps(trial: optuna.trial.FrozenTrial, per_epoch: int, epochs: int) -> int:
    """Updates a trial trained: one epoch per reported value; a failed (diverged) trial also
    trained the epoch it diverged in, which it could not report. An LR sweep trained the
    updates it says (``sweep_updates``): they count in the budget like any trial's."""
    if "lr_sweep" in trial.user_attrs:
        return int(trial.user_attrs.get("sweep_updates", 0))
    reported = len(trial.intermediate_values)
    if trial.state == optuna.trial.TrialState.FAIL:
        reported = min(reported + 1, epochs)
    return reported * per_epoch + probe_steps(trial)


def probe_steps(trial: optuna.trial.FrozenTrial) -> int:
    """The anneal probes' updates (the anneal-pruner arm): they count in the budget too."""
    return int(trial.user_attrs.get("probe_updates", 0))


def read_trials(backend: Backend, name: str, per_epoch: int, epochs: int) -> list[TrialRecord]:
    study = optuna.load_study(study_name=name, storage=backend.optuna_storage())
    return [
        _record(t, per_epoch, epochs, _lrsearch_config(t))
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished()
    ]


def _lrsearch_config(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """The config the trial trained with, from its user attributes."""
    attrs = trial.user_attrs
    config = attrs.get("config") or attrs.get("baseline_config")
    if isinstance(config, dict):
        return {k: config[k] for k in ("schedule", "optimizer", "optimizer_params")}
    if "schedule" in attrs and "optimizer" in trial.params:  # the documented attributes
        return {
            "schedule": attrs["schedule"],
            "optimizer": trial.params["optimizer"],
            "optimizer_params": attrs.get("optimizer_params", {}),
        }
    return None


def _record(
    trial: optuna.trial.FrozenTrial, per_epoch: int, epochs: int, config: dict[str, Any] | None
) -> TrialRecord:
    baseline = trial.user_attrs.get("baseline")
    return TrialRecord(
        number=trial.number,
        state=trial.state.name,
        value=trial.value if trial.state == optuna.trial.TrialState.COMPLETE else None,
        steps=trial_steps(trial, per_epoch, epochs),
        intermediate={int(k): float(v) for k, v in trial.intermediate_values.items()},
        config=config,
        baseline=str(baseline) if baseline is not None else None,
        probe_steps=probe_steps(trial),
    )


# --------------------------------------------------------------------------- plain Optuna


def plain_optuna_search(task_def: BenchTask, seed: int, budget: int, cap: int) -> list[TrialRecord]:
    """What a user writes by hand: tune the peak LR of a cosine schedule, TPE + MedianPruner.

    The training is lrsearch's loop (the same data, batches and cost per update as the other
    arms); everything about the search is Optuna's defaults, written out below.
    """
    task = load_task(task_def.task, task_def.options)
    low, high = task_def.lr_range
    optimizer = task_def.plain_optimizer
    optimizer_params = PLAIN_OPTIMIZER_PARAMS[optimizer]

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", low, high, log=True)
        schedule = ScheduleSpec.create("cosine", lr, {"final_ratio": 0.0})
        trial.set_user_attr("schedule", schedule.to_dict())

        def report(epoch: int, step: int, metrics: dict[str, float]) -> None:
            trial.report(metrics[task_def.metric], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        result = train(
            task,
            schedule,
            optimizer,
            optimizer_params,
            length=RunLength(epochs=task_def.epochs),
            seed=seed * 100_003 + trial.number,
            metric=task_def.metric,
            direction=task_def.direction,
            reporter=report,  # type: ignore[arg-type]
            device=bench_device(),
        )
        return result.metrics[task_def.metric]

    study = optuna.create_study(
        direction=task_def.direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(),
    )
    per_epoch = steps_per_epoch(task)

    def stop_at_budget(study: optuna.Study, _: optuna.trial.FrozenTrial) -> None:
        used = sum(trial_steps(t, per_epoch, task_def.epochs) for t in study.trials)
        if used >= budget:
            study.stop()

    study.optimize(objective, n_trials=cap, callbacks=[stop_at_budget], catch=(TrainingDiverged,))
    return [
        _record(t, per_epoch, task_def.epochs, _plain_config(t, optimizer)) for t in study.trials
    ]


def _plain_config(trial: optuna.trial.FrozenTrial, optimizer: str) -> dict[str, Any] | None:
    schedule = trial.user_attrs.get("schedule")
    if schedule is None:
        return None
    return {
        "schedule": schedule,
        "optimizer": optimizer,
        "optimizer_params": PLAIN_OPTIMIZER_PARAMS[optimizer],
    }
