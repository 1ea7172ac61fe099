"""One trial: suggest a config, build its Trial, run it with the search's runner, settle it.

The Trial is the same for built-in tasks, function trials and command trials (runners/); its
reports go to the ledger through a LedgerBackend, which answers whether to prune. A pruned
trial is PRUNED; a diverged one is FAILED with ``fail_reason = "diverged"``; a command's exit
code and output tail, or a trial that never reported, are FAILED with a reason saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lrsearch.errors import TrainingDiverged
from lrsearch.search.ledger import Outcome, RunningTrial, TrialLedger
from lrsearch.search.pruning import PROBE_SHARE, probe_rungs
from lrsearch.search.runners import CommandRunner, LedgerBackend, Runner
from lrsearch.search.sweep import run_sweep, shown_device
from lrsearch.service import notes
from lrsearch.space import TrialConfig, baseline_of, suggest
from lrsearch.space.confirm import CONFIRMS_ATTR, confirmation_of
from lrsearch.spec import SearchSpec
from lrsearch.trial import Trial, TrialBudget
from lrsearch.trial.probe import ProbePlan


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended, its value if complete, its config and why it failed."""

    outcome: Outcome
    value: float | None
    config: TrialConfig
    reason: str | None = None


def configure(ledger: TrialLedger, run: RunningTrial, spec: SearchSpec) -> TrialConfig:
    """The trial's config (a baseline's, a confirmation's, or suggested), kept in its user
    attributes."""
    trial = run.trial
    baseline = baseline_of(trial.user_attrs)
    confirmation = confirmation_of(trial.user_attrs)
    if baseline is not None:
        note = notes.baseline_note(str(trial.user_attrs.get("baseline")), baseline)
        ledger.call(lambda: notes.save(trial, note), "save the baseline's note")
        config = baseline
    elif confirmation is not None:
        note = notes.confirmation_note(int(trial.user_attrs[CONFIRMS_ATTR]), confirmation)
        ledger.call(lambda: notes.save(trial, note), "save the confirmation's note")
        config = confirmation
    else:
        ranges = ledger.lr_ranges(run.search) if spec.search.lr_range == "auto" else None
        config = ledger.call(lambda: suggest(trial, spec, ranges), "suggest")
        run.schedule = config.schedule  # its epochs carry their decay left (the pruner's)
    ledger.set_attrs(
        run,
        {
            "schedule": config.schedule.to_dict(),
            "optimizer_params": dict(config.optimizer_params),
            "config": config.to_dict(),
        },
    )
    return config


def trial_folder(runs_root: Path, study: str, number: int) -> Path:
    """``<runs_root>/<study>/trial-<number>``: the trial's own folder."""
    return runs_root / study / f"trial-{number}"


def make_trial(
    run: RunningTrial,
    spec: SearchSpec,
    config: TrialConfig,
    device: str,
    runs_root: Path,
) -> Trial:
    """The Trial the training code sees for this running trial."""
    budget = spec.budget
    probe = None
    if spec.search.pruner == "anneal" and run.prunes:
        probe = ProbePlan(probe_rungs(budget.reports), PROBE_SHARE)
    return Trial(
        number=run.number,
        params=dict(run.trial.params),
        schedule=config.schedule,
        optimizer=config.optimizer,
        optimizer_params=config.optimizer_params,
        seed=config.seed,
        budget=TrialBudget(budget.epochs, budget.steps, budget.evals),
        metric=run.search.metric,
        direction=run.search.direction,
        device=device,
        workdir=trial_folder(runs_root, run.search.name, run.number),
        study=run.search.name,
        probe=probe,
    )


def run_trial(
    ledger: TrialLedger,
    run: RunningTrial,
    spec: SearchSpec,
    runner: Runner,
    device: torch.device,
    runs_root: Path,
) -> TrialOutcome:
    """Run one suggested config; the trial's attributes record its schedule, config, why it
    failed, and (command trials) its output's tail."""
    shown = shown_device(device, isinstance(runner, CommandRunner))
    if run.sweep:  # the LR range test's sweep: a trial with a special schedule (sweep.py)
        folder = trial_folder(runs_root, run.search.name, run.number)
        outcome, sweep_config, reason, sweep_attrs = run_sweep(ledger, run, runner, shown, folder)
        if reason is not None:
            sweep_attrs["fail_reason"] = reason
        ledger.set_attrs(run, sweep_attrs)
        return TrialOutcome(outcome, None, sweep_config, reason)
    config = configure(ledger, run, spec)
    trial = make_trial(run, spec, config, shown, runs_root)
    backend = LedgerBackend(ledger, run, run.search.metric)
    result = runner.run(trial, backend)
    attrs = dict(result.attrs)
    if backend.probe_updates:  # the anneal probes' updates: they count like any trial's
        attrs["probe_updates"] = backend.probe_updates
    if result.outcome is Outcome.FAILED and result.reason:
        attrs["fail_reason"] = result.reason
        if backend.diverged is not None and "fail_detail" not in attrs:
            index, value = backend.diverged
            attrs["fail_detail"] = str(TrainingDiverged(index, run.search.metric, value))
    if attrs:
        ledger.set_attrs(run, attrs)
    return TrialOutcome(result.outcome, result.value, config, result.reason)
