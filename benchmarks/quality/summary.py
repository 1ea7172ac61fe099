"""The figures of a benchmark run, as JSON-ready data: regrets, wins, steps, Spearman, picks."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.quality.arms import SearchRun, TrialRecord
from benchmarks.quality.plan import (
    DEFAULTS_ARM,
    LR_RANGE_ARM,
    NO_PRUNER_ARM,
    PLAIN_ARM,
    WIDE_ARM,
    WIDE_LR,
    BenchTask,
)
from benchmarks.quality.scoring import (
    Retrained,
    best_score,
    config_key,
    discordant_share,
    early_final_pairs,
    early_final_rank,
    paired_difference,
    pick,
    regret,
    schedule_score_pairs,
    spearman,
    within_budget,
)


@dataclass
class Pick:
    """What one search (task, arm, seed) hands its user, and how good it truly is."""

    run: SearchRun
    kept: list[TrialRecord]
    trial: TrialRecord | None
    true: Retrained | None = None

    @property
    def key(self) -> str | None:
        if self.trial is None or self.trial.config is None:
            return None
        return config_key(self.trial.config)


def make_picks(runs: Sequence[SearchRun], tasks: Mapping[str, BenchTask]) -> list[Pick]:
    picks = []
    for run in runs:
        kept = within_budget(run)
        picks.append(Pick(run, kept, pick(kept, tasks[run.task].direction)))
    return picks


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "std": None, "min": None, "max": None}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def true_score(p: Pick, bench: BenchTask) -> float:
    """The pick's retrained mean; a search that completed no trial scores like a diverged one."""
    return p.true.mean if p.true is not None else bench.failure_score


def summarize(
    picks: Sequence[Pick], tasks: Mapping[str, BenchTask], arms: Sequence[str]
) -> dict[str, Any]:
    per_task = {name: _task_summary(name, picks, bench, arms) for name, bench in tasks.items()}
    duel = {"wins": 0, "ties": 0, "losses": 0}
    for summary in per_task.values():
        for key in duel:
            duel[key] += summary["defaults_vs_plain"][key]
    pairs = sum(duel.values())
    return {
        "tasks": per_task,
        "defaults_vs_plain": {**duel, "pairs": pairs, "fraction": duel["wins"] / pairs}
        if pairs
        else None,
        "picks": [_pick_row(p, tasks[p.run.task]) for p in picks],
    }


def _task_summary(
    name: str, picks: Sequence[Pick], bench: BenchTask, arms: Sequence[str]
) -> dict[str, Any]:
    mine = [p for p in picks if p.run.task == name]
    direction = bench.direction
    best = best_score([true_score(p, bench) for p in mine], direction)
    seeds = sorted({p.run.seed for p in mine})
    by = {(p.run.arm, p.run.seed): p for p in mine}
    rows: list[dict[str, Any]] = []
    wins = dict.fromkeys(arms, 0)
    duel: list[float | None] = []
    versus: dict[str, list[float | None]] = {a: [] for a in arms if a != DEFAULTS_ARM}
    for seed in seeds:
        scores = {a: true_score(by[a, seed], bench) for a in arms if (a, seed) in by}
        top = best_score(list(scores.values()), direction)
        winners = [a for a, s in scores.items() if s == top]
        for a in winners:
            wins[a] += 1
        rows.append({"seed": seed, "scores": scores, "winners": winners})
        if DEFAULTS_ARM in scores and PLAIN_ARM in scores:
            duel.append(regret(scores[DEFAULTS_ARM], scores[PLAIN_ARM], direction))
        for arm, found in versus.items():  # each arm against lrsearch's defaults, per seed
            if arm in scores and DEFAULTS_ARM in scores:
                found.append(regret(scores[arm], scores[DEFAULTS_ARM], direction))
    arm_rows = {}
    for arm in arms:
        ps = [p for p in mine if p.run.arm == arm]
        arm_rows[arm] = {
            "regret": _spread([regret(true_score(p, bench), best, direction) for p in ps]),
            "true": _spread([true_score(p, bench) for p in ps]),
            "search_best": _spread([p.trial.value for p in ps if p.trial and p.trial.value]),
            "steps": _spread([float(sum(t.steps for t in p.kept)) for p in ps]),
            "trials": _spread([float(len(p.kept)) for p in ps]),
            "pruned": _spread([float(sum(t.state == "PRUNED" for t in p.kept)) for p in ps]),
            "failed": _spread([float(sum(t.state == "FAIL" for t in p.kept)) for p in ps]),
            "probe_steps": _spread([float(sum(t.probe_steps for t in p.kept)) for p in ps]),
            "saved_steps": _spread([float(_saved(p, bench.epochs)) for p in ps]),
            "picked_trial": [p.trial.number if p.trial else None for p in ps],
            "picked_baseline": sum(bool(p.trial and p.trial.baseline) for p in ps),
            "wall_s": _spread([p.run.wall_s for p in ps]),
            "seeds_won": wins[arm],
        }
    return {
        "metric": bench.metric,
        "direction": direction,
        "best_true": best,
        "budget_steps": mine[0].run.budget_steps if mine else None,
        "steps_per_epoch": mine[0].run.steps_per_epoch if mine else None,
        "arms": arm_rows,
        "seeds": rows,
        "defaults_vs_plain": _tally(duel),
        "versus_defaults": {arm: _versus(found) for arm, found in versus.items()},
        "early_vs_final": _early_final(mine, bench),
        "lr_range": _lr_range(mine, bench, best),
        "separation": _separation(mine, bench),
    }


