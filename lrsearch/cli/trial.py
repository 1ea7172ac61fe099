"""``lrsearch trial NAME N``: one trial, its failure and its log tail; ``--plot`` draws its LR
curve (at the trial's own step count) above its validation curve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lrsearch.cli.app import NameArgument, StorageOption, app, command_settings, show
from lrsearch.errors import InvalidInputError


@app.command()
def trial(
    name: NameArgument,
    number: Annotated[int, typer.Argument(help="The trial's number.", min=0)],
    storage: StorageOption = None,
    plot: Annotated[
        Path | None, typer.Option(help="Draw its LR and validation curves into this PNG.")
    ] = None,
) -> None:
    """Show one trial: state, value, schedule, per-report metrics, why it failed, its log."""
    from lrsearch import service
    from lrsearch.schedules import ScheduleSpec

    with service.Backend.current(command_settings(storage)) as backend:
        data = service.trial_detail(backend, name, number)
        metric = service.get_study(backend, name).search.metric
    console = Console()
    console.print(_summary(name, data, metric))
    if data["epochs"]:
        console.print(_epochs(data["epochs"], metric))
    if data["fail_reason"]:
        console.print(f"[red]failed:[/red] {escape(data['fail_reason'])}")
    for key, title in (("fail_traceback", "traceback"), ("log_tail", "log tail")):
        if data.get(key):
            console.rule(title)
            console.print(escape(data[key]), highlight=False, soft_wrap=True)
    if plot is not None:
        if data["schedule"] is None or not data["steps"]:
            raise InvalidInputError("--plot", f"trial {number} has no schedule or no report yet")
        from lrsearch.plots import save_png, trial_figure

        spec = ScheduleSpec.from_dict(data["schedule"], complete=True)
        fig = trial_figure(
            spec,
            data["steps"],
            data["epochs"],
            metric,
            title=f"{name}: trial {number} ({data['state'].lower()}) over {data['steps']:,} steps",
        )
        console.print(f"plot: {save_png(fig, plot)}")


def _summary(name: str, data: dict[str, Any], metric: str) -> Table:
    table = Table(title=f"{name}: trial {data['number']}", show_header=False)
    table.add_row("state", data["state"])
    if data["value"] is not None:
        table.add_row(metric, f"{data['value']:.6g}")
    schedule = data["schedule"] or {}
    table.add_row("family", str(schedule.get("family", "-")))
    if "lr" in schedule:
        table.add_row("peak lr", f"{schedule['lr']:.6g}")
    for key, value in (schedule.get("params") or {}).items():
        table.add_row(f"  {key}", show(tuple(value) if isinstance(value, list) else value))
    table.add_row("optimizer", str(data["optimizer"] or "-"))
    table.add_row("steps", f"{data['steps']:,}" if data["steps"] else "-")
    table.add_row("attempt", str(data["attempt"]))
    table.add_row("worker", str(data["worker"] or "-"))
    return table


def _epochs(rows: list[dict[str, Any]], metric: str) -> Table:
    table = Table("report", "step", "train loss", metric, "lr", "seconds")
    for row in rows:
        cells = [row["train_loss"], row["value"], row["lr"], row["seconds"]]
        table.add_row(
            str(row["epoch"]),
            str(row["step"]),
            *("-" if c is None else f"{c:.4g}" for c in cells),
        )
    return table
