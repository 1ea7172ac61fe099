"""``lrsearch best``, ``stop`` and ``report``: one study, read or ended through the service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrsearch.cli.app import NameArgument, StorageOption, app, command_settings


@app.command()
def best(name: NameArgument, storage: StorageOption = None) -> None:
    """Print the best config of a search as JSON."""
    from lrsearch import service

    with service.Backend.current(command_settings(storage)) as backend:
        print(json.dumps(service.best_config(backend, name), indent=2))


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
