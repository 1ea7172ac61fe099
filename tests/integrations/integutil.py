"""Helpers of tests/integrations: a reporter that records and prunes, and the schedule."""

from __future__ import annotations

from collections.abc import Mapping

from lrsearch.schedules import ScheduleSpec


class Recording:
    """Records each report; answers "prune" from report number ``prune_at`` (1-based) on."""

    def __init__(self, prune_at: int | None = None) -> None:
        self.seen: list[tuple[int, dict[str, float]]] = []
        self.prune_at = prune_at

    def report(self, step: int, metrics: Mapping[str, float]) -> bool:
        self.seen.append((step, dict(metrics)))
        return self.prune_at is not None and len(self.seen) >= self.prune_at

    @property
    def steps(self) -> list[int]:
        return [step for step, _ in self.seen]


# Warmup then cosine decay: every update gets a different LR.
SCHEDULE = ScheduleSpec.create("cosine", lr=0.2, warmup_fraction=0.25)
