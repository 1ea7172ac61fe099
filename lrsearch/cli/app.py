"""The typer app, its command groups and the options several commands share."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from types import FrameType
from typing import Annotated

import typer

from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError

app = typer.Typer(
    help="lrsearch: find the best learning-rate schedule for a model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schedules_app = typer.Typer(help="Inspect and plot the schedule families.", no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="SQLAlchemy URL (default: LRSEARCH_STORAGE_URL, else sqlite:///lrsearch.db).",
    ),
]
DeviceOption = Annotated[
    str, typer.Option(help="cpu, cuda, cuda:N, mps or auto (CUDA when there is one).")
]
ThreadsOption = Annotated[
    int | None, typer.Option(help="torch threads per worker (default: cores / workers).", min=1)
]
NameArgument = Annotated[str, typer.Argument(help="The search (study) name.")]


def command_settings(storage: str | None) -> Settings:
    """The command's Settings, built once: the environment's, with ``--storage`` if given.

    A PostgreSQL URL without psycopg installed is one line naming the ``postgres`` extra.
    """
    from lrsearch.cli.extras import command_name, require_driver

    settings = Settings().with_storage(storage)
    require_driver(settings.storage_url, command_name())
    return settings


def version() -> str:
    """The installed package's version ("unknown" when run from a checkout not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("lrsearch")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        print(f"lrsearch {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """lrsearch: find the best learning-rate schedule for a model."""


DEVICE_PATTERN = re.compile(r"cpu|auto|mps|cuda(:\d{1,3})?")


def check_device(device: str, problem: Callable[[str], str | None] | None = None) -> None:
    """A ``--device`` spelled right, and (with ``problem``) present on this machine."""
    if DEVICE_PATTERN.fullmatch(device) is None:
        raise InvalidInputError(
            "--device", f"{device!r} is not allowed: must be cpu, cuda, cuda:N, mps or auto"
        )
    found = problem(device) if problem is not None else None
    if found is not None:
        raise InvalidInputError("--device", found)


def show(value: object) -> str:
    """A parameter value as the tables print it: lists as 0.5,0.75; floats with %g."""
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def hang_up_as_terminate() -> None:
    """A closed terminal (SIGHUP) stops the command as SIGTERM does, whatever handles SIGTERM
    when it comes (the command's own handler, uvicorn's while it serves, the worker's).

    Without this, SIGHUP's default action kills the process at once: a coordinator's agents,
    in sessions of their own, would train on unattended with their trials still RUNNING.
    """

    def forward(_signum: int, _frame: FrameType | None) -> None:
        signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGHUP, forward)
