"""The ``confirm`` arm: the same search, then its top configs on fresh seeds (``[search]
confirm``), scored against picking its best single trial.

A benchmark search stops at its step budget (``stop_study``), so lrsearch's own confirmation
slots, which open when the last searched trial of a trial budget is counted, never open there.
This module does what they would do, with lrsearch's own pieces: the ``top_k`` best complete
searched trials within the budget (baselines are never confirmed), each config trained at
full length on ``seeds`` fresh seeds (:func:`lrsearch.space.confirm.fresh_seed` of the trial's
seed, the seeds lrsearch uses), and the statistics of :mod:`lrsearch.service.confirmed` (mean,
std, 95% Student-t interval, probability of being the best). A diverged confirmation is a
failed trial in lrsearch: it gives no value.

From one search, two picks: its best single trial, and the config with the best confirmed
mean. The arm confirms ``top_k = 3`` configs on ``seeds = 3``; smaller designs (fewer configs,
fewer seeds: a prefix of the same runs) are scored from the same data (:data:`DESIGNS`), so
one run measures which default to choose. Each confirmed config is then trained on
``truth_seeds`` further fresh seeds (the benchmark's retraining seeds): its true mean.
Figures per search: both picks' true regret (against the task's best true score), the
confirmation's extra compute (its updates over the search's budget), and whether each
config's 95% interval covers its true mean. Also the regret of the leader with the best true
mean (the oracle): the best that any rule picking among the same ``top_k`` leaders can do.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.quality.arms import SearchRun, TrialRecord
from benchmarks.quality.plan import BenchTask
from lrsearch import store
from lrsearch.service.confirmed import config_stats
from lrsearch.space.confirm import fresh_seed

# (top_k, seeds) designs scored from the arm's runs: each is a prefix of (3, 3).
DESIGNS = ((3, 3), (3, 2), (2, 3), (2, 2), (1, 3))


def leaders(kept: Sequence[TrialRecord], direction: str, top_k: int) -> list[TrialRecord]:
    """The ``top_k`` best complete searched trials (ties: the earlier), as lr_leaders keeps
    them."""
    complete = [
        t
        for t in kept
        if t.state == "COMPLETE"
        and t.value is not None
        and math.isfinite(t.value)
        and t.baseline is None
        and t.config is not None
    ]
    sign = -1.0 if direction == "maximize" else 1.0
    return sorted(complete, key=lambda t: (sign * (t.value or 0.0), t.number))[:top_k]


def trial_seed(search_seed: int, number: int) -> int:
    """The seed lrsearch gave a searched trial (lrsearch.space.suggest)."""
    return search_seed * 100_003 + number


@dataclass
class Confirmation:
    """The confirmation of one search: its leaders, their values on fresh seeds, the truth."""

    run: SearchRun
    leaders: list[TrialRecord]
    seeds: int
    values: dict[int, list[float | None]] = field(default_factory=dict)  # trial -> per seed
    truth: dict[int, list[float]] = field(default_factory=dict)  # trial -> true-mean seeds

    def fresh_seeds(self, trial: TrialRecord) -> list[int]:
        seed = trial_seed(self.run.seed, trial.number)
        return [fresh_seed(seed, j) for j in range(self.seeds)]

    def rows(self) -> list[store.ConfirmationRow]:
        """The ``lr_confirmations`` rows lrsearch would hold after these confirmations."""
        rows = []
        for trial in self.leaders:
            assert trial.config is not None and trial.value is not None
            for j, value in enumerate(self.values.get(trial.number, [])):
                rows.append(
                    store.ConfirmationRow(
                        trial.number,
                        j,
                        {**trial.config, "seed": self.fresh_seeds(trial)[j]},
                        trial.value,
                        None,
                        "complete" if value is not None else "failed",
                        value,
                    )
                )
        return rows

    def design(self, top_k: int, seeds: int) -> Confirmation:
        """The confirmation ``(top_k, seeds)`` would have run: a prefix of this one's."""
        kept = self.leaders[:top_k]
        return Confirmation(
            self.run,
            kept,
            min(seeds, self.seeds),
            {t.number: self.values.get(t.number, [])[:seeds] for t in kept},
            {t.number: self.truth[t.number] for t in kept if t.number in self.truth},
        )

    def winner(self, maximize: bool) -> TrialRecord | None:
        """The leader with the best confirmed mean (the best single trial when none has a
        value)."""
        ranked = [s for s in config_stats(self.rows(), maximize) if s.mean is not None]
        if not ranked:
            return self.leaders[0] if self.leaders else None
        return next(t for t in self.leaders if t.number == ranked[0].trial_number)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.run.task,
            "arm": self.run.arm,
            "seed": self.run.seed,
            "leaders": [t.number for t in self.leaders],
            "seeds": self.seeds,
            "values": {str(n): v for n, v in self.values.items()},
            "truth": {str(n): v for n, v in self.truth.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], run: SearchRun) -> Confirmation:
        by_number = {t.number: t for t in run.trials}
        return cls(
            run,
            [by_number[n] for n in data["leaders"]],
            data["seeds"],
            {int(n): v for n, v in data["values"].items()},
            {int(n): v for n, v in data["truth"].items()},
        )

    def extra_steps(self) -> int:
        """Updates the confirmations trained (a diverged one counted in full: an upper bound)."""
        per_trial = max((t.steps for t in self.leaders), default=0)
        return per_trial * self.seeds * len(self.leaders)


