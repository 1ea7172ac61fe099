"""``python -m benchmarks.quality``: run every search, retrain every pick, write the results.

    python -m benchmarks.quality                    # full run (see benchmarks/README.md)
    python -m benchmarks.quality --smoke --out DIR  # every task and arm, tiny (< ~1 min)
    python -m benchmarks.quality --tasks charlm --arms defaults,plain-optuna --seeds 2

Writes DIR/quality.json (every raw number: each search's trials, each retrained score, the
machine) and DIR/quality.md (the tables), and prints the Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import optuna
import torch

from benchmarks.quality.arms import SearchJob, SearchRun, run_search
from benchmarks.quality.confirm import Confirmation, leaders, summarize_designs
from benchmarks.quality.plan import (
    ARMS,
    DEVICE_ENV,
    FULL,
    RETRAIN_SEED_BASE,
    SMOKE,
    TASKS,
    BenchTask,
    Sizes,
)
from benchmarks.quality.report import markdown
from benchmarks.quality.scoring import Retrained, retrain, train_values
from benchmarks.quality.summary import Pick, make_picks, summarize

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
LOAD_SAMPLE_S = 10.0
# Longest searches first, so the two processes finish together.
TASK_ORDER = ("charlm", "sort-transformer", "noisy-digits")

T = TypeVar("T")
R = TypeVar("R")


def log(message: str) -> None:
    print(f"[quality {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _names(text: str, known: Iterable[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the pipeline")
    parser.add_argument(
        "--tasks",
        type=lambda s: _names(s, TASKS, "task"),
        default=list(TASK_ORDER),
        help=f"comma-separated, of {', '.join(TASKS)} (default: all)",
    )
    parser.add_argument(
        "--arms",
        type=lambda s: _names(s, ARMS, "arm"),
        default=list(ARMS),
        help=f"comma-separated, of {', '.join(ARMS)} (default: all)",
    )
    parser.add_argument("--seeds", type=int, help="search seeds per task and arm: 0 .. N-1")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="start the search seeds here: FIRST .. FIRST+N-1 (default 0)",
    )
    parser.add_argument("--trials", type=int, help="the step budget, in full-length trials")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="train on the CPU (one thread per process, the default) or on the GPU (shared)",
    )
    parser.add_argument("--out", type=Path, help=f"folder for the results (default {RESULTS_DIR})")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="run nothing: recompute the summary and quality.md from a run's quality.json",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = RESULTS_DIR / "smoke" if args.smoke else RESULTS_DIR
    return args


def sizes_of(args: argparse.Namespace) -> Sizes:
    sizes = SMOKE if args.smoke else FULL
    changes: dict[str, int] = {}
    if args.seeds is not None:
        changes["seeds"] = args.seeds
    if args.trials is not None:
        changes["nominal_trials"] = args.trials
    if args.first_seed:
        changes["first_seed"] = args.first_seed
    return Sizes(**{**asdict(sizes), **changes}) if changes else sizes


# --------------------------------------------------------------------------- processes


def _init_process() -> None:
    """Each process trains on one torch thread; the benchmark's tasks import from the repo."""
    torch.set_num_threads(1)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.chdir(REPO_ROOT)
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def parallel_map(
    fn: Callable[[T], R], items: Sequence[T], jobs: int, label: Callable[[T, R], str]
) -> list[R]:
    """``fn`` over ``items`` in ``jobs`` fresh processes (in this one for jobs=1), in order."""
    results: list[R | None] = [None] * len(items)
    if jobs <= 1:
        _init_process()
        for i, item in enumerate(items):
            results[i] = fn(item)
            log(f"  [{i + 1}/{len(items)}] {label(item, results[i])}")  # type: ignore[arg-type]
        return results  # type: ignore[return-value]
    with ProcessPoolExecutor(
        jobs, mp_context=get_context("spawn"), initializer=_init_process
    ) as ex:
        futures = {ex.submit(fn, item): i for i, item in enumerate(items)}
        for done, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            results[i] = future.result()
            log(f"  [{done}/{len(items)}] {label(items[i], results[i])}")  # type: ignore[arg-type]
    return results  # type: ignore[return-value]


