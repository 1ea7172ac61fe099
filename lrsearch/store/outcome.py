"""How a trial ended, in one vocabulary: lease statuses, Optuna states and counters derive from it.

This is the one mapping between lrsearch's words for a trial's end and everybody else's: the
status its lease row keeps, the counter of ``lr_searches`` it adds to, and the Optuna
``TrialState`` its trial gets. Nothing else in lrsearch maps one to another.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.trial import TrialState


class Outcome(StrEnum):
    """The end of one attempt at a trial."""

    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"
    # Abandoned by its own worker (SIGTERM, Ctrl-C): the slot goes back, the same parameters
    # are queued again, and it does not count as an attempt.
    INTERRUPTED = "interrupted"
    # Its worker was presumed dead (reaped): the slot goes back, the same parameters are queued
    # again as the next attempt.
    LOST = "lost"

    @property
    def final(self) -> bool:
        """Whether the trial used its slot of the budget for good."""
        return self in (Outcome.COMPLETE, Outcome.PRUNED, Outcome.FAILED)

    @property
    def lease_status(self) -> str:
        """The status of the closed lease row (``lr_trials.status``)."""
        return _LEASE_STATUS[self]

    @property
    def counter(self) -> str:
        """The ``lr_searches`` counter this outcome adds one to."""
        return _COUNTER[self]

    @property
    def next_attempt(self) -> int:
        """How much the attempt number grows when the parameters run again."""
        return 1 if self is Outcome.LOST else 0

    @property
    def state_name(self) -> str:
        """The name of the Optuna state of the trial that ended so (the API's trial state)."""
        return {Outcome.COMPLETE: "COMPLETE", Outcome.PRUNED: "PRUNED"}.get(self, "FAIL")

    @property
    def trial_state(self) -> TrialState:
        """The Optuna state of the trial that ended so."""
        from optuna.trial import TrialState

        return TrialState[self.state_name]

    @classmethod
    def of_lease_status(cls, status: str) -> Outcome:
        """The outcome a closed lease row records."""
        return next(outcome for outcome, kept in _LEASE_STATUS.items() if kept == status)

    @classmethod
    def of_finished_state(cls, state: TrialState) -> Outcome:
        """The final outcome of a finished Optuna trial (a FAIL counts as failed)."""
        return next(o for o in (cls.COMPLETE, cls.PRUNED, cls.FAILED) if o.trial_state == state)


_LEASE_STATUS = {
    Outcome.COMPLETE: "complete",
    Outcome.PRUNED: "pruned",
    Outcome.FAILED: "failed",
    Outcome.INTERRUPTED: "released",
    Outcome.LOST: "stale",
}
_COUNTER = {
    Outcome.COMPLETE: "n_complete",
    Outcome.PRUNED: "n_pruned",
    Outcome.FAILED: "n_failed",
    Outcome.INTERRUPTED: "n_retried",
    Outcome.LOST: "n_retried",
}
