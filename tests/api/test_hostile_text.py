"""Text the database refuses (a NUL byte, an over-long column) never reads as "database down".

PostgreSQL rejects a NUL byte in any text parameter and enforces VARCHAR lengths; SQLite does
neither. Every path parameter and body string that reaches the database must get the same
answer on both: 404 for a name no study can have, 422 naming the field for a bad spec, never
503 (which probes read as an outage).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from apiutil import AUTH, FINISHED_SPEC, make_client
from fastapi.testclient import TestClient

from lrsearch.search.local import prepare_search
from lrsearch.spec import parse_spec

NAMES = ["a%00b", "%00", "a%01b", "x%20y", "%C3%A9", "a" * 129]
USER_TASK = {"task": "python:user_task:make_task", "metric": "m", "direction": "maximize"}
READS = ["", "/trials", "/trials/0", "/trials/0?steps=10", "/best", "/best?format=pytorch"]


@pytest.fixture
def api(db_url: str) -> Iterator[TestClient]:
    """The app over a fresh database (either backend) holding one queued search ``x``."""
    prepare_search(db_url, parse_spec({**FINISHED_SPEC, "name": "x"}))
    settings = {"allowed_task_modules": "user_task", "data_roots": "/tmp"}
    with make_client(db_url, **settings) as client:
        yield client


def test_names_no_study_can_have_are_404(api: TestClient) -> None:
    for name in NAMES:
        for path in [*READS, "/report"]:
            got = api.get(f"/v1/studies/{name}{path}")
            assert got.status_code in (404, 422), (name, path, got.status_code, got.text)
        assert api.post(f"/v1/studies/{name}/stop", headers=AUTH).status_code in (404, 422)
        assert api.delete(f"/v1/studies/{name}", headers=AUTH).status_code in (404, 422)
    got = api.get("/v1/studies/a%00b")
    assert got.status_code == 404 and got.json()["message"] == "no study named 'a\\x00b'"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"task": "digits-mlp\x00"}, "task"),
        ({"task": "python:user_task:" + "f" * 300}, "task"),
        ({**USER_TASK, "metric": "val\x00loss"}, "metric"),
        ({**USER_TASK, "metric": "m" * 65}, "metric"),
        ({"task_options": {"hidden\x00": 16}}, "task_options"),
        ({"task": "tabular", "task_options": {"path": "/tmp/a\x00", "target": "y"}}, "path"),
        ({"task": "tabular", "task_options": {"path": "/tmp/x.csv", "target": "y\x00"}}, "target"),
        (
            {
                "task": "python:user_task:make_task",
                "metric": "m",
                "direction": "maximize",
                "task_options": {"deep": [{"k": "v\x00"}]},
            },
            "task_options.deep.0.k",
        ),
    ],
)
def test_hostile_spec_strings_are_422_naming_the_field(
    api: TestClient, override: dict[str, Any], field: str
) -> None:
    spec = {**FINISHED_SPEC, "name": "fresh", **override}
    got = api.post("/v1/studies", json=spec, headers=AUTH)
    assert got.status_code == 422, got.text
    assert field in got.json()["errors"][0]["field"], got.text
    assert api.get("/v1/studies/fresh").status_code == 404  # nothing half-created
