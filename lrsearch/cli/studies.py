"""``lrsearch best``, ``stop`` and ``report``: one study, read or ended through the service."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from lrsearch.cli.app import NameArgument, StorageOption, app, command_settings
from lrsearch.cli.extras import require
from lrsearch.errors import InvalidInputError


@app.command()
def best(
    name: NameArgument,
    storage: StorageOption = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="json (the config), or pytorch (code that builds its optimizer and schedule).",
        ),
    ] = "json",
    steps: Annotated[
        int | None,
        typer.Option(
            help="Render for a run of this many updates (default: as long as the best trial).",
            min=1,
        ),
    ] = None,
) -> None:
    """Print the best config of a search: JSON, or self-contained PyTorch code
    (--format pytorch). A line on stderr says whether it is a baseline and on how many steps
    it was searched; for a search that confirms its top configs (``[search] confirm``), the
    best config's mean ± std over its fresh seeds, its 95% interval and how likely it is the
    best of the k; another line the LR range test's range (its curves are in lr_range)."""
    from lrsearch import service

    if fmt not in ("json", "pytorch"):
        raise InvalidInputError("--format", f"{fmt!r} is not allowed: must be json or pytorch")
    with service.Backend.current(command_settings(storage)) as backend:
        if fmt == "pytorch":
            print(service.best_pytorch(backend, name, steps=steps), end="")
            return
        found = service.best_config(backend, name, steps=steps)
    print(json.dumps(found, indent=2))
    print(service.best_summary_line(found), file=sys.stderr)
    ranged = service.range_line(found["lr_range"])
    if ranged is not None:  # the curves are in the JSON's lr_range
        print(ranged, file=sys.stderr)


@app.command()
def report(
    name: NameArgument,
    storage: StorageOption = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    steps: Annotated[
        int | None,
        typer.Option(
            help="Render curves for this many updates (default: the best trial's).", min=1
        ),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Schedules in the top-k plot.", min=1, max=20)] = 5,
) -> None:
    """Write a self-contained HTML report: best schedule, top-k, curves, families, baselines."""
    require("plots", "report")
    from lrsearch import service
    from lrsearch.report import render

    with service.Backend.current(command_settings(storage)) as backend:
        page = service.report_page(backend, name, render, top_k=top_k, steps=steps)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    print(f"wrote {output} ({len(page) // 1024} KiB, opens offline)")


@app.command()
def stop(name: NameArgument, storage: StorageOption = None) -> None:
    """Stop claiming new trials of a search; running trials finish, then it is done."""
    from lrsearch import service

    with service.Backend.current(command_settings(storage)) as backend:
        found = service.stop_study(backend, name).search
    print(f"{found.name}: {found.status} ({found.running} trials still running)")
