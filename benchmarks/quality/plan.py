"""What the quality benchmark runs: its tasks, its arms and its sizes (full and smoke).

Every arm of a task gets the same budget of optimizer updates: ``nominal_trials`` full-length
trials' worth. Pruned trials are short, so an arm that prunes runs more trials in the same
budget (that is pruning's whole point); see README "Search quality" for how the budget is cut.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Direction = Literal["minimize", "maximize"]
USER_TASKS = "python:benchmarks.quality.tasks"


@dataclass(frozen=True)
class BenchTask:
    """One benchmark task: the lrsearch task it names, its search space, its length, and what a
    user's plain Optuna script would train it with."""

    name: str
    task: str  # lrsearch's task name: a built-in one or python:module:factory
    options: dict[str, Any]
    epochs: int
    space: dict[str, Any]  # the [space] of every lrsearch arm
    plain_optimizer: str  # the task's default optimizer: the plain Optuna script's only one
    why: str  # why the schedule matters here (README and results)
    metric: str = "val_loss"
    direction: Direction = "minimize"
    # A retrained config that diverges scores this (a constant guess: ln of the class count).
    failure_score: float = math.nan

    @property
    def lr_range(self) -> tuple[float, float]:
        low, high = self.space["lr"]
        return float(low), float(high)


# What a user's script passes to the optimizer: lrsearch's sgd and adamw settings, written out.
PLAIN_OPTIMIZER_PARAMS: dict[str, dict[str, float | bool]] = {
    "sgd": {"momentum": 0.9, "nesterov": True},
    "adamw": {"weight_decay": 0.01},
}

TASKS: dict[str, BenchTask] = {
    task.name: task
    for task in (
        BenchTask(
            name="charlm",
            task="charlm",
            options={"chars": 16_000, "context": 32, "d_model": 32, "layers": 1, "heads": 2},
            epochs=8,
            # lrsearch's default space (16 families, sgd and adamw, warmup up to 10 %), with
            # an LR range that holds the useful LRs of both optimizers.
            space={"lr": [1e-4, 1.0]},
            plain_optimizer="adamw",
            why="a short transformer LM run: too high an LR stalls, too low never gets far, "
            "and how fast the LR decays decides the last epochs",
            failure_score=math.log(256),
        ),
        BenchTask(
            name="noisy-digits",
            task=f"{USER_TASKS}:noisy_digits",
            options={},
            epochs=20,
            space={"lr": [1e-4, 1.0]},
            plain_optimizer="sgd",
            why="40 % wrong training labels: a wide MLP memorizes them late in training, so "
            "val_loss falls and then rises, and early leaders are overtaken",
            failure_score=math.log(10),
        ),
        BenchTask(
            name="sort-transformer",
            task=f"{USER_TASKS}:sort_transformer",
            options={"length": 10, "train_size": 800, "d_model": 32, "layers": 1},
            epochs=8,
            # AdamW only, warmup up to 30 %: the post-norm transformer needs warmup at the LRs
            # that learn fastest.
            space={"lr": [1e-4, 0.3], "optimizers": ["adamw"], "warmup": [0.0, 0.3]},
            plain_optimizer="adamw",
            why="a post-norm transformer with AdamW: the fast LRs need warmup, "
            "without it they stall",
            failure_score=math.log(16),
        ),
    )
}

ArmKind = Literal["lrsearch", "plain"]


@dataclass(frozen=True)
class Arm:
    """One way to search. lrsearch arms change one setting of lrsearch's defaults each."""

    name: str
    kind: ArmKind
    what: str
    baselines: bool = True
    pruner: str = "median"
    sampler: str = "tpe"
    # [search] confirm = (top_k, seeds): the best mean of the top configs over fresh seeds is
    # the pick (benchmarks/quality/confirm.py); None: the best single trial.
    confirm: tuple[int, int] | None = None
    lr_range: bool = False  # lr_range = "auto" (the lr-range arm: over WIDE_LR, so wide_lr)
    # space.lr = WIDE_LR, lrsearch's default range, instead of the task's hand-narrowed one.
    wide_lr: bool = False


