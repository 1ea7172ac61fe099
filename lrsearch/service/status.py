"""One study's state for ``lrsearch status``: progress, failures with reasons, trials in flight.

A fixed number of indexed queries on lrsearch's tables, whatever the study's size: the search
and its best, its failed trials grouped by reason, its active leases (each with the agent, a
``host:pid``, that holds it).
"""

from __future__ import annotations

from dataclasses import dataclass

from lrsearch import store
from lrsearch.service.backend import Backend
from lrsearch.service.names import known_name


@dataclass(frozen=True)
class StudyStatus:
    """What ``lrsearch status NAME`` shows."""

    summary: store.SearchSummary
    failures: list[store.FailureGroup]  # by reason, most frequent first
    running: list[store.RunningLease]  # trials in flight and their agents

    @property
    def search(self) -> store.Search:
        return self.summary.search


def study_status(backend: Backend, name: str) -> StudyStatus:
    """Progress, failures (grouped by reason) and running trials of study ``name``;
    NotFoundError if there is none."""
    summary = store.search_summary(backend.reader, known_name(name))
    search_id = summary.search.id
    return StudyStatus(
        summary,
        store.failure_groups(backend.reader, search_id),
        store.running_leases(backend.reader, search_id),
    )
