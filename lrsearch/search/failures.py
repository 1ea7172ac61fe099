"""A trial that raised: its one-line reason and a bounded tail of its traceback.

The reason is what the search keeps (``fail_reason``, the lease's reason, and the search's
``error`` when the same reason stops it); the traceback tail goes to the trial's user attribute
``fail_traceback``, where ``lrsearch search``, ``lrsearch trial`` and the API show it.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

REASON_CHARS = 500
TRACEBACK_LINES = 40
TRACEBACK_CHARS = 4000


@dataclass(frozen=True)
class TrialError:
    """Why a trial raised: ``reason`` (one line) and ``traceback`` (its last lines)."""

    reason: str
    traceback: str

    @property
    def attrs(self) -> dict[str, str]:
        """The trial's user attributes that record it."""
        return {"fail_reason": self.reason, "fail_traceback": self.traceback}


def describe(exc: BaseException) -> TrialError:
    """The reason and traceback tail of ``exc``; the same bug gives the same reason.

    >>> describe(ValueError("bad shape\\nmore")).reason
    'error: ValueError: bad shape'
    """
    first = str(exc).splitlines()[0] if str(exc) else ""
    reason = f"error: {type(exc).__name__}: {first}".rstrip(": ")[:REASON_CHARS]
    return TrialError(reason, traceback_tail(exc))


def traceback_tail(exc: BaseException) -> str:
    """The last lines of ``exc``'s formatted traceback, at most TRACEBACK_CHARS characters."""
    lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    tail = "\n".join(lines[-TRACEBACK_LINES:])
    return tail[-TRACEBACK_CHARS:]