class LoadSampler(threading.Thread):
    """Samples the 1-minute load average while the benchmark runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self.stopped.wait(LOAD_SAMPLE_S):
                return


# --------------------------------------------------------------------------- the run


def _search_label(job: SearchJob, run: SearchRun) -> str:
    states = [t.state for t in run.trials]
    return (
        f"{job.label}: {len(states)} trials ({states.count('PRUNED')} pruned, "
        f"{states.count('FAIL')} failed), {sum(t.steps for t in run.trials)} updates, "
        f"{run.wall_s:.1f} s"
    )


def _retrain_job(item: tuple[BenchTask, dict[str, Any], list[int]]) -> Retrained:
    bench, config, seeds = item
    return retrain(bench, config, seeds)


def run_searches(
    tasks: Sequence[BenchTask], arms: Sequence[str], sizes: Sizes, jobs: int, workdir: Path
) -> list[SearchRun]:
    order = sorted(tasks, key=lambda t: TASK_ORDER.index(t.name))
    items = [
        SearchJob(task, ARMS[arm], seed, sizes, workdir)
        for task in order
        for seed in sizes.search_seeds
        for arm in arms
    ]
    log(f"{len(items)} searches on {jobs} processes")
    return parallel_map(run_search, items, jobs, _search_label)


def retrain_picks(
    picks: Sequence[Pick], tasks: dict[str, BenchTask], sizes: Sizes, jobs: int
) -> None:
    """Retrain every distinct picked config on the fresh seeds; attach the scores."""
    seeds = [RETRAIN_SEED_BASE + i for i in range(sizes.retrain_seeds)]
    unique: dict[tuple[str, str], tuple[BenchTask, dict[str, Any], list[int]]] = {}
    for p in picks:
        if p.key is not None and p.trial is not None and p.trial.config is not None:
            unique.setdefault((p.run.task, p.key), (tasks[p.run.task], p.trial.config, seeds))
    keys = list(unique)
    log(f"retraining {len(keys)} distinct picks x {len(seeds)} fresh seeds")
    results = parallel_map(
        _retrain_job,
        [unique[k] for k in keys],
        jobs,
        lambda item, r: f"{item[0].name}: {r.mean:.4f}",
    )
    found = dict(zip(keys, results, strict=True))
    for p in picks:
        if p.key is not None:
            p.true = found[p.run.task, p.key]


def _confirm_job(item: tuple[BenchTask, dict[str, Any], list[int]]) -> list[float | None]:
    bench, config, seeds = item
    return train_values(bench, config, seeds)


def confirm_picks(
    picks: Sequence[Pick], tasks: dict[str, BenchTask], jobs: int
) -> list[Confirmation]:
    """The confirm arm's confirmations: its searches' top configs on fresh seeds; each such
    search's pick becomes the config with the best mean (confirm.py)."""
    found = []
    for p in picks:
        arm = ARMS[p.run.arm]
        if arm.confirm is None:
            continue
        top_k, seeds = arm.confirm
        found.append(
            Confirmation(p.run, leaders(p.kept, tasks[p.run.task].direction, top_k), seeds)
        )
    items = [(c, t) for c in found for t in c.leaders]
    log(f"confirming {len(items)} configs x their fresh seeds")
    results = parallel_map(
        _confirm_job,
        [(tasks[c.run.task], t.config or {}, c.fresh_seeds(t)) for c, t in items],
        jobs,
        lambda item, r: f"{item[0].name} confirmed: {r}",
    )
    for (c, t), values in zip(items, results, strict=True):
        c.values[t.number] = values
    apply_confirmed(picks, found, tasks)
    return found


def apply_confirmed(
    picks: Sequence[Pick], confirmations: Sequence[Confirmation], tasks: dict[str, BenchTask]
) -> None:
    """The confirm arm's picks: the winner of each search's confirmation."""
    by_run = {(c.run.task, c.run.arm, c.run.seed): c for c in confirmations}
    for p in picks:
        c = by_run.get((p.run.task, p.run.arm, p.run.seed))
        if c is not None:
            p.trial = c.winner(tasks[p.run.task].direction == "maximize") or p.trial


def truth_of_confirmed(
    confirmations: Sequence[Confirmation], tasks: dict[str, BenchTask], sizes: Sizes, jobs: int
) -> None:
    """Each confirmed config on ``truth_seeds`` fresh seeds: its true mean (for the regrets
    of both picks of a search and the intervals' coverage)."""
    seeds = [RETRAIN_SEED_BASE + i for i in range(sizes.truth_seeds)]
    items = [(c, t) for c in confirmations for t in c.leaders]
    log(f"true means of {len(items)} confirmed configs x {len(seeds)} seeds")
    results = parallel_map(
        _retrain_job,
        [(tasks[c.run.task], t.config or {}, seeds) for c, t in items],
        jobs,
        lambda item, r: f"{item[0].name} truth: {r.mean:.4f}",
    )
    for (c, t), result in zip(items, results, strict=True):
        c.truth[t.number] = result.scores


