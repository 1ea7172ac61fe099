"""``lrsearch run``: train once with the best (or a given) schedule, as a search would."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lrsearch.cli.app import DeviceOption, StorageOption, app, check_device, command_settings


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="The search spec (its task, objective or command).")],
    schedule: Annotated[
        str,
        typer.Option(
            help="best:STUDY (that study's best trial) or a JSON file with a ScheduleSpec, "
            'or {"schedule": ..., "optimizer": ..., "optimizer_params": ...}.'
        ),
    ],
    storage: StorageOption = None,
    device: DeviceOption = "cpu",
) -> None:
    """Train once with one schedule: the spec's training runs with a standalone trial (its
    reports are printed, never pruned). The exit code is the run's."""
    from lrsearch.search.standalone import chosen_config, run_once
    from lrsearch.service import SubmitPolicy
    from lrsearch.service.policy import load_command_templates
    from lrsearch.spec import load_spec_file

    check_device(device)
    settings = command_settings(storage)
    templates = load_command_templates(settings.command_templates)
    parsed = SubmitPolicy.local(templates=templates).admit(load_spec_file(spec))
    config = chosen_config(schedule, parsed, settings)
    raise typer.Exit(run_once(parsed, config, settings, device=device))
