"""Benchmarks of the search job: per-trial overhead, worker scaling, and what pruning saves.

    .venv/bin/python benchmarks/search_bench.py            # full run (about 5 min on 2 cores)
    .venv/bin/python benchmarks/search_bench.py --quick    # smoke test (< ~1 min)

Writes benchmarks/results/search.json (raw numbers, machine info) and search.md (a table:
measurement | value | target | met?), and prints the table. Every search uses a fresh SQLite
file in a temporary directory. See benchmarks/README.md for what each number means.

(a) overhead: one lrsearch trial (run through ``run_worker``, so claim/ask/report/tell/record
    and every SQLite write count) against a plain PyTorch loop doing the same training.
(b) throughput: the real ``lrsearch search SPEC --workers W`` command, W = 1 and 2 (default
    thread policy), and W = 1 with ``--threads 1``.
(c) pruning: the same TPE search with the median pruner and without one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from lrsearch import store
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.space.suggest import OPTIMIZER_DEFAULTS
from lrsearch.spec import parse_spec
from lrsearch.tasks.registry import load_task
from lrsearch.train.loop import RunLength, train
from lrsearch.train.task import TensorTask

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPO_ROOT = BENCH_DIR.parent
SECTIONS = ("overhead", "throughput", "pruning")
OVERHEAD_TASKS = ("digits-cnn", "digits-mlp", "charlm")  # built-in tasks with default options

# The overhead comparison trains with one torch thread on both sides.
OVERHEAD_THREADS = 1
# Trial 0 of a search with seed 0 trains with seed 0 * 100_003 + 0 (see space/suggest.py).
OVERHEAD_SEED = 0
CALIBRATION_EPOCHS = 3
# The plain loop's optimizer; it must be what lrsearch trains "sgd" with.
PLAIN_SGD: dict[str, float | bool] = {"momentum": 0.9, "nesterov": True}


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is; ``--quick`` shrinks everything."""

    overhead_task: str
    overhead_lr: float
    overhead_target_s: float  # the plain trial length the epochs are picked for
    overhead_reps: int
    throughput_trials: int
    throughput_epochs: int
    pruning_trials: int
    pruning_epochs: int
    pruning_startup_trials: int


FULL = Sizes(
    overhead_task="digits-cnn",
    overhead_lr=0.05,
    overhead_target_s=6.0,
    overhead_reps=7,
    throughput_trials=16,
    throughput_epochs=150,
    pruning_trials=40,
    pruning_epochs=15,
    pruning_startup_trials=5,
)
QUICK = replace(
    FULL,
    overhead_target_s=0.8,
    overhead_reps=2,
    throughput_trials=4,
    throughput_epochs=3,
    pruning_trials=8,
    pruning_epochs=4,
    pruning_startup_trials=3,
)