def _saved(p: Pick, epochs: int) -> int:
    """Updates the pruner saved: what each pruned trial would have trained to its end."""
    full = p.run.steps_per_epoch * epochs
    return sum(max(0, full - (t.steps - t.probe_steps)) for t in p.kept if t.state == "PRUNED")


def _lr_range(mine: Sequence[Pick], bench: BenchTask, best: float) -> dict[str, Any] | None:
    """The issue's figures for the LR range test, per seed: the range chosen per optimizer,
    how many decades it cut from the default [1e-6, 1], the sweeps' share of the step budget,
    whether the range holds the peak LR the defaults arm picked (same task and seed), and the
    regret of its pick against the defaults arm's and the wide arm's (the same starting range
    without the test: the counterfactual); then the three arms' mean regrets over its seeds."""
    ranged = {p.run.seed: p for p in mine if p.run.arm == LR_RANGE_ARM and p.run.lr_range}
    if not ranged:
        return None
    defaults = {p.run.seed: p for p in mine if p.run.arm == DEFAULTS_ARM}
    wides = {p.run.seed: p for p in mine if p.run.arm == WIDE_ARM}
    wide = math.log10(WIDE_LR[1] / WIDE_LR[0])
    rows = []
    for seed, p in sorted(ranged.items()):
        info = p.run.lr_range or {}
        ranges = info.get("ranges") or {}
        cut = {k: wide - math.log10(r["high"] / r["low"]) for k, r in ranges.items()}
        held = None
        other = defaults.get(seed)
        known = info.get("state") == "done" and bool(ranges)  # a smoke budget may end first
        if known and other is not None and other.trial and other.trial.config is not None:
            lr = float(other.trial.config["schedule"]["lr"])
            chosen = ranges.get(other.trial.config["optimizer"])
            held = chosen is not None and chosen["low"] <= lr <= chosen["high"]
        rows.append(
            {
                "seed": seed,
                "state": info.get("state"),
                "ranges": {k: [r["low"], r["high"]] for k, r in ranges.items()},
                "decades_cut": cut,
                "sweep_steps": info.get("sweep_updates", 0),
                "sweep_share": info.get("sweep_updates", 0) / p.run.budget_steps,
                "holds_defaults_best": held,
                "regret_vs_defaults": _regret_vs(p, other, bench),
                "regret_vs_wide": _regret_vs(p, wides.get(seed), bench),
            }
        )
    cuts = [c for row in rows for c in row["decades_cut"].values()]
    vs_wide = [r["regret_vs_wide"] for r in rows]
    return {
        "seeds": rows,
        "all_hold": all(r["holds_defaults_best"] for r in rows),  # None: not known
        "ranges_known": sum(r["state"] == "done" for r in rows),
        "min_decades_cut": min(cuts) if cuts else None,
        "max_sweep_share": max(r["sweep_share"] for r in rows),
        "mean_regret": {
            arm: _mean_regret([by[seed] for seed in ranged if seed in by], bench, best)
            for arm, by in ((LR_RANGE_ARM, ranged), (WIDE_ARM, wides), (DEFAULTS_ARM, defaults))
        },
        # seeds where the lr-range pick's true score is better than / equal to the wide one's
        "vs_wide": _tally(vs_wide) if any(r is not None for r in vs_wide) else None,
    }


def _regret_vs(p: Pick, other: Pick | None, bench: BenchTask) -> float | None:
    """``p``'s true score minus ``other``'s (negative: ``p`` is better); None without one."""
    if other is None:
        return None
    return regret(true_score(p, bench), true_score(other, bench), bench.direction)


