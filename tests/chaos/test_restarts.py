"""Restarts of a throwaway PostgreSQL cluster mid-search: a fast restart, an immediate-mode one
(no clean shutdown: crash recovery on start) and a 20 s outage, all ridden out by retries."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.chaos.chaosutil import Watch, fleet, small_spec, submit, wait_for
from tests.chaos.invariants import check_invariants
from tests.pgcluster import PgCluster

pytestmark = pytest.mark.slow

# Leases go stale after 10 s, so the 20 s outage may cost a reaped trial (run again); the
# agents retry the database for up to 90 s, so none gives up.
ENV = {
    "LRSEARCH_HEARTBEAT_S": "0.5",
    "LRSEARCH_STALE_AFTER_S": "10",
    "LRSEARCH_DB_RETRY_S": "90",
}
BUDGET = 24
# Trials of about a second each, so that a fast idle machine does not finish the budget
# before the last disruption (at 6 epochs the 18 trials took under 2 s and ended first).
EPOCHS = 40
OUTAGE_S = 20


def test_restarts_and_an_outage_cost_retries_not_the_budget(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    url = pg_cluster.url
    submit(url, small_spec("restarts", trials=BUDGET, epochs=EPOCHS, pruner="median"))
    watch = Watch(url)
    try:
        with fleet(url, tmp_path / "logs", study="restarts", env=ENV) as agents:
            agents.start()
            agents.start()
            done_at: list[int] = []
            for disrupt in (
                lambda: pg_cluster.restart("fast"),
                lambda: pg_cluster.restart("immediate"),
                lambda: _outage(pg_cluster),
            ):
                target = (done_at[-1] if done_at else 0) + 2
                wait_for(
                    lambda t=target: watch.search("restarts").finished >= t,  # type: ignore[misc]
                    240,
                    f"{target} trials finished",
                )
                finished = watch.search("restarts").finished
                assert finished < BUDGET, "the search ended before every disruption"
                watch.engine.dispose()  # its connections die with the server
                disrupt()
                done_at.append(finished)
            print("disruptions after", done_at, "finished trials")
            runs = agents.wait(timeout=240)
        assert any("database unreachable, retrying" in run.output for run in runs)
        check_invariants(url, runs, names=["restarts"])
    finally:
        watch.close()


def _outage(cluster: PgCluster) -> None:
    cluster.stop("fast")
    time.sleep(OUTAGE_S)
    cluster.start()
