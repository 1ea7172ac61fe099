"""Kill storm: 4 agents on PostgreSQL, SIGKILLed at random while they hold a lease, each one
replaced at once by a fresh agent, until the search is done (its baselines and confirmations
included). Then the shared invariants."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from tests.chaos.chaosutil import FAST_RECOVERY, Watch, describe, fleet, small_spec, submit
from tests.chaos.invariants import check_invariants

pytestmark = pytest.mark.slow

AGENTS = 4
KILLS = 10


def test_kill_storm(pg_url: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED", time.time_ns() % 1_000_000))
    print(f"kill storm seed: CHAOS_SEED={seed}")
    rng = random.Random(seed)
    confirm = {"top_k": 2, "seeds": 2}
    submit(pg_url, small_spec("storm", trials=24, epochs=5, confirm=confirm))
    watch = Watch(pg_url)
    try:
        with fleet(pg_url, tmp_path / "logs", study="storm", env=FAST_RECOVERY) as agents:
            for _ in range(AGENTS):
                agents.start()
            kills: list[tuple[float, int, int | None]] = []
            started = time.monotonic()
            next_kill = started + rng.uniform(0.2, 1.0)
            while len(kills) < KILLS and time.monotonic() < started + 240:
                if watch.search("storm").status == "done":
                    break
                alive = {a.pid: a for a in agents.alive()}
                holding = [(pid, n) for _, pid, n in watch.leases() if pid in alive]
                if holding and time.monotonic() >= next_kill:
                    pid, number = rng.choice(holding)
                    agents.kill(alive[pid])  # mid-claim, mid-ask or mid-trial
                    agents.start()
                    kills.append((round(time.monotonic() - started, 1), pid, number))
                    next_kill = time.monotonic() + rng.uniform(0.2, 1.0)
                time.sleep(0.05)
            print("kills (s, pid, trial):", kills)
            assert len(kills) >= KILLS, f"the search ended after {len(kills)} kills"
            runs = agents.wait(timeout=180)
        try:
            reports = check_invariants(pg_url, runs, names=["storm"])
        except AssertionError:
            print(describe(pg_url, "storm"))
            for run in runs:
                print(f"--- agent {run.pid} (killed: {run.killed})\n{run.output[-4000:]}")
            raise
        print(reports)
        assert reports[0].abandoned >= 1  # the storm did cost trials, and they ran again
    finally:
        watch.close()
