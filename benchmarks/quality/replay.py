"""Replaying pruning rules on a finished run's unpruned trials: what each rule would have cut.

    python -m benchmarks.quality.replay benchmarks/results/quality.json

The pruner-none arm trains every searched trial to the end, so its learning curves say what a
pruner would have done: trials in the order they ran, each judged at every rung from the second
on against the trials before it (as a one-worker search sees them), from ``min_references``
references on. Rules: ``raw`` is Optuna's median rule (worse than the median of the other
trials' values at the rung); ``schedule`` is lrsearch's ``search.pruner = "schedule"`` (worse
than the median of the trials with at least as much LR decay left, within SLACK). For each:
how many of the trials that ended in their search's top quarter it would have pruned, whether it
would have pruned a search's winner, and the epochs it would have trained. Baselines are left
out (they are never pruned). Also Spearman's rho at a third of the epochs, of the raw value and
of the schedule pruner's score, against the final value, over the same trials.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.quality.arms import SearchRun, TrialRecord
from benchmarks.quality.plan import NO_PRUNER_ARM
from benchmarks.quality.scoring import schedule_score_pairs, spearman, within_budget
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.pruning import SLACK, decay_left

MIN_REFERENCES = 5  # lrsearch's default startup_trials
RULES = ("raw", "schedule")


@dataclass
class RuleTally:
    top_pruned: int = 0  # trials that ended in their search's top quarter, pruned
    winners_pruned: int = 0  # searches' best trials, pruned
    epochs: int = 0  # epochs the rule would have trained


@dataclass
class TaskReplay:
    task: str
    epochs: int
    trials: int = 0
    top: int = 0
    winners: int = 0
    rules: dict[str, RuleTally] = field(default_factory=lambda: {r: RuleTally() for r in RULES})
    rho_raw: float | None = None
    rho_schedule: float | None = None


def first_prune(
    trial: TrialRecord, before: Sequence[TrialRecord], decay: dict[tuple[int, int], float]
) -> dict[str, int | None]:
    """The first rung at which each rule prunes ``trial`` (minimize), or None."""
    found: dict[str, int | None] = dict.fromkeys(RULES)
    for epoch in range(1, len(trial.intermediate)):
        value = trial.intermediate[epoch]
        floor = decay[trial.number, epoch] - SLACK
        refs = {
            "raw": [t.intermediate[epoch] for t in before],
            "schedule": [t.intermediate[epoch] for t in before if decay[t.number, epoch] >= floor],
        }
        for rule, values in refs.items():
            better = sum(v < value for v in values)
            if found[rule] is None and len(values) >= MIN_REFERENCES and better > len(values) / 2:
                found[rule] = epoch
    return found


def replay_search(run: SearchRun, epochs: int, out: TaskReplay) -> None:
    kept = [
        t
        for t in within_budget(run)
        if t.baseline is None and t.config and t.state == "COMPLETE" and t.value is not None
    ]
    kept = [t for t in kept if len(t.intermediate) == epochs]
    if not kept:
        return
    decay = {}
    for t in kept:
        assert t.config is not None
        spec = ScheduleSpec.from_dict(t.config["schedule"], complete=True)
        for e in range(epochs):
            decay[t.number, e] = decay_left(spec, (e + 1) / epochs)
    finals = sorted(t.value for t in kept if t.value is not None)
    quarter, best = finals[max(0, len(finals) // 4 - 1)], finals[0]
    for trial in kept:
        assert trial.value is not None
        found = first_prune(trial, [t for t in kept if t.number < trial.number], decay)
        out.trials += 1
        out.top += trial.value <= quarter
        out.winners += trial.value == best
        for rule, epoch in found.items():
            tally = out.rules[rule]
            tally.epochs += epochs if epoch is None else epoch + 1
            if epoch is not None:
                tally.top_pruned += trial.value <= quarter
                tally.winners_pruned += trial.value == best


def replay(payload: dict[str, object]) -> list[TaskReplay]:
    runs = [SearchRun.from_dict(r) for r in payload["searches"]]  # type: ignore[attr-defined]
    tasks = payload["setup"]["tasks"]  # type: ignore[index]
    results = []
    for task, info in tasks.items():
        epochs = int(info["epochs"])
        out = TaskReplay(task, epochs)
        mine = [r for r in runs if r.task == task and r.arm == NO_PRUNER_ARM]
        early = max(0, round(epochs / 3) - 1)
        raw, scored = [], []
        for run in mine:
            replay_search(run, epochs, out)
            trials = [t for t in within_budget(run) if t.baseline is None and t.config]
            raw += [
                (t.intermediate[early], t.value)
                for t in trials
                if t.state == "COMPLETE" and t.value is not None and early in t.intermediate
            ]
            scored += schedule_score_pairs(trials, epochs, "minimize")
        out.rho_raw = spearman([a for a, _ in raw], [b for _, b in raw])
        out.rho_schedule = spearman([a for a, _ in scored], [b for _, b in scored])
        results.append(out)
    return results


def markdown(results: Sequence[TaskReplay]) -> str:
    lines = [
        "| task | trials | rule | top-quarter trials pruned | winners pruned | epochs trained "
        "(share of all) | Spearman at 1/3 vs final |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for rule in RULES:
            t = r.rules[rule]
            rho = r.rho_raw if rule == "raw" else r.rho_schedule
            lines.append(
                f"| {r.task} | {r.trials} | {rule} | {t.top_pruned} of {r.top} | "
                f"{t.winners_pruned} of {r.winners} | {t.epochs} "
                f"({t.epochs / max(1, r.trials * r.epochs):.2f}) | "
                f"{'n/a' if rho is None else f'{rho:.3f}'} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else Path("benchmarks/results/quality.json")
    print(markdown(replay(json.loads(path.read_text("utf-8")))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