def summary_of(
    picks: Sequence[Pick],
    confirmations: Sequence[Confirmation],
    tasks: dict[str, BenchTask],
    arms: Sequence[str],
) -> dict[str, Any]:
    summary = summarize(picks, tasks, arms)
    best = {name: summary["tasks"][name]["best_true"] for name in tasks}
    summary["confirmation"] = (
        summarize_designs(confirmations, tasks, best) if confirmations else None
    )
    return summary


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def machine_info(mode: str, jobs: int, device: str = "cpu") -> dict[str, Any]:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += "+changes"
    return {
        "mode": mode,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "jobs": jobs,
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "torch_version": torch.__version__,
        "torch_threads_per_process": 1,
        "optuna_version": optuna.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def write_results(
    payload: dict[str, Any], tasks: dict[str, BenchTask], arms: Sequence[str], out: Path
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(payload, indent=1) + "\n", "utf-8")
    text = markdown(payload, tasks, arms)
    (out / "quality.md").write_text(text, "utf-8")
    print(text)
    log(f"wrote {out}/quality.json and quality.md")


def render(path: Path, out: Path) -> int:
    """Recompute the summary of a finished run from its raw numbers (searches and retrained
    scores), e.g. after the report gained a figure; nothing is trained again."""
    payload = json.loads(path.read_text("utf-8"))
    setup = payload["setup"]
    fields = {f.name for f in dataclasses.fields(BenchTask)}
    tasks = {
        name: BenchTask(**{k: v for k, v in info.items() if k in fields})
        for name, info in setup["tasks"].items()
    }
    arms = list(setup["arms"])
    runs = [SearchRun.from_dict(run) for run in payload["searches"]]
    picks = make_picks(runs, tasks)
    by_run = {(r.task, r.arm, r.seed): r for r in runs}
    confirmations = [
        Confirmation.from_dict(c, by_run[c["task"], c["arm"], c["seed"]])
        for c in payload.get("confirmations", [])
    ]
    apply_confirmed(picks, confirmations, tasks)
    scored = {(p["task"], p["arm"], p["seed"]): p for p in payload["summary"]["picks"]}
    for p in picks:
        old = scored[p.run.task, p.run.arm, p.run.seed]
        if old["true_scores"] is not None:
            p.true = Retrained(old["true_scores"], old["retrain_diverged"])
    payload["summary"] = summary_of(picks, confirmations, tasks, arms)
    write_results(payload, tasks, arms, out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        return render(args.render, args.out)
    sizes = sizes_of(args)
    tasks = {name: sizes.task(name) for name in args.tasks}
    arms: list[str] = args.arms
    mode = "smoke" if args.smoke else "full"
    if args.device == "cuda" and not torch.cuda.is_available():
        print("quality: --device: cuda is not available on this machine", file=sys.stderr)
        return 2
    os.environ[DEVICE_ENV] = args.device  # the processes it starts train there too
    meta = machine_info(mode, args.jobs, args.device)
    sampler = LoadSampler()
    sampler.start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lrsearch-quality-") as tmp:
        runs = run_searches(list(tasks.values()), arms, sizes, args.jobs, Path(tmp))
    # The raw searches first: a run cut short in its retraining keeps them (--render needs
    # the whole file, but the searches alone hold the trial counts and the early figures).
    args.out.mkdir(parents=True, exist_ok=True)
    partial = {"meta": meta, "searches": [run.to_dict() for run in runs]}
    partial_path = args.out / "quality.partial.json"  # removed once quality.json is written
    partial_path.write_text(json.dumps(partial) + "\n", "utf-8")
    searched = time.perf_counter()
    picks = make_picks(runs, tasks)
    confirmations = confirm_picks(picks, tasks, args.jobs)
    retrain_picks(picks, tasks, sizes, args.jobs)
    truth_of_confirmed(confirmations, tasks, sizes, args.jobs)
    done = time.perf_counter()
    sampler.stopped.set()
    sampler.join()
    load = sampler.samples
    meta.update(
        wall_s=round(done - started, 1),
        search_wall_s=round(searched - started, 1),
        retrain_wall_s=round(done - searched, 1),
        load_average={
            "start": load[0],
            "mean": sum(load) / len(load),
            "max": max(load),
            "end": os.getloadavg()[0],
            "samples": load,
            "every_s": LOAD_SAMPLE_S,
        },
    )
    payload = {
        "meta": meta,
        "setup": {
            **asdict(sizes),
            "arms": {a: asdict(ARMS[a]) for a in arms},
            "tasks": {
                name: {
                    **asdict(bench),
                    "budget_steps": next(r.budget_steps for r in runs if r.task == name),
                    "steps_per_epoch": next(r.steps_per_epoch for r in runs if r.task == name),
                }
                for name, bench in tasks.items()
            },
            "retrain_seeds_used": [RETRAIN_SEED_BASE + i for i in range(sizes.retrain_seeds)],
            "truth_seeds_used": [RETRAIN_SEED_BASE + i for i in range(sizes.truth_seeds)],
        },
        "summary": summary_of(picks, confirmations, tasks, arms),
        "searches": [run.to_dict() for run in runs],
        "confirmations": [c.to_dict() for c in confirmations],
    }
    write_results(payload, tasks, arms, args.out)
    partial_path.unlink(missing_ok=True)
    log(f"done in {meta['wall_s']} s")
    return 0
