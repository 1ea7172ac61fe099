"""From searches to scores: cut at the step budget, pick, retrain on fresh seeds, regret.

- :func:`within_budget`: a search's trials in order while their updates, summed, stay within
  the budget. Pruned and failed trials count with the updates they trained.
- :func:`pick`: the config an arm hands its user: the best complete trial within the budget.
- :func:`retrain`: that config trained at the full length on fresh seeds; the mean is the
  arm's TRUE score, so a trial that was lucky with its seed does not count.
- regret: per task, how far an arm's true score is from the best true score any arm's pick
  reached (>= 0).
- :func:`early_final_rank`: Spearman's rank correlation between a trial's value after a third
  of its epochs and its final value: how well an early look predicts the end;
  :func:`schedule_score_pairs`: the same for the schedule-aware pruner's score.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.quality.arms import SearchRun, TrialRecord
from benchmarks.quality.plan import BenchTask, bench_device
from lrsearch.errors import TrainingDiverged
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.pruning import SLACK, decay_left
from lrsearch.tasks.registry import load_task
from lrsearch.train.loop import RunLength, train


def within_budget(run: SearchRun) -> list[TrialRecord]:
    """The trials of ``run`` that fit its step budget, in the order they ran."""
    kept, used = [], 0
    for trial in sorted(run.trials, key=lambda t: t.number):
        if used + trial.steps > run.budget_steps:
            break
        kept.append(trial)
        used += trial.steps
    return kept


def pick(trials: Sequence[TrialRecord], direction: str) -> TrialRecord | None:
    """The best complete trial (the earliest of equals), or None when none completed."""
    complete = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    complete = [t for t in complete if math.isfinite(t.value or math.nan)]
    if not complete:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(complete, key=lambda t: (sign * (t.value or 0.0), t.number))


def config_key(config: dict[str, Any]) -> str:
    """Identical configs (two arms picking the same baseline) are retrained once."""
    return json.dumps(config, sort_keys=True)


@dataclass
class Retrained:
    scores: list[float]  # one per fresh seed; failure_score where it diverged
    diverged: int

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores)


def retrain(bench: BenchTask, config: dict[str, Any], seeds: Sequence[int]) -> Retrained:
    """Train ``config`` at the task's full length once per seed; the final metric of each."""
    values = train_values(bench, config, seeds)
    scores = [bench.failure_score if v is None else v for v in values]
    return Retrained(scores, sum(1 for v in values if v is None))


def train_values(
    bench: BenchTask, config: dict[str, Any], seeds: Sequence[int]
) -> list[float | None]:
    """``config`` at full length once per seed: the final metric, None where it diverged."""
    task = load_task(bench.task, bench.options)
    schedule = ScheduleSpec.from_dict(config["schedule"])
    values: list[float | None] = []
    for seed in seeds:
        try:
            result = train(
                task,
                schedule,
                config["optimizer"],
                config["optimizer_params"],
                length=RunLength(epochs=bench.epochs),
                seed=seed,
                metric=bench.metric,
                direction=bench.direction,
                device=bench_device(),
            )
            values.append(float(result.metrics[bench.metric]))
        except TrainingDiverged:
            values.append(None)
    return values


def regret(score: float, best: float, direction: str) -> float:
    return best - score if direction == "maximize" else score - best


def best_score(scores: Sequence[float], direction: str) -> float:
    return max(scores) if direction == "maximize" else min(scores)


def paired_difference(
    differences: Sequence[float], *, level: float = 0.95, draws: int = 10_000, seed: int = 0
) -> dict[str, float | int] | None:
    """The mean of per-seed paired differences (one arm's true score minus another's, the
    same search seed) and its bootstrap percentile interval at ``level``: the seeds resampled
    with replacement ``draws`` times (a fixed ``seed``, so a run renders the same figures
    again). An interval that holds 0 does not tell the two arms apart at this many seeds.
    None without at least 2 differences."""
    if len(differences) < 2:
        return None
    values = np.asarray(differences, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(draws, len(values)))].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return {
        "mean": float(values.mean()),
        "low": float(low),
        "high": float(high),
        "level": level,
        "seeds": len(values),
    }


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rho (average ranks for ties); None for fewer than 3 pairs or no spread."""
    if len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    if len(set(rx)) < 2 or len(set(ry)) < 2:
        return None
    return statistics.correlation(rx, ry)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def early_final_pairs(trials: Sequence[TrialRecord], epochs: int) -> list[tuple[float, float]]:
    """(value after a third of the epochs, final value) of each complete trial."""
    early = max(0, round(epochs / 3) - 1)  # the epoch index: after epochs/3 epochs
    return [
        (t.intermediate[early], t.value)
        for t in trials
        if t.state == "COMPLETE" and t.value is not None and early in t.intermediate
    ]


def schedule_score_pairs(
    trials: Sequence[TrialRecord], epochs: int, direction: str
) -> list[tuple[float, float]]:
    """(the schedule-aware pruner's score after a third of the epochs, final value, oriented so
    that lower is better) of each complete trial of one search.

    The score is what ``search.pruner = "schedule"`` judges by: the share of the search's other
    searched trials with at least as much LR decay left (less the slack) that were better at
    that epoch (0 when there are none to compare with); the pruner prunes above one half.
    """
    early = max(0, round(epochs / 3) - 1)
    fraction = (early + 1) / epochs
    seen = [
        (t, t.intermediate[early], _decay_left(t, fraction))
        for t in trials
        if early in t.intermediate and t.config is not None and t.baseline is None
    ]
    minimize = direction == "minimize"
    pairs = []
    for trial, value, decay in seen:
        if trial.state != "COMPLETE" or trial.value is None:
            continue
        refs = [v for other, v, d in seen if other is not trial and d >= decay - SLACK]
        better = sum((v < value) if minimize else (v > value) for v in refs)
        score = better / len(refs) if refs else 0.0
        pairs.append((score, trial.value if minimize else -trial.value))
    return pairs


def _decay_left(trial: TrialRecord, fraction: float) -> float:
    assert trial.config is not None
    return decay_left(ScheduleSpec.from_dict(trial.config["schedule"], complete=True), fraction)


def early_final_rank(trials: Sequence[TrialRecord], epochs: int) -> float | None:
    pairs = early_final_pairs(trials, epochs)
    return spearman([p[0] for p in pairs], [p[1] for p in pairs])


def discordant_share(pairs: Sequence[tuple[float, float]]) -> float | None:
    """The share of trial pairs whose order flips between the early look and the end: how
    often learning curves cross."""
    total = flips = 0
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            early = pairs[i][0] - pairs[j][0]
            final = pairs[i][1] - pairs[j][1]
            if early == 0 or final == 0:
                continue
            total += 1
            flips += (early > 0) != (final > 0)
    return flips / total if total else None
