"""Does an anneal probe predict where a trial ends? Spearman's rho at the anneal pruner's rungs.

    python -m benchmarks.quality.probe_rank                      # 40 configs per task
    python -m benchmarks.quality.probe_rank --configs 6 --tasks charlm --out /tmp/pr

For each task of the quality benchmark, ``--configs`` configs are drawn from lrsearch's space
(the task's ``[space]``, Optuna's RandomSampler, a fixed seed) and each is trained once to the
end on the built-in loop, with anneal probes of every ``--shares`` length at the anneal
pruner's rungs (:func:`lrsearch.search.pruning.probe_rungs`: about 1/3 and 2/3 of the run) and
at the second report, the first rung that decides (:func:`rungs_of`): the anneal pruner probed
there until these figures showed that a probe that early ranks runs no better than the raw
value. A probe puts the model back as it was, so one run serves every probe length, and the
curve is the one the trial trains without probes. A config with (almost) no LR decay left at a
rung has its raw value as its annealed value, as the pruner has.

The figures, over the configs that did not diverge: Spearman's rho between the final value and
(a) the raw value at the rung, (b) the annealed value at the rung, over all configs and over
those that end in the better half; and how many configs that end in the top quarter score worse
than the median at the rung. Writes DIR/probe-rank.json (every config's curve) and
DIR/probe-rank.md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
import torch

from benchmarks.quality.plan import TASKS, BenchTask
from benchmarks.quality.scoring import spearman
from lrsearch.errors import TrainingDiverged
from lrsearch.search.pruning import PROBE_SHARE, probe_rungs
from lrsearch.space import suggest
from lrsearch.spec import parse_spec
from lrsearch.tasks.registry import load_task
from lrsearch.train.loop import RunLength, run_task
from lrsearch.trial import Trial, TrialBudget
from lrsearch.trial.probe import ProbePlan

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLER_SEED = 2026
TRIAL_SEED = 0


def rungs_of(epochs: int) -> tuple[int, ...]:
    """The rungs measured: the anneal pruner's probe rungs and the second report.

    >>> rungs_of(8), rungs_of(20)
    ((1, 2, 4), (1, 6, 12))
    """
    return tuple(sorted({1, *probe_rungs(epochs)})) if epochs >= 3 else probe_rungs(epochs)


class ProbingTrial(Trial):
    """A Trial that runs one anneal probe per length in ``shares`` at each probe rung (the
    search's Trial runs one, of ``PROBE_SHARE``); each one's value is kept by length."""

    def __init__(self, *, shares: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shares = list(shares)
        self.annealed: dict[int, dict[float, float]] = {}  # report index -> share -> value

    def _anneal_probe(self) -> dict[str, float]:
        rungs = self.probe.rungs if self.probe is not None else ()
        index = self.reports - 1
        values: dict[float, float] = {}
        for share in self.shares:
            self.probe = ProbePlan(rungs, share)
            values[share] = super()._anneal_probe().get("probe_value", math.nan)
        self.annealed[index] = values
        return {}


@dataclass
class ConfigRun:
    """One config's curve, its annealed values by rung and probe length, and how it ended."""

    config: dict[str, Any]
    curve: list[float] = field(default_factory=list)
    annealed: dict[int, dict[float, float]] = field(default_factory=dict)
    diverged: bool = False


class _Curve:
    def __init__(self, metric: str) -> None:
        self.metric, self.values = metric, []  # type: ignore[var-annotated]

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        self.values.append(float(metrics[self.metric]))
        return False


def run_config(bench: BenchTask, config: dict[str, Any], shares: Sequence[float]) -> ConfigRun:
    """Train ``config`` to the end with probes of every length at the probe rungs."""
    from lrsearch.schedules import ScheduleSpec

    task = load_task(bench.task, bench.options)
    curve = _Curve(bench.metric)
    trial = ProbingTrial(
        shares=shares,
        number=0,
        params={},
        schedule=ScheduleSpec.from_dict(config["schedule"], complete=True),
        optimizer=config["optimizer"],
        optimizer_params=config["optimizer_params"],
        seed=TRIAL_SEED,
        budget=TrialBudget(epochs=bench.epochs),
        metric=bench.metric,
        direction=bench.direction,
        reporter=curve,
        probe=ProbePlan(rungs_of(bench.epochs), PROBE_SHARE),
    )
    run = ConfigRun(config)
    try:
        run_task(task, trial, RunLength(epochs=bench.epochs))
    except TrainingDiverged:
        run.diverged = True
    run.curve, run.annealed = curve.values, trial.annealed
    return run


def draw_configs(bench: BenchTask, n: int) -> list[dict[str, Any]]:
    """``n`` configs from lrsearch's space for ``bench`` (random, seeded)."""
    spec = parse_spec(
        {
            "name": "probe-rank",
            "task": bench.task,
            "metric": bench.metric,
            "direction": bench.direction,
            "budget": {"trials": n, "epochs": bench.epochs},
            "space": bench.space,
        }
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=SAMPLER_SEED))
    configs = []
    for _ in range(n):
        trial = study.ask()
        config = suggest(trial, spec).to_dict()
        configs.append({k: config[k] for k in ("schedule", "optimizer", "optimizer_params")})
        study.tell(trial, 0.0)
    return configs


