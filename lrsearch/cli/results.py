"""What ``lrsearch search`` prints when the search is done: counts, the best, two plots."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lrsearch import service
from lrsearch.cli.app import show
from lrsearch.config import Settings
from lrsearch.errors import NotFoundError
from lrsearch.schedules import ScheduleSpec
from lrsearch.spec import parse_spec

DEFAULT_STEPS = 1000  # plotted length of a best trial that recorded none (older searches)


def print_results(settings: Settings, name: str, folder: Path, *, named_storage: bool) -> bool:
    """Print the search's counts and best config; plot the best schedule and the curves.

    Returns whether there is a best (some trial completed).
    """
    console = Console()
    with service.Backend.from_settings(settings) as backend:
        found = service.get_study(backend, name).search
        console.print(
            f"[bold]{name}[/bold]: {found.n_complete} complete, {found.n_pruned} pruned, "
            f"{found.n_failed} failed of {found.trial_budget} trials"
            + (
                f" ({found.n_retried} re-run after an interruption or a lost worker)"
                if found.n_retried
                else ""
            )
        )
        try:
            best = service.best_config(backend, name)
        except NotFoundError:
            console.print("no trial completed, so there is no best schedule")
            return False
        curves = [(c.number, c.state, c.values) for c in service.trial_curves(backend, name)]
    schedule = ScheduleSpec.from_dict(best["schedule"], complete=True)
    console.print(_best_table(name, best, schedule))
    console.print(_found_how(found, best["baseline"], best["steps"]))
    ranged = service.range_line(best["lr_range"])
    if ranged is not None:
        console.print(ranged)
    if best.get("confirmed"):  # the best mean over fresh seeds, with its uncertainty
        console.print(service.best_summary_line(best), markup=False)
    if importlib.util.find_spec("matplotlib") is None:
        console.print("plots: skipped, they need the plots extra: pip install 'lrsearch[plots]'")
        return True
    from lrsearch.plots import plot_schedules, plot_trial_curves

    steps = best["steps"] or parse_spec(found.spec).budget.steps or DEFAULT_STEPS
    curve_png = plot_schedules(
        [(schedule.family, schedule)],
        steps,
        folder / "best_schedule.png",
        title=f"{name}: best schedule over {steps:,} steps",
    )
    trials_png = plot_trial_curves(
        curves,
        best["trial_number"],
        best["metric"],
        folder / "trials.png",
        title=f"{name}: validation curves",
    )
    console.print(f"plots: {curve_png}, {trials_png}")
    where = f" --storage {settings.storage_url}" if named_storage else ""
    console.print(f"as JSON: lrsearch best {name}{where}")
    console.print(f"the report, with the baselines: lrsearch report {name}{where} -o report.html")
    return True


def _found_how(found: service.Search, baseline: str | None, steps: int | None) -> str:
    """Whether a baseline won, and the length the schedules were searched at."""
    lines = []
    if baseline is not None:
        searched = found.finished - found.baseline_trials - found.confirm_trials
        lines.append(
            f"[yellow]the best is a baseline[/yellow] ({baseline}, the classic schedule at the "
            f"tuned best's LR): none of the {searched} searched trials beat it"
        )
    if steps:
        lines.append(
            f"schedules were searched on {steps:,} optimizer steps per trial; every time "
            "parameter is a fraction of the run, so the best renders for any length "
            f"(GET /v1/studies/{found.name}/best?steps=N)"
        )
    return "\n".join(lines)


def _best_table(name: str, best: dict[str, object], schedule: ScheduleSpec) -> Table:
    table = Table(
        title=f"best of {name}: {best['metric']} = {best['value']:.6g}", show_header=False
    )
    table.add_row("trial", str(best["trial_number"]))
    table.add_row("family", schedule.family)
    table.add_row("peak lr", f"{schedule.lr:.6g}")
    for key, value in schedule.params.items():
        table.add_row(f"  {key}", show(value))
    table.add_row("warmup", f"{schedule.warmup_fraction:.4g} of the budget")
    params = best["optimizer_params"]
    options = ", ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, dict) else ""
    table.add_row("optimizer", f"{best['optimizer']} {options}".strip())
    return table
