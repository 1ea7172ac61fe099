"""One exception tree for lrsearch.

Every error a user can cause derives from :class:`LRSearchError`, so entry points (the CLI, the
HTTP service) translate exactly one type into an exit code or a 4xx response. Errors about bad
input also derive from :class:`ValueError`, so library users can catch them the usual way.

Signals that steer a worker (it was told to stop, its lease was reaped) are not errors and live
apart, under :class:`ControlFlow`, so ``except LRSearchError`` never swallows them.
"""

from __future__ import annotations


class LRSearchError(Exception):
    """Base of every error lrsearch raises on purpose."""


class InvalidInputError(LRSearchError, ValueError):
    """Input that fails validation. The message names the field, the value and the reason."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


class ScheduleError(InvalidInputError):
    """A schedule specification that is invalid: unknown family, bad parameter, bad range."""


class StoreError(LRSearchError):
    """The database is unreachable, missing, outdated or refused an operation; the message says
    which."""


class StoreUnavailable(StoreError):
    """The database did not answer (connection lost, server restarting, lock timeout): worth
    retrying, unlike a missing or outdated schema."""


class NotFoundError(LRSearchError):
    """A named thing (a study, a trial) does not exist."""


class ConflictError(LRSearchError):
    """A name that must be unique is taken."""


class MissingExtra(LRSearchError):
    """A feature needs an optional dependency (an extra of the package) that is not installed;
    the message names the extra and the pip command that installs it."""

    def __init__(self, needs: str, extra: str) -> None:
        self.extra = extra
        super().__init__(f"{needs} needs the {extra} extra: pip install 'lrsearch[{extra}]'")


class TrainingDiverged(LRSearchError):
    """The loss or the validation metric became NaN or infinite: the trial failed, "diverged"."""

    def __init__(self, epoch: int, what: str, value: float) -> None:
        self.epoch, self.what, self.value = epoch, what, value
        super().__init__(f"diverged at epoch {epoch}: {what} is {value}")


class ControlFlow(BaseException):
    """Base of the signals that steer a worker; not an error, and not an ``Exception``.

    A BaseException, like KeyboardInterrupt, because these are raised inside code that is not
    ours (a signal handler interrupts the user's training loop; a lost lease is noticed inside
    the trial's report): a user's ``except Exception`` must not swallow them, and neither may
    the worker's own "a bug in a user task fails the trial" handler.
    """


class WorkerStopped(ControlFlow):
    """The worker was asked to stop (SIGTERM/SIGINT): abandon the running trial, then exit."""


class LeaseLost(ControlFlow):
    """This worker's lease was reaped (it was presumed dead): drop the trial; it was re-queued."""
