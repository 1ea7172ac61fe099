"""The heartbeat thread: keeps this worker's leases alive and reaps dead workers' leases.

Every worker runs one. Every ``interval_s`` it refreshes the worker's leases and reaps leases
whose heartbeat is older than ``stale_after_s`` — so a SIGKILLed worker's trial is failed and
queued again within about ``stale_after_s + interval_s`` even while every other worker is busy
training. What reaping does is the ledger's (see ledger/reaping.py).
"""

from __future__ import annotations

import logging
import threading

from lrsearch.errors import LRSearchError
from lrsearch.search.ledger import TrialLedger
from lrsearch.store.retry import retryable_errors

log = logging.getLogger("lrsearch.recovery")


class Heartbeat(threading.Thread):
    """Beats for this worker's leases and reaps dead workers' leases, every ``interval_s``."""

    def __init__(self, ledger: TrialLedger, interval_s: float) -> None:
        super().__init__(name="lrsearch-heartbeat", daemon=True)
        self.ledger, self.interval_s = ledger, interval_s
        self._halt = threading.Event()

    def beat(self) -> None:
        """One beat: refresh, then reap."""
        self.ledger.beat()
        self.ledger.reap()

    def run(self) -> None:
        expected: tuple[type[BaseException], ...] = (LRSearchError, *retryable_errors())
        while not self._halt.wait(self.interval_s):
            try:
                self.beat()
            except expected as exc:
                log.warning("heartbeat failed (%s); next try in %.1f s", exc, self.interval_s)
            except Exception:  # the thread must outlive surprises; the worker logs them
                log.exception("heartbeat failed")

    def stop(self) -> None:
        """Stop beating (waits for a beat in progress)."""
        self._halt.set()
        self.join(timeout=self.interval_s + 5)
