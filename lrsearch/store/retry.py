"""Riding out a database that goes away for a while (a PostgreSQL restart, a failover).

Connections are pre-pinged at checkout; an operation that still meets a dead connection, or a
server that is not back yet, is retried with backoff until a deadline, so a restart costs
retries, not trials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from lrsearch.errors import StoreError

T = TypeVar("T")
log = logging.getLogger("lrsearch.store")

DEFAULT_DEADLINE_S = 180.0


def retryable_errors() -> tuple[type[BaseException], ...]:
    import optuna

    return (
        StoreError,
        sa.exc.OperationalError,
        sa.exc.InterfaceError,
        optuna.exceptions.StorageInternalError,
    )


def retrying(fn: Callable[[], T], what: str, deadline_s: float = DEFAULT_DEADLINE_S) -> T:
    """Call ``fn`` until it succeeds or ``deadline_s`` passes; database errors are retried."""
    retryable = retryable_errors()
    deadline = time.monotonic() + deadline_s
    delay = 0.2
    while True:
        try:
            return fn()
        except retryable as exc:
            if time.monotonic() + delay > deadline:
                raise StoreError(f"{what}: the database did not come back: {exc}") from exc
            log.warning("%s failed (%s); retrying in %.1f s", what, _short(exc), delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
