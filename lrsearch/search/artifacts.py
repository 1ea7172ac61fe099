"""Each trial's LR curve as an image on its optuna-dashboard page, with a short note.

Before a trial's outcome is told (Optuna accepts artifacts and notes only while a trial runs),
the agent draws the trial's schedule over the trial's own step count into a small PNG, uploads
it with Optuna's artifact API to a FileSystemArtifactStore (``Settings.artifact_path``; the
folder ``lrsearch dashboard`` hands to optuna-dashboard), and saves a Markdown note: family,
peak LR, optimizer and outcome. None of this can fail a trial: a problem is logged.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

from lrsearch.config import Settings
from lrsearch.schedules import ScheduleSpec, curve
from lrsearch.search.ledger import RunningTrial, TrialLedger
from lrsearch.service import notes
from lrsearch.space import baseline_of
from lrsearch.space.confirm import CONFIRMS_ATTR, confirmation_of
from lrsearch.spec import SearchSpec
from lrsearch.train.loop import RunLength, plan
from lrsearch.train.task import TensorTask

log = logging.getLogger("lrsearch.agent")


class TrialPlots:
    """Attaches LR curves and notes to trials; does nothing when ``store`` is None."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.store: Any = None
        if folder is not None:
            from optuna.artifacts import FileSystemArtifactStore

            folder.mkdir(parents=True, exist_ok=True)
            self.store = FileSystemArtifactStore(folder)

    @classmethod
    def from_settings(cls, settings: Settings) -> TrialPlots:
        return cls(settings.artifact_path if settings.trial_plots else None)

    def attach(
        self, ledger: TrialLedger, run: RunningTrial, spec: SearchSpec, task: object, result: Any
    ) -> None:
        """The trial's curve and note (``result``: how it ended, from the runner)."""
        schedule_data = run.user_attrs.get("schedule")
        if schedule_data is None:
            return  # it failed before it had a schedule
        try:
            schedule = ScheduleSpec.from_dict(schedule_data, complete=True)
            steps = trial_steps(spec, task)
            config = run.user_attrs.get("config") or {}
            base = baseline_of(run.user_attrs)
            name = str(run.user_attrs.get("baseline"))
            first = notes.baseline_note(name, base) if base is not None else None
            confirmed = confirmation_of(run.user_attrs)
            if confirmed is not None:
                confirms = int(run.user_attrs[CONFIRMS_ATTR])
                first = notes.confirmation_note(confirms, confirmed)
            note = notes.trial_note(
                schedule,
                str(config.get("optimizer", "?")),
                config.get("optimizer_params") or {},
                baseline=first,
                outcome=_outcome_words(result, run.search.metric),
                steps=steps,
            )
            ledger.call(lambda: notes.save(run.trial, note), "save the trial's note")
            if self.store is not None and steps is not None:
                self._upload(ledger, run, schedule, steps)
        except Exception as exc:  # a picture is never worth a trial
            log.warning("trial %d: no dashboard curve: %s: %s", run.number, type(exc).__name__, exc)

    def _upload(
        self, ledger: TrialLedger, run: RunningTrial, schedule: ScheduleSpec, steps: int
    ) -> None:
        from optuna.artifacts import upload_artifact

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"lr-curve-trial-{run.number}.png"
            draw_lr_curve(
                schedule, steps, path, title=f"trial {run.number}: LR over {steps:,} steps"
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the artifact API is marked experimental
                ledger.call(
                    lambda: upload_artifact(
                        artifact_store=self.store,
                        file_path=str(path),
                        study_or_trial=run.trial,
                        mimetype="image/png",
                    ),
                    "upload the trial's curve",
                )


def trial_steps(spec: SearchSpec, task: object) -> int | None:
    """The updates a trial of ``spec`` on ``task`` trains (None: unknown to lrsearch)."""
    budget = spec.budget
    if budget.steps is not None:
        return budget.steps
    if isinstance(task, TensorTask):
        return plan(task, RunLength(epochs=budget.epochs or 10))[0]
    return None


def draw_lr_curve(schedule: ScheduleSpec, steps: int, path: Path, *, title: str) -> Path:
    """A small PNG of ``schedule`` over ``steps`` updates (the dashboard's trial page)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3))  # fixed margins: a layout engine costs a third of the time
    fig.subplots_adjust(left=0.14, right=0.95, bottom=0.17, top=0.9)
    ax = fig.subplots()
    ax.plot(curve(schedule, steps), linewidth=1.6)
    ax.set_xlim(0, steps)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("optimizer update (step)")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.savefig(path, dpi=80)
    return path


def _outcome_words(result: Any, metric: str) -> str:
    outcome = getattr(result, "outcome", None)
    value = getattr(result, "value", None)
    if outcome is None:
        return f"failed: {getattr(result, 'reason', 'error')}"
    if value is not None:
        return f"{outcome.value}, {metric} = {value:.6g}"
    reason = getattr(result, "reason", None)
    return f"{outcome.value}" + (f": {reason}" if reason else "")
