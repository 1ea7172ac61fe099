"""Every time the API returns is UTC with its offset (RFC 3339), whatever the zone of the
processes that wrote it: Optuna stores trial times as naive local times, PostgreSQL hands back
lrsearch's own in its session's zone. The search here runs with TZ (and PGTZ, the session zone)
set to Asia/Kolkata, UTC+05:30 all year, so a time left local or naive is 5.5 hours off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apiutil import make_client

from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec

ZONE = "Asia/Kolkata"


@pytest.fixture
def far_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", ZONE)
    monkeypatch.setenv("PGTZ", ZONE)
    time.tzset()
    assert datetime.now().astimezone().utcoffset() == timedelta(hours=5, minutes=30)
    yield
    monkeypatch.undo()
    time.tzset()


def _utc(text: str | None, low: datetime, high: datetime) -> None:
    assert text is not None
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(0), text
    assert text.endswith(("Z", "+00:00")), text
    assert low - timedelta(seconds=1) <= moment <= high + timedelta(seconds=1), (text, low, high)


def test_every_time_is_utc(db_url: str, far_zone: None, make_spec: object) -> None:
    spec = make_spec(name="tz", budget={"trials": 2, "epochs": 1})  # type: ignore[operator]
    low = datetime.now(UTC)
    prepare_search(db_url, parse_spec(spec))
    run_worker(db_url, "tz", threads=1)
    high = datetime.now(UTC)
    with make_client(db_url) as client:
        study = client.get("/v1/studies/tz").json()
        (listed,) = client.get("/v1/studies").json()["data"]
        trials = client.get("/v1/studies/tz/trials").json()["data"]
        detail = client.get("/v1/studies/tz/trials/0").json()
        best = client.get("/v1/studies/tz/best").json()
    for shown in (study, listed):
        _utc(shown["created_at"], low, high)
        _utc(shown["updated_at"], low, high)
    assert len(trials) == 2
    for trial in [*trials, detail]:
        _utc(trial["started_at"], low, high)
        _utc(trial["completed_at"], low, high)
    _utc(best["updated_at"], low, high)
