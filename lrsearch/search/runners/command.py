"""Command trials: the user's program in a child process group, reporting over the channel.

Per trial the worker starts ``command`` (in ``cwd``, with the spec's ``env`` added) in a new
session (its own process group), with the channel's socket and token in its environment and
none of the worker's database URL or API token. Its output goes to ``trial.log`` in the trial's
folder; its last ~2 KB are kept in the trial's user attribute ``log_tail``.

Stopping: a pruned (or diverged) child is told so by its report; one that keeps running gets
SIGTERM to its group after ``kill_grace_s``, and SIGKILL after as many again. When the worker
stops (SIGTERM, Ctrl-C, a lost lease) the group is killed. When the worker dies (SIGKILL) the
child gets SIGKILL from the kernel (PR_SET_PDEATHSIG, Linux), and every process that called
``lrsearch.trial.current()`` ends itself when its watch connection closes (ranks under
torchrun included).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch

from lrsearch.search.runners.backend import TrialBackend
from lrsearch.search.runners.base import RunResult
from lrsearch.search.runners.channel_server import ChannelServer
from lrsearch.search.signals import die_with_parent
from lrsearch.store import Outcome
from lrsearch.trial import SOCKET_ENV, TOKEN_ENV, Trial

LOG_NAME = "trial.log"
LOG_TAIL_ATTR = "log_tail"
LOG_TAIL_BYTES = 2048
POLL_S = 0.05
# Never handed to a child: the database and the API are the worker's, not the trial's.
WITHHELD_ENV = ("LRSEARCH_STORAGE_URL", "LRSEARCH_API_TOKEN", "LRSEARCH_URL")
THREADS_ENV = "OMP_NUM_THREADS"


@dataclass(frozen=True)
class CommandRunner:
    """Runs ``argv`` once per trial (see the module docstring)."""

    argv: Sequence[str]
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    kill_grace_s: float = 10.0
    cuda_devices: str | None = None  # CUDA_VISIBLE_DEVICES for the child, when the agent has GPUs
    to_terminal: bool = False  # `lrsearch run`: the output goes where the worker's goes

    def run(self, trial: Trial, backend: TrialBackend) -> RunResult:
        """Run the command for ``trial``; its reports go to ``backend``."""
        log_path = trial.workdir / LOG_NAME
        with ChannelServer(backend, trial.describe()) as server, log_path.open("ab") as log:
            child = self._start(server, log)
            try:
                code = self._serve(server, child, backend)
            finally:
                kill_group(child)
        tail = read_tail(log_path)
        result = outcome_of_exit(code, backend, trial.metric, tail)
        return RunResult(result.outcome, result.value, result.reason, {LOG_TAIL_ATTR: tail}, code)

    def child_env(self, server: ChannelServer) -> dict[str, str]:
        """The worker's environment without its secrets, the spec's env, and the channel."""
        env = {k: v for k, v in os.environ.items() if k not in WITHHELD_ENV}
        # The agent's share of the cores (set_thread_budget), unless the spec or the agent's
        # own environment says otherwise: local agents' trials must not oversubscribe them.
        env.setdefault(THREADS_ENV, str(torch.get_num_threads()))
        env.update(self.env)
        env[SOCKET_ENV], env[TOKEN_ENV] = server.path, server.token
        if self.cuda_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.cuda_devices
        return env

    def _start(self, server: ChannelServer, log: BinaryIO) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                list(self.argv),
                cwd=self.cwd or None,
                env=self.child_env(server),
                stdin=subprocess.DEVNULL,
                stdout=None if self.to_terminal else log,
                stderr=None if self.to_terminal else subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as one
                preexec_fn=die_with_parent(os.getpid()),
            )
        except OSError as exc:
            raise CommandError(f"cannot start {self.argv[0]!r}: {exc.strerror or exc}") from None

    def _serve(
        self, server: ChannelServer, child: subprocess.Popen[bytes], backend: TrialBackend
    ) -> int:
        """Answer the child until it exits; stop a child that outlives its prune decision."""
        stopped_at: float | None = None
        terminated = False
        while (code := child.poll()) is None:
            server.serve(POLL_S)
            if backend.stopped and stopped_at is None:
                stopped_at = time.monotonic()
            if stopped_at is None:
                continue
            waited = time.monotonic() - stopped_at
            if not terminated and waited >= self.kill_grace_s:
                signal_group(child, signal.SIGTERM)
                terminated = True
            elif terminated and waited >= 2 * self.kill_grace_s:
                signal_group(child, signal.SIGKILL)
        server.serve(0)  # a last report written just before exiting
        return code


class CommandError(Exception):
    """The command could not be started (no such program, not executable)."""


def outcome_of_exit(code: int, backend: TrialBackend, metric: str, tail: str) -> RunResult:
    """A finished child's outcome: diverged and pruned first, then its exit code and reports."""
    if backend.diverged is not None:
        return RunResult(Outcome.FAILED, reason="diverged")
    if backend.pruned:
        return RunResult(Outcome.PRUNED)
    if code != 0:
        return RunResult(Outcome.FAILED, reason=exit_reason(code, tail))
    if backend.last_value is None:
        return RunResult(Outcome.FAILED, reason=f"the command exited without reporting {metric}")
    return RunResult(Outcome.COMPLETE, backend.last_value)


def exit_reason(code: int, tail: str) -> str:
    """``the command exited with code 3: <the last lines of its output>``."""
    if code < 0:
        with contextlib.suppress(ValueError):
            head = f"the command was killed by {signal.Signals(-code).name}"
            return f"{head}: {_last_lines(tail)}" if tail.strip() else head
    head = f"the command exited with code {code}"
    return f"{head}: {_last_lines(tail)}" if tail.strip() else head


def _last_lines(text: str, limit: int = 400) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    shown = " | ".join(lines[-5:])
    return shown if len(shown) <= limit else "..." + shown[-limit:]


def read_tail(path: Path, size: int = LOG_TAIL_BYTES) -> str:
    """The last ``size`` bytes of a log, as text (a cut character is replaced)."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - size))
            return file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the child's whole process group (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def kill_group(child: subprocess.Popen[bytes], grace_s: float = 2.0) -> None:
    """End the child's group: SIGTERM while the child runs, SIGKILL for whatever is left."""
    if child.poll() is None:
        signal_group(child, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(grace_s)
    signal_group(child, signal.SIGKILL)  # stragglers of the group, even after the leader exited
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(grace_s)
