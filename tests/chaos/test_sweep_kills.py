"""Agents SIGKILLed in the middle of an LR range test's sweeps, on PostgreSQL: each lost sweep
runs again as the same sweep, no searched trial starts before the range is known, and the
shared invariants hold (tests/chaos/invariants.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lrsearch import store
from lrsearch.space.lr_range import SWEEP_ATTR
from tests.chaos.chaosutil import FAST_RECOVERY, Watch, describe, fleet, small_spec, submit
from tests.chaos.invariants import check_invariants

pytestmark = pytest.mark.slow

AGENTS = 3
KILLS = 2


def test_agents_killed_mid_sweep(pg_url: str, tmp_path: Path) -> None:
    spec = small_spec("sweeps", trials=6, epochs=2)
    spec["search"].update(lr_range="auto", lr_range_seeds=2, lr_range_steps=600)
    spec["space"].update(lr=[1e-5, 1.0], optimizers=["sgd", "adamw"])
    search = submit(pg_url, spec)
    watch = Watch(pg_url)
    try:
        with fleet(pg_url, tmp_path / "logs", study="sweeps", env=FAST_RECOVERY) as agents:
            for _ in range(AGENTS):
                agents.start()
            kills: list[int] = []
            started = time.monotonic()
            while len(kills) < KILLS and time.monotonic() < started + 120:
                test = store.range_test(watch.engine, search.id, with_sweeps=False)
                if test is None or test.done:
                    break
                alive = {a.pid: a for a in agents.alive()}
                sweeping = [
                    (pid, n)
                    for _, pid, n in watch.leases(("running",))
                    if pid in alive and n is not None
                ]
                if sweeping:
                    time.sleep(0.3)  # mid-sweep: it has reported for a while
                    pid, number = sweeping[0]
                    if alive[pid].alive:
                        agents.kill(alive[pid])
                        agents.start()
                        kills.append(number)
                time.sleep(0.05)
            print("sweeps killed:", kills)
            assert len(kills) == KILLS, f"the range was known after {len(kills)} kills"
            runs = agents.wait(timeout=180)
        try:
            reports = check_invariants(pg_url, runs, names=["sweeps"])
        except AssertionError:
            print(describe(pg_url, "sweeps"))
            raise
        print(reports)
        trials = watch.trials("sweeps")
        lost = [t for t in trials if t.user_attrs.get("fail_reason") == "worker lost"]
        assert lost and all(SWEEP_ATTR in t.user_attrs for t in lost)  # sweeps, run again
    finally:
        watch.close()