THROUGHPUT_SPACE: dict[str, Any] = {
    # A space that does not diverge, so every trial trains all its epochs whatever is sampled.
    "families": ["constant", "cosine", "linear", "step"],
    "lr": [0.01, 0.3],
    "optimizers": ["sgd"],
}
PRUNING_SPACE: dict[str, Any] = {
    "families": ["constant", "step", "exponential", "linear", "cosine", "one_cycle", "wsd"],
    "lr": [1e-5, 1.0],
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# --------------------------------------------------------------------------- helpers: storage


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def load_trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = store.make_optuna_storage(url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        return list(study.trials)
    finally:
        storage.engine.dispose()


def load_search(url: str, name: str) -> store.Search:
    engine = store.make_engine(url)
    try:
        return store.get_search(engine, name)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- (a) overhead


@dataclass
class PlainRun:
    seconds: float
    metric: float  # the task's default metric after the last epoch
    train_loss: float  # of the last epoch, read once per epoch like lrsearch's loop


@dataclass
class LoopRun:
    seconds: float  # lrsearch's train() alone: its loop and SpecLR, no worker, no database
    metric: float


@dataclass
class LrsearchRun:
    worker_wall_s: float  # run_worker around one whole trial, setup included
    setup_rerun_s: float  # run_worker on the same search once its budget is used up
    setup_in_run_s: float  # from run_worker's start to Optuna's datetime_start of the trial
    optuna_trial_s: float  # Optuna's datetime_complete - datetime_start
    metric: float
    db_statements: int | None  # the worker's own database round trips, when it counts them

    @property
    def per_trial_s(self) -> float:
        return self.worker_wall_s - self.setup_rerun_s


@dataclass
class OverheadResult:
    task: str
    metric: str
    lr: float
    epochs: int
    updates: int
    batch_size: int
    threads: int
    calibration_s_per_epoch: float
    plain: list[PlainRun] = field(default_factory=list)
    loop: list[LoopRun] = field(default_factory=list)
    lrsearch: list[LrsearchRun] = field(default_factory=list)
    ratio_outer: list[float] = field(default_factory=list)  # (wall - setup_rerun) / plain
    ratio_optuna: list[float] = field(default_factory=list)  # optuna trial duration / plain
    ratio_loop: list[float] = field(default_factory=list)  # train() alone / plain
    median_plain_s: float = 0.0
    median_loop_s: float = 0.0
    median_lrsearch_s: float = 0.0
    median_setup_rerun_s: float = 0.0
    median_setup_in_run_s: float = 0.0
    median_ratio_outer: float = 0.0
    median_ratio_optuna: float = 0.0
    median_ratio_loop: float = 0.0
    overhead_ms_per_epoch: float = 0.0  # (lrsearch trial - plain trial) / epochs
    loop_overhead_ms_per_epoch: float = 0.0  # (train() alone - plain trial) / epochs
    max_metric_difference: float = 0.0  # same training: the three sides should agree


def plain_trial(task: TensorTask, lr: float, epochs: int, seed: int) -> PlainRun:
    """A plain PyTorch loop: SGD (momentum 0.9, nesterov), torch's CosineAnnealingLR stepped per
    update, the same seeded minibatches as lrsearch, validation after every epoch."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    model = task.make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, **PLAIN_SGD)  # type: ignore[arg-type]
    per_epoch = math.ceil(len(task.x_train) / task.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=epochs * per_epoch, eta_min=0.0
    )
    generator = torch.Generator().manual_seed(seed)
    n = len(task.x_train)
    metric = train_loss = math.nan
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        loss_sum = torch.zeros(())
        for start in range(0, n, task.batch_size):
            index = order[start : start + task.batch_size]
            loss = task.loss(model(task.x_train[index]), task.y_train[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach()
        train_loss = float(loss_sum.item()) / per_epoch
        metric = _validate(task, model)[task.default_metric]
    return PlainRun(time.perf_counter() - started, metric, train_loss)


@torch.no_grad()
def _validate(task: TensorTask, model: nn.Module) -> dict[str, float]:
    """Validation loss and the task's metrics on the whole validation set."""
    model.eval()
    size = task.eval_batch_size
    outputs = torch.cat([model(task.x_val[i : i + size]) for i in range(0, len(task.x_val), size)])
    results = {"val_loss": float(task.loss(outputs, task.y_val).item())}
    results.update({name: float(m.fn(outputs, task.y_val)) for name, m in task.metrics.items()})
    return results


def loop_trial(task: TensorTask, lr: float, epochs: int, seed: int) -> LoopRun:
    """lrsearch's own training loop with the same schedule, called directly (no worker)."""
    metric, direction = task.default_metric, task.metric_directions()[task.default_metric]
    started = time.perf_counter()
    result = train(
        task,
        ScheduleSpec.create("cosine", lr, {"final_ratio": 0.0}),
        "sgd",
        OPTIMIZER_DEFAULTS["sgd"],
        length=RunLength(epochs=epochs),
        seed=seed,
        metric=metric,
        direction=direction,
    )
    return LoopRun(time.perf_counter() - started, result.metrics[metric])


def pick_epochs(task: TensorTask, lr: float, target_s: float) -> tuple[int, float]:
    """Epochs for which the plain loop takes about ``target_s``.

    A first, discarded epoch warms up torch (its first convolution is several times slower).
    """
    plain_trial(task, lr, 1, OVERHEAD_SEED)
    run = plain_trial(task, lr, CALIBRATION_EPOCHS, OVERHEAD_SEED)
    per_epoch = run.seconds / CALIBRATION_EPOCHS
    return max(2, math.ceil(target_s / per_epoch)), per_epoch


def overhead_spec(name: str, task: str, lr: float, epochs: int) -> dict[str, Any]:
    """One fixed point: cosine to 0, lr fixed, SGD, no warmup, the default sampler and pruner.

    The same trial as the plain loop's (schedule, optimizer, LR and seed), searched with
    lrsearch's defaults: TPE and the median pruner, asked after every epoch. Baselines are
    off: they run after the budget, as trials of their own, and are no part of one trial's
    overhead.
    """
    return {
        "name": name,
        "task": task,
        "budget": {"trials": 1, "epochs": epochs},
        "search": {"seed": OVERHEAD_SEED},  # sampler and pruner: the defaults
        "baselines": False,
        "space": {
            "families": ["cosine"],
            "lr": [lr, lr],
            "optimizers": ["sgd"],
            "warmup": [0.0, 0.0],
            "params": {"cosine": {"final_ratio": 0.0}},
        },
    }


def lrsearch_trial(workdir: Path, label: str, task: str, lr: float, epochs: int) -> LrsearchRun:
    """One trial through the real worker path on a fresh SQLite file."""
    url = sqlite_url(workdir / f"overhead-{label}.db")
    spec = parse_spec(overhead_spec(f"overhead-{label}", task, lr, epochs))
    prepare_search(url, spec)
    started_at = datetime.now()  # naive local time, like Optuna's trial datetimes
    started = time.perf_counter()
    summary = run_worker(url, spec.name, threads=OVERHEAD_THREADS)
    wall = time.perf_counter() - started
    if summary.complete != 1:
        raise RuntimeError(f"overhead trial {label} did not complete: {summary}")
    started = time.perf_counter()
    again = run_worker(url, spec.name, threads=OVERHEAD_THREADS)  # budget used up: setup only
    setup = time.perf_counter() - started
    if again.complete + again.pruned + again.failed + again.interrupted + again.lost:
        raise RuntimeError(f"the setup-only worker of {label} ran a trial")
    (trial,) = load_trials(url, spec.name)
    assert trial.datetime_start is not None and trial.datetime_complete is not None
    assert trial.value is not None
    check_same_trial(trial.user_attrs["config"], lr)
    return LrsearchRun(
        worker_wall_s=wall,
        setup_rerun_s=setup,
        setup_in_run_s=(trial.datetime_start - started_at).total_seconds(),
        optuna_trial_s=(trial.datetime_complete - trial.datetime_start).total_seconds(),
        metric=float(trial.value),
        db_statements=getattr(summary, "statements", None),
    )


def check_same_trial(config: dict[str, Any], lr: float) -> None:
    """The lrsearch trial trained what the plain loop trains: cosine to 0 at ``lr`` without
    warmup, lrsearch's sgd, the same seed."""
    ran = (
        ScheduleSpec.from_dict(config["schedule"], complete=True),
        config["optimizer"],
        config["optimizer_params"],
        config["seed"],
    )
    same = (
        ScheduleSpec.create("cosine", lr, {"final_ratio": 0.0}),
        "sgd",
        PLAIN_SGD,
        OVERHEAD_SEED,
    )
    if ran != same:
        raise RuntimeError(f"the lrsearch trial trained {ran}, not the plain loop's {same}")


def measure_overhead(sizes: Sizes, workdir: Path) -> OverheadResult:
    """Interleaved repetitions on one torch thread: plain, train() alone, lrsearch, plain, ..."""
    if dict(OPTIMIZER_DEFAULTS["sgd"]) != PLAIN_SGD:
        raise RuntimeError(f"lrsearch's sgd is now {OPTIMIZER_DEFAULTS['sgd']}: update PLAIN_SGD")
    torch.set_num_threads(OVERHEAD_THREADS)
    name, lr = sizes.overhead_task, sizes.overhead_lr
    task = load_task(name, {})
    epochs, per_epoch = pick_epochs(task, lr, sizes.overhead_target_s)
    updates = epochs * math.ceil(len(task.x_train) / task.batch_size)
    log(f"overhead: {name}, {epochs} epochs ({updates} updates), lr {lr}")
    result = OverheadResult(
        name,
        task.default_metric,
        lr,
        epochs,
        updates,
        task.batch_size,
        OVERHEAD_THREADS,
        per_epoch,
    )
    # Imports and first-use costs of the worker path, paid once per process: not a trial's.
    lrsearch_trial(workdir, "warmup", name, lr, 1)
    loop_trial(task, lr, 1, OVERHEAD_SEED)
    for rep in range(sizes.overhead_reps):
        torch.set_num_threads(OVERHEAD_THREADS)
        plain = plain_trial(task, lr, epochs, OVERHEAD_SEED)
        loop = loop_trial(task, lr, epochs, OVERHEAD_SEED)
        ours = lrsearch_trial(workdir, f"rep{rep}", name, lr, epochs)
        result.plain.append(plain)
        result.loop.append(loop)
        result.lrsearch.append(ours)
        result.ratio_outer.append(ours.per_trial_s / plain.seconds)
        result.ratio_optuna.append(ours.optuna_trial_s / plain.seconds)
        result.ratio_loop.append(loop.seconds / plain.seconds)
        log(
            f"  rep {rep + 1}/{sizes.overhead_reps}: plain {plain.seconds:.3f}s, "
            f"train() {loop.seconds:.3f}s, lrsearch {ours.per_trial_s:.3f}s "
            f"(+ setup {ours.setup_rerun_s:.3f}s), ratio {result.ratio_outer[-1]:.3f}"
        )
    result.median_plain_s = median([r.seconds for r in result.plain])
    result.median_loop_s = median([r.seconds for r in result.loop])
    result.median_lrsearch_s = median([r.per_trial_s for r in result.lrsearch])
    result.median_setup_rerun_s = median([r.setup_rerun_s for r in result.lrsearch])
    result.median_setup_in_run_s = median([r.setup_in_run_s for r in result.lrsearch])
    result.median_ratio_outer = median(result.ratio_outer)
    result.median_ratio_optuna = median(result.ratio_optuna)
    result.median_ratio_loop = median(result.ratio_loop)
    result.overhead_ms_per_epoch = (
        1000.0 * (result.median_lrsearch_s - result.median_plain_s) / epochs
    )
    result.loop_overhead_ms_per_epoch = (
        1000.0 * (result.median_loop_s - result.median_plain_s) / epochs
    )
    result.max_metric_difference = max(
        max(abs(p.metric - o.metric), abs(p.metric - q.metric))
        for p, q, o in zip(result.plain, result.loop, result.lrsearch, strict=True)
    )
    return result


# --------------------------------------------------------------------------- (b) throughput


@dataclass
class CliRun:
    label: str
    workers: int
    threads: int | None  # None: the default policy (cores // workers)
    wall_s: float  # the whole `lrsearch search` command
    rerun_wall_s: float  # the same command on the finished search: start-up and results only
    n_complete: int
    n_pruned: int
    n_failed: int
    trials_per_min: float = 0.0
    trials_per_min_net: float = 0.0  # budget / (wall - rerun wall)


@dataclass
class ThroughputResult:
    task: str
    trials: int
    epochs: int
    cpu_count: int
    runs: list[CliRun] = field(default_factory=list)
    ratio_w2_w1: float = 0.0
    ratio_w2_w1_net: float = 0.0
    ratio_w2_w1_threads1: float = 0.0  # against 1 worker with --threads 1


def throughput_spec_toml(sizes: Sizes) -> str:
    space = THROUGHPUT_SPACE
    families = ", ".join(f'"{f}"' for f in space["families"])
    optimizers = ", ".join(f'"{o}"' for o in space["optimizers"])
    return "\n".join(
        [
            'name = "throughput"',
            'task = "digits-mlp"',
            "baselines = false",  # they would run after the budget: trials of the budget only
            "",
            "[budget]",
            f"trials = {sizes.throughput_trials}",
            f"epochs = {sizes.throughput_epochs}",
            "",
            "[search]",
            'sampler = "random"',
            "seed = 0",
            'pruner = "none"',
            "",
            "[space]",
            f"families = [{families}]",
            f"lr = [{space['lr'][0]}, {space['lr'][1]}]",
            f"optimizers = [{optimizers}]",
            "",
        ]
    )


def _run_command(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return wall


def cli_search(
    workdir: Path, spec_path: Path, label: str, workers: int, threads: int | None
) -> CliRun:
    """``lrsearch search`` as a subprocess, then the same command again on the finished search."""
    url = sqlite_url(workdir / f"throughput-{label}.db")
    command = [
        sys.executable,
        "-m",
        "lrsearch",
        "search",
        str(spec_path),
        "--workers",
        str(workers),
        "--storage",
        url,
        "--out",
        str(workdir / f"out-{label}"),
    ]
    if threads is not None:
        command += ["--threads", str(threads)]
    wall = _run_command(command, workdir)
    rerun = _run_command(command, workdir)
    found = load_search(url, "throughput")
    if found.remaining:
        raise RuntimeError(f"{label}: {found.remaining} trials of the budget did not finish")
    budget = found.trial_budget
    run = CliRun(
        label, workers, threads, wall, rerun, found.n_complete, found.n_pruned, found.n_failed
    )
    run.trials_per_min = budget / wall * 60.0
    run.trials_per_min_net = budget / max(wall - rerun, 1e-9) * 60.0
    log(
        f"  {label}: {wall:.2f}s ({rerun:.2f}s start-up and results), "
        f"{run.trials_per_min:.1f} trials/min"
    )
    return run


def measure_throughput(sizes: Sizes, workdir: Path) -> ThroughputResult:
    spec_path = workdir / "throughput.toml"
    spec_path.write_text(throughput_spec_toml(sizes), encoding="utf-8")
    log(f"throughput: {sizes.throughput_trials} trials x {sizes.throughput_epochs} epochs")
    result = ThroughputResult(
        "digits-mlp", sizes.throughput_trials, sizes.throughput_epochs, os.cpu_count() or 1
    )
    w1 = cli_search(workdir, spec_path, "w1", 1, None)
    w2 = cli_search(workdir, spec_path, "w2", 2, None)
    w1t1 = cli_search(workdir, spec_path, "w1-threads1", 1, 1)
    result.runs = [w1, w2, w1t1]
    result.ratio_w2_w1 = w2.trials_per_min / w1.trials_per_min
    result.ratio_w2_w1_net = w2.trials_per_min_net / w1.trials_per_min_net
    result.ratio_w2_w1_threads1 = w2.trials_per_min / w1t1.trials_per_min
    return result


# --------------------------------------------------------------------------- (c) pruning


@dataclass
class SearchRun:
    pruner: str
    wall_s: float
    epochs_consumed: int  # sum over trials of len(intermediate_values)
    best_value: float | None
    n_complete: int
    n_pruned: int
    n_failed: int


@dataclass
class PruningResult:
    task: str
    trials: int
    epochs: int
    direction: str
    with_pruning: SearchRun
    without_pruning: SearchRun
    epochs_ratio: float
    relative_gap: float | None  # how much worse pruning's best is; negative: it is better


def pruning_spec(sizes: Sizes, pruner: str) -> dict[str, Any]:
    return {
        "name": f"pruning-{pruner}",
        "task": "digits-mlp",
        "budget": {"trials": sizes.pruning_trials, "epochs": sizes.pruning_epochs},
        "search": {
            "sampler": "tpe",
            "seed": 0,
            "pruner": pruner,
            "startup_trials": sizes.pruning_startup_trials,
        },
        "space": PRUNING_SPACE,
        "baselines": False,  # they run after the budget, never pruned: the same in both
    }


def run_search(sizes: Sizes, workdir: Path, pruner: str) -> SearchRun:
    url = sqlite_url(workdir / f"pruning-{pruner}.db")
    spec = parse_spec(pruning_spec(sizes, pruner))
    prepare_search(url, spec)
    started = time.perf_counter()
    run_worker(url, spec.name, threads=1)
    wall = time.perf_counter() - started
    trials = load_trials(url, spec.name)
    found = load_search(url, spec.name)
    complete = [t.value for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    values = [v for v in complete if v is not None]
    best = (max(values) if found.direction == "maximize" else min(values)) if values else None
    run = SearchRun(
        pruner,
        wall,
        sum(len(t.intermediate_values) for t in trials),
        best,
        found.n_complete,
        found.n_pruned,
        found.n_failed,
    )
    log(f"  pruner {pruner}: {run.epochs_consumed} epochs, best {best}, {wall:.1f}s")
    return run


def measure_pruning(sizes: Sizes, workdir: Path) -> PruningResult:
    log(f"pruning: {sizes.pruning_trials} trials x {sizes.pruning_epochs} epochs, tpe")
    with_pruning = run_search(sizes, workdir, "median")
    without = run_search(sizes, workdir, "none")
    direction = "maximize"  # digits-mlp's val_accuracy
    gap: float | None = None
    if with_pruning.best_value is not None and without.best_value is not None:
        worse = without.best_value - with_pruning.best_value
        gap = (worse if direction == "maximize" else -worse) / abs(without.best_value)
    return PruningResult(
        "digits-mlp",
        sizes.pruning_trials,
        sizes.pruning_epochs,
        direction,
        with_pruning,
        without,
        with_pruning.epochs_consumed / max(without.epochs_consumed, 1),
        gap,
    )


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Row:
    measurement: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target, or the target does not apply
    note: str = ""  # why a target does not apply

    def cells(self, quick: bool) -> tuple[str, str, str, str]:
        if not self.target:
            met = ""
        elif quick:
            met = "— (quick run)"
        elif self.met is None:
            met = f"— ({self.note})" if self.note else "—"
        else:
            met = "yes" if self.met else "**NO**"
        return self.measurement, self.value, self.target, met


def overhead_rows(o: OverheadResult) -> list[Row]:
    applies = o.median_plain_s >= 5.0
    note = "" if applies else "plain trial < 5 s"
    return [
        Row(f"(a) plain PyTorch trial: {o.task}, {o.epochs} epochs", f"{o.median_plain_s:.3f} s"),
        Row("(a) lrsearch trial (worker wall - setup)", f"{o.median_lrsearch_s:.3f} s"),
        Row("(a) lrsearch worker setup, once per worker", f"{o.median_setup_rerun_s:.3f} s"),
        Row(
            "(a) overhead ratio lrsearch / plain (worker wall - setup)",
            f"{o.median_ratio_outer:.3f}",
            "<= 1.05",
            o.median_ratio_outer <= 1.05 if applies else None,
            note,
        ),
        Row(
            "(a) overhead ratio lrsearch / plain (Optuna trial duration)",
            f"{o.median_ratio_optuna:.3f}",
            "<= 1.05",
            o.median_ratio_optuna <= 1.05 if applies else None,
            note,
        ),
        Row("(a) lrsearch overhead per epoch", f"{o.overhead_ms_per_epoch:.2f} ms"),
        Row("(a) ratio lrsearch train() alone / plain (no worker)", f"{o.median_ratio_loop:.3f}"),
        Row(
            f"(a) largest {o.metric} difference between the sides (same training)",
            f"{o.max_metric_difference:.2g}",
        ),
    ]


def throughput_rows(t: ThroughputResult) -> list[Row]:
    runs = {r.label: r for r in t.runs}
    two_cores = t.cpu_count == 2
    return [
        Row(
            f"(b) trials/min, 1 worker (default threads): {t.trials} trials x {t.epochs} epochs",
            f"{runs['w1'].trials_per_min:.1f}",
        ),
        Row("(b) trials/min, 2 workers (default threads)", f"{runs['w2'].trials_per_min:.1f}"),
        Row("(b) trials/min, 1 worker --threads 1", f"{runs['w1-threads1'].trials_per_min:.1f}"),
        Row(
            "(b) command start-up + results (same command on the finished search)",
            f"{runs['w1'].rerun_wall_s:.2f} s",
        ),
        Row(
            f"(b) ratio 2 workers / 1 worker, default threads ({t.cpu_count} cores)",
            f"{t.ratio_w2_w1:.2f}",
            ">= 1.8",
            t.ratio_w2_w1 >= 1.8 if two_cores else None,
            "" if two_cores else "not a 2-core machine",
        ),
        Row("(b) same ratio, net of the command's start-up", f"{t.ratio_w2_w1_net:.2f}"),
        Row("(b) ratio 2 workers / 1 worker --threads 1", f"{t.ratio_w2_w1_threads1:.2f}"),
    ]


def pruning_rows(p: PruningResult) -> list[Row]:
    gap = p.relative_gap
    return [
        Row(
            f"(c) epochs trained, median pruner: {p.trials} trials x {p.epochs} epochs",
            str(p.with_pruning.epochs_consumed),
        ),
        Row("(c) epochs trained, no pruner", str(p.without_pruning.epochs_consumed)),
        Row(
            "(c) epochs ratio median / none",
            f"{p.epochs_ratio:.3f}",
            "<= 0.5",
            p.epochs_ratio <= 0.5,
        ),
        Row("(c) best val_accuracy, median pruner", _fmt(p.with_pruning.best_value)),
        Row("(c) best val_accuracy, no pruner", _fmt(p.without_pruning.best_value)),
        Row(
            "(c) relative gap of the pruned best",
            "n/a" if gap is None else f"{100 * gap:.2f} %",
            "<= 1 %",
            None if gap is None else gap <= 0.01,
            "no complete trial" if gap is None else "",
        ),
    ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def table_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if "overhead" in results:
        rows += overhead_rows(results["overhead"])
    if "throughput" in results:
        rows += throughput_rows(results["throughput"])
    if "pruning" in results:
        rows += pruning_rows(results["pruning"])
    return rows


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    quick = meta["mode"] == "quick"
    lines = [
        f"# lrsearch search benchmark ({meta['mode']})",
        "",
        f"{meta['date']} · {meta['cpu_count']} CPUs · torch {meta['torch_version']} "
        f"(default {meta['torch_default_threads']} threads) · optuna {meta['optuna_version']} "
        f"· Python {meta['python_version']} · {meta['platform']} · commit {meta['git_commit']}"
        f" · {meta['total_seconds']} s",
        "",
    ]
    if quick:
        lines += ["**Quick smoke run: sizes are shrunk and the targets do not apply.**", ""]
    lines += ["| measurement | value | target | met? |", "|---|---|---|---|"]
    lines += ["| {} | {} | {} | {} |".format(*row.cells(quick)) for row in rows]
    return "\n".join(lines) + "\n"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)


def machine_info(mode: str, default_threads: int) -> dict[str, Any]:
    try:
        commit = _git("rev-parse", "--short", "HEAD").stdout.strip() or "unknown"
        if _git("diff", "--quiet", "HEAD", "--").returncode == 1:
            commit += "+changes"
    except OSError:
        commit = "unknown"
    return {
        "mode": mode,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_version": torch.__version__,
        "torch_default_threads": default_threads,
        "torch_threads_overhead": OVERHEAD_THREADS,
        "optuna_version": optuna.__version__,
        "lrsearch_version": version("lrsearch"),
        "git_commit": commit,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="shrink everything (a smoke test, < ~1 min)"
    )
    parser.add_argument(
        "--only",
        choices=SECTIONS,
        action="append",
        help="run only this measurement (repeatable); default: all three",
    )
    parser.add_argument(
        "--overhead-task",
        choices=OVERHEAD_TASKS,
        default=FULL.overhead_task,
        help="the task of the overhead comparison (a): its epoch length sets the ratio",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS_DIR,
        help=f"folder for search.json and search.md (default {RESULTS_DIR})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    default_threads = torch.get_num_threads()
    sizes = replace(QUICK if args.quick else FULL, overhead_task=args.overhead_task)
    mode = "quick" if args.quick else "full"
    sections = set(args.only or SECTIONS)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    started = time.perf_counter()

    measurements: dict[str, Callable[[Sizes, Path], Any]] = {
        "overhead": measure_overhead,
        "throughput": measure_throughput,
        "pruning": measure_pruning,
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lrsearch-bench-") as tmp:
        for name in SECTIONS:
            if name in sections:
                folder = Path(tmp) / name
                folder.mkdir()
                results[name] = measurements[name](sizes, folder)

    meta = machine_info(mode, default_threads)
    meta["total_seconds"] = round(time.perf_counter() - started, 1)
    rows = table_rows(results)
    args.results.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta,
        "sizes": asdict(sizes),
        **{name: asdict(result) for name, result in results.items()},
        "table": [asdict(row) for row in rows],
    }
    (args.results / "search.json").write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
    text = markdown(rows, meta)
    (args.results / "search.md").write_text(text, "utf-8")
    print(text)
    log(f"done in {meta['total_seconds']}s; wrote {args.results}/search.json and search.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
