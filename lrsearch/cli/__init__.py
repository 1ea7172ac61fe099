"""The command line, the composition root: parses arguments, builds Settings once per command,
calls one service or search function.

Bad input exits with code 2 and one line on stderr (``lrsearch: error: <field>: <reason>``),
never a traceback. Commands import what they need when they run, so ``lrsearch serve`` and the
``lrsearch search`` coordinator never load torch (only the agents do).
"""

from __future__ import annotations

import sys

from lrsearch.cli import db, extras, manage, run, schedules, search, serve, studies, trial
from lrsearch.cli.app import app
from lrsearch.errors import (
    ConflictError,
    InvalidInputError,
    LRSearchError,
    MissingExtra,
    NotFoundError,
)

__all__ = [
    "app",
    "db",
    "extras",
    "main",
    "manage",
    "run",
    "schedules",
    "search",
    "serve",
    "studies",
    "trial",
]


def main() -> None:
    """Console-script entry point: one line and exit code 2 for bad input, and for a command
    whose optional dependencies (its extra) are not installed."""
    try:
        app()
    except MissingExtra as exc:  # the line says which extra to install
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    except ModuleNotFoundError as exc:
        missing = extras.missing_extra(exc)
        if missing is None:
            raise
        print(missing, file=sys.stderr)
        raise SystemExit(2) from None
    except (InvalidInputError, NotFoundError, ConflictError) as exc:
        print(f"lrsearch: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except LRSearchError as exc:
        print(f"lrsearch: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
