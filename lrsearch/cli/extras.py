"""Which optional dependencies (extras of the package) a command needs, checked before it runs.

``pip install lrsearch`` is the core: search, agents, schedules and the CLI's reading commands.
The rest is opt-in: ``[server]`` (the HTTP API and its reports), ``[dashboard]``
(optuna-dashboard), ``[postgres]`` (psycopg), ``[tabular]`` (scikit-learn and pyarrow: the
digits data set and Parquet files), ``[plots]`` (matplotlib), ``[client]`` (httpx), ``[all]``.
A command without its extra says so in one line, exit code 2.
"""

from __future__ import annotations

import importlib.util
import sys

from lrsearch.errors import MissingExtra

# The modules (import names) each extra brings.
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("fastapi", "uvicorn", "fastapi_offline", "matplotlib"),
    "dashboard": ("optuna_dashboard",),
    "postgres": ("psycopg",),
    "tabular": ("sklearn", "pyarrow"),
    "plots": ("matplotlib",),
    "client": ("httpx",),
}
# A module found missing at run time -> the extra that brings it (the later, smaller one:
# matplotlib -> plots).
MODULE_EXTRA = {module: extra for extra in EXTRAS for module in EXTRAS[extra]} | {
    "starlette": "server"
}


def require(extra: str, command: str) -> None:
    """MissingExtra unless every module of ``extra`` can be imported."""
    if any(importlib.util.find_spec(module) is None for module in EXTRAS[extra]):
        raise MissingExtra(f"lrsearch {command}", extra)


def require_driver(storage_url: str, command: str) -> None:
    """A PostgreSQL URL needs psycopg (the ``postgres`` extra)."""
    if storage_url.startswith("postgresql") and importlib.util.find_spec("psycopg") is None:
        raise MissingExtra(f"lrsearch {command} on PostgreSQL", "postgres")


def missing_extra(exc: ModuleNotFoundError) -> MissingExtra | None:
    """The MissingExtra that a missing module of an extra means, else None (a real bug)."""
    top = (exc.name or "").partition(".")[0]
    extra = MODULE_EXTRA.get(top)
    return MissingExtra(f"lrsearch {command_name()}", extra) if extra else None


def command_name() -> str:
    """The command being run (``serve``, ``schedules plot``), from the command line."""
    words = [arg for arg in sys.argv[1:3] if not arg.startswith("-")]
    if words[:1] in (["schedules"], ["db"]):
        return " ".join(words[:2])
    return words[0] if words else ""
