"""SIGSTOP: an agent paused past the stale window loses its trial to the reaper, which queues it
again for another agent; resumed, the paused agent drops the trial quietly and goes on."""

from __future__ import annotations

import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from lrsearch.store import Outcome
from lrsearch.store.models import LEASE_ACTIVE
from tests.chaos.chaosutil import (
    FAST_RECOVERY,
    Watch,
    describe,
    fleet,
    small_spec,
    submit,
    wait_for,
)
from tests.chaos.invariants import check_invariants

pytestmark = pytest.mark.slow

EVERY_LEASE = LEASE_ACTIVE + tuple(o.lease_status for o in Outcome)


def test_a_paused_agent_loses_its_lease_and_goes_on(pg_url: str, tmp_path: Path) -> None:
    # Trials of a few seconds each: the second agent's start-up (slow under load) must not let
    # the first finish the budget before the pause can catch it mid-trial.
    submit(pg_url, small_spec("paused", trials=24, epochs=40))
    watch = Watch(pg_url)
    rng = random.Random(0)
    try:
        with fleet(pg_url, tmp_path / "logs", study="paused", env=FAST_RECOVERY) as agents:
            victim, other = agents.start(), agents.start()
            wait_for(  # both are past their (slow) start-up: the victim has finished a trial
                lambda: (
                    victim.pid in {pid for _, pid, _ in watch.leases(("complete", "pruned"))}
                    and other.pid in {pid for _, pid, _ in watch.leases(EVERY_LEASE)}
                ),
                240,
                "both agents to start",
            )
            # Pause it while it trains a configured trial (one stopped before its parameters
            # were suggested has nothing to run again), and not inside a transaction (its row
            # locks would stall the other agent as long as it is stopped): retry until so.
            paused: tuple[int, int | None] | None = None
            for _ in range(300):
                os.kill(victim.pid, signal.SIGSTOP)
                time.sleep(0.1)
                running = [(i, n) for i, pid, n in watch.leases(("running",)) if pid == victim.pid]
                if (
                    running
                    and _configured(watch, running[0][1])
                    and watch.sessions_in_a_transaction() == 0
                ):
                    paused = running[0]
                    break
                os.kill(victim.pid, signal.SIGCONT)
                time.sleep(rng.uniform(0.05, 0.3))
            assert paused is not None, f"never caught mid-trial: {watch.search('paused')}"
            lease_id, number = paused
            try:
                wait_for(lambda: watch.lease(lease_id)[0] == "stale", 30, "the lease reaped")

                def rerun_complete() -> bool:
                    found = [
                        t for t in watch.trials("paused") if t.user_attrs.get("retry_of") == number
                    ]
                    return len(found) == 1 and found[0].state.name == "COMPLETE"

                wait_for(rerun_complete, 120, f"the re-run of trial {number} to complete")
            finally:
                os.kill(victim.pid, signal.SIGCONT)
            rerun = next(
                t for t in watch.trials("paused") if t.user_attrs.get("retry_of") == number
            )
            ran_it = [
                pid
                for _, pid, n in watch.leases(EVERY_LEASE)
                if n == rerun.number and pid != victim.pid
            ]
            assert ran_it == [other.pid]  # re-run elsewhere, while the victim was stopped
            runs = agents.wait(timeout=180)
        summary = re.search(r"worker done: .* (\d+) lost", runs[0].output)
        assert summary is not None and int(summary.group(1)) == 1, runs[0].output[-2000:]
        check_invariants(pg_url, runs, names=["paused"])
    except AssertionError:  # any failed check: the tables say which trial, and whose lease
        print(describe(pg_url, "paused"))
        raise
    finally:
        watch.close()


def _configured(watch: Watch, number: int | None) -> bool:
    """The trial is RUNNING with its parameters suggested (its ``config`` recorded)."""
    found = [t for t in watch.trials("paused") if t.number == number]
    return bool(found) and found[0].state.name == "RUNNING" and "config" in found[0].user_attrs
