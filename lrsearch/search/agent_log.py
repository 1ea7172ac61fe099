"""An agent's log: one line when it claims a trial, one when the trial ends (its state and
value, or why it failed). ``lrsearch worker`` writes them to stderr (the local agents of
``lrsearch search`` to their worker-i.log), each with the time.

    2026-11-26 17:45:01 trial 3 of digits-demo claimed (attempt 1)
    2026-11-26 17:45:09 trial 3 of digits-demo complete: val_accuracy=0.9611 (cosine, sgd)
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from lrsearch.search.ledger import Outcome, RunningTrial

if TYPE_CHECKING:
    from lrsearch.search.failures import TrialError
    from lrsearch.search.objective import TrialOutcome

log = logging.getLogger("lrsearch.agent")
FORMAT = "%(asctime)s %(message)s"


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a line is logged (a test framework or a caller
    may have replaced the one there was when the handler was made)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(stream: object = None) -> None:
    """lrsearch's loggers at INFO on stderr (once per process); other libraries' stay quiet."""
    root = logging.getLogger("lrsearch")
    if any(getattr(h, "_lrsearch", False) for h in root.handlers):
        return
    handler: logging.Handler = _Stderr()
    if stream is not None:
        handler = logging.StreamHandler(stream)  # type: ignore[call-overload]
    handler.setFormatter(logging.Formatter(FORMAT, "%Y-%m-%d %H:%M:%S"))
    handler._lrsearch = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def claimed(run: RunningTrial) -> None:
    log.info("trial %d of %s claimed (attempt %d)", run.number, run.search.name, run.attempt)


def finished(
    run: RunningTrial, result: TrialOutcome | TrialError, outcome: Outcome, recorded: bool
) -> None:
    """The end of a trial; ``recorded`` False: its lease was reaped, the result dropped."""
    where = f"trial {run.number} of {run.search.name}"
    if not recorded:
        log.warning("%s ended but its lease was reaped meanwhile: dropped", where)
        return
    config = getattr(result, "config", None)
    what = f" ({config.schedule.family}, {config.optimizer})" if config is not None else ""
    value = getattr(result, "value", None)
    if outcome is Outcome.COMPLETE and value is not None:
        log.info("%s complete: %s=%.6g%s", where, run.search.metric, value, what)
    elif outcome is Outcome.FAILED:
        log.info("%s failed: %s%s", where, result.reason or "no reason given", what)
    else:
        log.info("%s %s%s", where, outcome.value, what)