ARMS: dict[str, Arm] = {
    arm.name: arm
    for arm in (
        Arm(
            "defaults",
            "lrsearch",
            "lrsearch defaults: TPE, median pruner, 7 baselines after the budget (outside it)",
        ),
        Arm(
            "schedule-pruner",
            "lrsearch",
            "lrsearch with pruner = schedule (compares trials with as much LR decay left)",
            pruner="schedule",
        ),
        Arm(
            "anneal-pruner",
            "lrsearch",
            "lrsearch with pruner = anneal (anneal probes at 1/3 and 2/3 of each trial measure "
            "the value reached when the LR is annealed now, estimated in between; earlier rungs "
            "compare raw values as the median pruner does; every rung decides; probe updates "
            "inside the budget)",
            pruner="anneal",
        ),
        Arm(
            "confirm",
            "lrsearch",
            "lrsearch defaults + confirm = {top_k = 3, seeds = 3}: the search's top 3 configs "
            "re-run on 3 fresh seeds each, after the budget; the best mean is the pick",
            confirm=(3, 3),
        ),
        Arm("no-baselines", "lrsearch", "lrsearch with baselines = false", baselines=False),
        Arm("no-pruner", "lrsearch", "lrsearch with pruner = none", pruner="none"),
        Arm("random", "lrsearch", "lrsearch with sampler = random", sampler="random"),
        Arm(
            "lr-range",
            "lrsearch",
            "lrsearch with lr_range = auto over the default space.lr [1e-6, 1]: 3 LR sweeps "
            "per optimizer first, their updates inside the arm's budget",
            lr_range=True,
            wide_lr=True,
        ),
        Arm(
            "wide",
            "lrsearch",
            "lrsearch defaults over the default space.lr [1e-6, 1], no LR range test: the "
            "lr-range arm's counterfactual (defaults searches each task's hand-narrowed range)",
            wide_lr=True,
        ),
        Arm(
            "plain-optuna",
            "plain",
            "a user's 20-line Optuna script: peak LR only, cosine to 0, "
            "the task's optimizer, TPE + MedianPruner",
        ),
    )
}
DEFAULTS_ARM, PLAIN_ARM, NO_PRUNER_ARM = "defaults", "plain-optuna", "no-pruner"
CONFIRM_ARM = "confirm"
LR_RANGE_ARM, WIDE_ARM = "lr-range", "wide"
# The lr-range arm starts from lrsearch's default LR range, not the task's hand-picked one: the
# range test is what is supposed to narrow it (by at least 2 decades, the target). The
# wide arm searches the same range without the test: what a user without it has.
WIDE_LR = (1e-6, 1.0)


@dataclass(frozen=True)
class Sizes:
    """How much the benchmark runs."""

    nominal_trials: int  # the step budget: this many full-length trials
    trial_cap_factor: float  # a search stops at most at nominal_trials x this many trials
    seeds: int  # search seeds first_seed .. first_seed+seeds-1, per task and arm
    retrain_seeds: int  # fresh seeds the picked config is retrained on
    startup_trials: int  # lrsearch's startup_trials (TPE and the median pruner)
    truth_seeds: int = 10  # fresh seeds for the true mean of each config the confirm arm re-ran
    # The most updates of one LR sweep (the lr-range arm); None: lrsearch's own default.
    lr_range_steps: int | None = None
    # The first search seed: a run on seeds 5 .. 9 checks, on searches nobody has seen, what
    # a run on 0 .. 4 suggested (the retraining seeds stay the same fresh ones).
    first_seed: int = 0
    task_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def task(self, name: str) -> BenchTask:
        task = TASKS[name]
        override = self.task_overrides.get(name, {})
        options = {**task.options, **override.get("options", {})}
        return replace(task, options=options, epochs=override.get("epochs", task.epochs))

    @property
    def search_seeds(self) -> range:
        return range(self.first_seed, self.first_seed + self.seeds)


# The LR sweeps' length is lrsearch's own: it sizes each sweep so that all of them together
# (lr_range_seeds x optimizers) take at most search.lr_range_share (default 0.03) of the
# budget's updates, between 16 and lr_range_steps (default 200) updates each. The sweeps'
# share of the step budget is still recorded per search.
FULL = Sizes(
    nominal_trials=30,
    trial_cap_factor=3.0,
    seeds=5,
    retrain_seeds=3,
    startup_trials=5,
)
# The smoke run: every task and arm, tiny. Scores mean nothing; it checks the pipeline.
SMOKE = Sizes(
    nominal_trials=3,
    trial_cap_factor=2.0,
    seeds=1,
    retrain_seeds=1,
    startup_trials=1,
    truth_seeds=2,
    lr_range_steps=20,
    task_overrides={
        "charlm": {"options": {"chars": 4_000}, "epochs": 2},
        "noisy-digits": {"options": {"train_size": 200}, "epochs": 3},
        "sort-transformer": {"options": {"train_size": 200}, "epochs": 2},
    },
)

# Seeds of the retraining runs: never a search's trial seed (those are seed * 100_003 + n).
RETRAIN_SEED_BASE = 900_000_001

# Where every search and retraining trains: "cpu" (one torch thread per process) or "cuda".
# The CLI's --device sets it for the processes it starts (they inherit the environment).
DEVICE_ENV = "LRSEARCH_QUALITY_DEVICE"


def bench_device() -> str:
    """The device the benchmark trains on (``--device``; cpu by default)."""
    return os.environ.get(DEVICE_ENV, "cpu")