def summarize_confirmation(
    c: Confirmation, bench: BenchTask, best_true: float
) -> dict[str, Any] | None:
    """One search's figures (module docstring); None when it had no leader."""
    if not c.leaders:
        return None
    maximize = bench.direction == "maximize"
    stats = config_stats(c.rows(), maximize)
    ranked = [s for s in stats if s.mean is not None]
    single = c.leaders[0]
    winner = ranked[0].trial_number if ranked else single.number
    true = {n: statistics.fmean(v) for n, v in c.truth.items() if v}
    reference = max([best_true, *true.values()]) if maximize else min([best_true, *true.values()])

    def regret_of(number: int) -> float | None:
        if number not in true:
            return None
        return reference - true[number] if maximize else true[number] - reference

    # The oracle: the leader with the best true mean (ties: the better-ranked leader).
    known = [t.number for t in c.leaders if t.number in true]
    sign = -1.0 if maximize else 1.0
    oracle = min(known, key=lambda n: sign * true[n]) if known else None
    covered = [
        s.interval[0] <= true[s.trial_number] <= s.interval[1]
        for s in stats
        if s.interval is not None and s.trial_number in true
    ]
    return {
        "task": c.run.task,
        "seed": c.run.seed,
        "single_trial": single.number,
        "confirmed_trial": winner,
        "regret_single": regret_of(single.number),
        "regret_confirmed": regret_of(winner),
        "oracle_trial": oracle,
        "regret_oracle": regret_of(oracle) if oracle is not None else None,
        "extra_compute": c.extra_steps() / c.run.budget_steps if c.run.budget_steps else None,
        "intervals": len(covered),
        "covered": sum(covered),
        "configs": [
            {
                **s.to_dict(),
                "true_mean": true.get(s.trial_number),
                "truth_seeds": len(c.truth.get(s.trial_number, [])),
            }
            for s in stats
        ],
    }


def summarize_designs(
    confirmations: Sequence[Confirmation], tasks: dict[str, BenchTask], best_true: dict[str, float]
) -> dict[str, Any]:
    """Per design (``"3x3"``): every search's figures, per task and over all tasks."""
    found: dict[str, Any] = {}
    for top_k, seeds in DESIGNS:
        rows = []
        for c in confirmations:
            bench = tasks[c.run.task]
            row = summarize_confirmation(c.design(top_k, seeds), bench, best_true[c.run.task])
            if row is not None:
                rows.append(row)
        found[f"{top_k}x{seeds}"] = {
            "top_k": top_k,
            "seeds": seeds,
            "all": aggregate(rows),
            "tasks": {name: aggregate([r for r in rows if r["task"] == name]) for name in tasks},
            "searches": rows,
        }
    return found


def aggregate(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The issue's figures over searches: mean regrets (and their ratio), mean extra compute,
    interval coverage; the oracle's mean regret over the same searches and its ratio."""
    both = [r for r in rows if r["regret_single"] is not None and r["regret_confirmed"] is not None]
    single = statistics.fmean(r["regret_single"] for r in both) if both else None
    confirmed = statistics.fmean(r["regret_confirmed"] for r in both) if both else None
    # Where the single trial has a true mean so has the oracle (it is one of the leaders).
    oracles = [r["regret_oracle"] for r in both if r.get("regret_oracle") is not None]
    oracle = statistics.fmean(oracles) if both and len(oracles) == len(both) else None
    extra = [r["extra_compute"] for r in rows if r["extra_compute"] is not None]
    intervals = sum(r["intervals"] for r in rows)
    return {
        "searches": len(rows),
        "regret_single": single,
        "regret_confirmed": confirmed,
        "regret_ratio": confirmed / single if single and confirmed is not None else None,
        "regret_oracle": oracle,
        "oracle_ratio": oracle / single if single and oracle is not None else None,
        "changed_pick": sum(r["single_trial"] != r["confirmed_trial"] for r in rows),
        "extra_compute": statistics.fmean(extra) if extra else None,
        "intervals": intervals,
        "coverage": sum(r["covered"] for r in rows) / intervals if intervals else None,
    }