def _mean_regret(ps: Sequence[Pick], bench: BenchTask, best: float) -> dict[str, Any]:
    """The mean regret (against the task's best true score) of ``ps`` and their count."""
    found = [regret(true_score(p, bench), best, bench.direction) for p in ps]
    return {"mean": statistics.fmean(found) if found else None, "seeds": len(found)}


def _tally(regrets: Sequence[float | None]) -> dict[str, int]:
    """Wins (negative regret), ties and losses over the known ``regrets``."""
    known = [r for r in regrets if r is not None]
    return {
        "wins": sum(r < 0 for r in known),
        "ties": sum(r == 0 for r in known),
        "losses": sum(r > 0 for r in known),
    }


def _versus(differences: Sequence[float | None]) -> dict[str, Any]:
    """An arm against the defaults over the seeds both ran: wins, ties, losses, and the mean
    difference in true score with its bootstrap interval (negative: the arm is better)."""
    known = [d for d in differences if d is not None]
    return {**_tally(known), "difference": paired_difference(known)}


def _separation(mine: Sequence[Pick], bench: BenchTask) -> dict[str, Any]:
    """Does the task tell methods apart? The spread of the picks' true scores against the
    seed noise of one config (the std over its fresh seeds), and how often a search's best
    trial was simply its first."""
    scores = [true_score(p, bench) for p in mine]
    noise = [statistics.stdev(p.true.scores) for p in mine if p.true and len(p.true.scores) > 1]
    return {
        "true_score_range": max(scores) - min(scores) if scores else None,
        "true_score_std": statistics.stdev(scores) if len(scores) > 1 else None,
        "retrain_seed_std": statistics.fmean(noise) if noise else None,
        "picked_first_trial": sum(bool(p.trial and p.trial.number == 0) for p in mine),
        "searches": len(mine),
        "distinct_picks": len({p.key for p in mine}),
    }


def _early_final(mine: Sequence[Pick], bench: BenchTask) -> dict[str, Any]:
    """Spearman between the value at a third of the epochs and the final value, over the
    complete (never pruned) trials of the pruner-none arm: per seed, their mean, and pooled."""
    runs = [p for p in mine if p.run.arm == NO_PRUNER_ARM]
    per_seed = [early_final_rank(p.kept, bench.epochs) for p in runs]
    pairs = [pair for p in runs for pair in early_final_pairs(p.kept, bench.epochs)]
    found = [r for r in per_seed if r is not None]
    scored = [schedule_score_pairs(p.kept, bench.epochs, bench.direction) for p in runs]
    scored_seed = [spearman([a for a, _ in s], [b for _, b in s]) for s in scored]
    scored_found = [r for r in scored_seed if r is not None]
    pooled_scores = [pair for s in scored for pair in s]
    return {
        "early_epoch": max(1, round(bench.epochs / 3)),
        "per_seed": per_seed,
        "mean": statistics.fmean(found) if found else None,
        "pooled": spearman([a for a, _ in pairs], [b for _, b in pairs]),
        "pooled_trials": len(pairs),
        "discordant_pairs": discordant_share(pairs),
        "schedule_score": {
            "per_seed": scored_seed,
            "mean": statistics.fmean(scored_found) if scored_found else None,
            "pooled": spearman([a for a, _ in pooled_scores], [b for _, b in pooled_scores]),
            "pooled_trials": len(pooled_scores),
        },
    }


def _pick_row(p: Pick, bench: BenchTask) -> dict[str, Any]:
    trial = p.trial
    config = trial.config if trial is not None else None
    schedule = config["schedule"] if config else None
    return {
        "task": p.run.task,
        "arm": p.run.arm,
        "seed": p.run.seed,
        "trials_in_budget": len(p.kept),
        "trials_run": len(p.run.trials),
        "steps_in_budget": sum(t.steps for t in p.kept),
        "picked_trial": trial.number if trial else None,
        "baseline": trial.baseline if trial else None,
        "search_value": trial.value if trial else None,
        "config": config,
        "label": describe(config) if config else "no complete trial",
        "family": schedule["family"] if schedule else None,
        "true_scores": p.true.scores if p.true else None,
        "true_mean": true_score(p, bench),
        "retrain_diverged": p.true.diverged if p.true else None,
    }


def describe(config: Mapping[str, Any]) -> str:
    """``cosine adamw lr=3.1e-03 warmup=0.08`` (family parameters are in the JSON)."""
    schedule = config["schedule"]
    warmup = (schedule.get("warmup") or {}).get("fraction", 0.0) or 0.0
    text = f"{schedule['family']} {config['optimizer']} lr={float(schedule['lr']):.2e}"
    return text + (f" warmup={warmup:.2f}" if warmup else "")
