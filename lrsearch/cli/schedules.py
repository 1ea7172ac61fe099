"""``lrsearch schedules list`` and ``lrsearch schedules plot``: the families, before searching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lrsearch.cli.app import schedules_app, show
from lrsearch.cli.extras import require
from lrsearch.errors import InvalidInputError
from lrsearch.schedules import ScheduleSpec, families, get_family

_SPEC_FIELDS = ("lr", "warmup_fraction", "warmup_start_factor")


@schedules_app.command("list")
def schedules_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The families with their parameters, defaults and allowed ranges."""
    if as_json:
        print(json.dumps([_family_json(f.name) for f in families()], indent=2))
        return
    table = Table(title="Schedule families (time parameters are fractions of the budget)")
    for column in ("family", "parameter", "default", "allowed"):
        table.add_column(column, no_wrap=True)
    table.add_column("meaning", overflow="fold", min_width=20)
    for fam in families():
        table.add_row(
            f"[bold]{fam.name}[/bold]", "", "", "", fam.summary, end_section=not fam.params
        )
        for i, p in enumerate(fam.params):
            table.add_row(
                "",
                p.name,
                show(p.default),
                p.range_text(),
                p.help,
                end_section=i == len(fam.params) - 1,
            )
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)
    console.print(
        "Every family also takes lr (peak LR, > 0), warmup_fraction in [0, 1) and "
        "warmup_start_factor in [0, 1]."
    )


@schedules_app.command("plot")
def schedules_plot(
    schedules: Annotated[
        list[str],
        typer.Argument(help="Families to draw, as FAMILY or LABEL=FAMILY (to draw one twice)."),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="LABEL.KEY=VALUE (repeatable); lists as 0.5,0.75. KEY may also be lr, "
            "warmup_fraction or warmup_start_factor.",
        ),
    ] = None,
    steps: Annotated[int, typer.Option(help="Length of the run, in optimizer updates.")] = 1000,
    lr: Annotated[
        float, typer.Option(help="Peak LR for every curve, unless --param sets it.")
    ] = 0.1,
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")] = Path(
        "schedules.png"
    ),
    log: Annotated[bool, typer.Option("--log", help="Logarithmic LR axis.")] = False,
    grid: Annotated[bool, typer.Option("--grid", help="One panel per curve.")] = False,
) -> None:
    """Draw schedules in one labelled figure, to see a curve before searching with it."""
    require("plots", "schedules plot")
    from lrsearch.plots import plot_schedules

    labelled = _build_specs(schedules, param or [], lr)
    if steps < 1:
        raise InvalidInputError("--steps", f"{steps} is out of range: must be >= 1")
    path = plot_schedules(labelled, steps, output, log_y=log, grid=grid)
    print(f"wrote {path} ({len(labelled)} curves over {steps} steps)")


def _build_specs(
    schedules: list[str], params: list[str], lr: float
) -> list[tuple[str, ScheduleSpec]]:
    """Turn ``LABEL=FAMILY`` arguments and ``LABEL.KEY=VALUE`` options into specs."""
    families_by_label: dict[str, str] = {}
    for item in schedules:
        label, _, family = item.rpartition("=")
        label = label or family
        if label in families_by_label:
            raise InvalidInputError(item, f"label {label!r} is used twice: write LABEL={family}")
        get_family(family)
        families_by_label[label] = family
    overrides: dict[str, dict[str, Any]] = {label: {} for label in families_by_label}
    for item in params:
        target, eq, value = item.partition("=")
        label, dot, key = target.partition(".")
        if not (eq and dot and key):
            raise InvalidInputError("--param", f"{item!r} is not of the form LABEL.KEY=VALUE")
        if label not in overrides:
            known = ", ".join(families_by_label)
            raise InvalidInputError(
                f"--param {item}", f"{label!r} is not plotted (plotted: {known})"
            )
        overrides[label][key] = value
    return [
        (label, _spec_from_strings(family, overrides[label], lr))
        for label, family in families_by_label.items()
    ]


def _spec_from_strings(family: str, values: dict[str, str], lr: float) -> ScheduleSpec:
    fam = get_family(family)
    fields: dict[str, Any] = {"lr": lr}
    params: dict[str, Any] = {}
    for key, value in values.items():
        if key in _SPEC_FIELDS:
            fields[key] = _float(value, f"{family}.{key}")
        elif any(p.name == key for p in fam.params):
            listed = fam.param(key).kind in ("fractions", "floats")
            params[key] = value.split(",") if listed else value
        else:
            params[key] = value  # ScheduleSpec names the unknown parameter and the known ones
    return ScheduleSpec.create(family, params=params, **fields)


def _float(value: str, field: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InvalidInputError(field, f"{value!r} is not a number") from None


def _family_json(name: str) -> dict[str, Any]:
    from lrsearch.api.schemas import family_public

    return family_public(get_family(name)).model_dump()