def rank_figures(
    bench: BenchTask, runs: Sequence[ConfigRun], shares: Sequence[float]
) -> dict[str, Any]:
    """Spearman's rho of the raw and of each probe length's annealed value, per rung."""
    ended = [r for r in runs if not r.diverged and len(r.curve) == bench.epochs]
    sign = -1.0 if bench.direction == "maximize" else 1.0
    finals = [sign * r.curve[-1] for r in ended]
    top = sorted(finals)[: max(1, len(finals) // 4)][-1] if finals else math.inf
    better = sorted(finals)[: len(finals) // 2][-1] if len(finals) > 1 else math.inf
    good = [i for i, f in enumerate(finals) if f <= better]  # the better half, by final value
    rungs: dict[str, Any] = {}
    for rung in rungs_of(bench.epochs):
        scores = {"raw": [sign * r.curve[rung] for r in ended]}
        for share in shares:
            # no probe (no decay left): the raw value, as the pruner takes it
            scores[f"annealed@{share:g}"] = [sign * _annealed(r, rung, share) for r in ended]
        row: dict[str, Any] = {"fraction": (rung + 1) / bench.epochs}
        for key, values in scores.items():
            row[key] = spearman(values, finals)
            row[key + "_top_pruned"] = _top_pruned(values, finals, top)
            row[key + "_better_half"] = spearman(
                [values[i] for i in good], [finals[i] for i in good]
            )
        rungs[str(rung)] = row
    return {
        "configs": len(runs),
        "ended": len(ended),
        "diverged": sum(r.diverged for r in runs),
        "top_quarter": sum(f <= top for f in finals),
        "rungs": rungs,
        "runs": [asdict(r) for r in runs],
    }


def _top_pruned(scores: Sequence[float], finals: Sequence[float], top: float) -> int:
    """How many configs that end in the top quarter (final <= ``top``; lower is better) score
    worse than the median of all the configs' scores: those a median rule would cut there."""
    median = statistics.median(scores)
    return sum(s > median and f <= top for s, f in zip(scores, finals, strict=True))


def _annealed(run: ConfigRun, rung: int, share: float) -> float:
    value = run.annealed.get(rung, {}).get(share, math.nan)
    return run.curve[rung] if math.isnan(value) else value


def markdown(results: Mapping[str, Any]) -> str:
    shares = results["shares"]
    lines = [
        "# Anneal probes: does the annealed value predict the end?",
        "",
        f"{results['date']}, {results['machine']}; {results['configs']} configs per task from "
        f"lrsearch's space (random, seed {SAMPLER_SEED}), each trained once to the end "
        f"(trial seed {TRIAL_SEED}); wall time {results['wall_s'] / 60:.1f} min.",
        "",
        "    " + results["command"],
        "",
        "Spearman's rho between the final value and the value at the anneal pruner's rung: raw "
        "(what Optuna's median pruner compares), and annealed by a probe of each length (share "
        "of the run's updates). The search's probes are "
        f"{PROBE_SHARE:g} of the run (`lrsearch.search.pruning.PROBE_SHARE`).",
        "",
        "Each cell: rho over all configs; in brackets rho over the configs that end in the "
        "better half (where a search's late trials are, and where curves cross); after the "
        "slash, how many of the configs that end in the top quarter score worse than the "
        "median at that rung: the ones a median rule would cut.",
        "",
        "| task | rung (fraction of the run) | configs (diverged; top quarter) | raw | "
        + " | ".join(f"annealed, probe {s:g}" for s in shares)
        + " |",
        "|---|---|---|---|" + "---|" * len(shares),
    ]
    for name, figures in results["tasks"].items():
        for rung, row in figures["rungs"].items():
            cells = [_cell(row, "raw")] + [_cell(row, f"annealed@{s:g}") for s in shares]
            lines.append(
                f"| {name} | {int(rung) + 1} of {TASKS[name].epochs} ({row['fraction']:.2f}) | "
                f"{figures['ended']} ({figures['diverged']}; {figures['top_quarter']}) | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines) + "\n"


def _cell(row: Mapping[str, Any], key: str) -> str:
    return f"{_rho(row[key])} ({_rho(row.get(key + '_better_half'))}) / {row[key + '_top_pruned']}"


def _rho(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality.probe_rank")
    parser.add_argument("--configs", type=int, default=40)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--shares", default="0.02,0.04,0.08")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    shares = [float(s) for s in args.shares.split(",")]
    torch.set_num_threads(1)
    started = time.perf_counter()
    tasks: dict[str, Any] = {}
    for name in args.tasks.split(","):
        bench = TASKS[name]
        runs = []
        for i, config in enumerate(draw_configs(bench, args.configs)):
            runs.append(run_config(bench, config, shares))
            print(f"{name}: config {i + 1}/{args.configs}", flush=True)
        tasks[name] = rank_figures(bench, runs, shares)
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"1 thread",
        "command": "python -m benchmarks.quality.probe_rank "
        + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "configs": args.configs,
        "shares": shares,
        "wall_s": time.perf_counter() - started,
        "tasks": tasks,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "probe-rank.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    (args.out / "probe-rank.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
