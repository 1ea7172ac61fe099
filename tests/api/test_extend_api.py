"""``POST /v1/studies/{name}/extend`` and ``/retry`` over HTTP, on SQLite and PostgreSQL:
token-guarded writes, JSON errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from apiutil import AUTH, FINISHED_SPEC
from fastapi.testclient import TestClient

from lrsearch.search.worker import run_worker


def _spec(name: str) -> dict[str, Any]:
    budget = {"trials": 1, "epochs": 1}
    return {**FINISHED_SPEC, "name": name, "budget": budget, "baselines": False}


@pytest.mark.slow
def test_extend_a_finished_study_makes_it_live_again(
    client: TestClient, finished_url: str, fresh_name: str
) -> None:
    assert client.post("/v1/studies", json=_spec(fresh_name), headers=AUTH).status_code == 201
    run_worker(finished_url, fresh_name, threads=1)
    assert client.get(f"/v1/studies/{fresh_name}").json()["status"] == "done"

    response = client.post(f"/v1/studies/{fresh_name}/extend", json={"trials": 2}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["trial_budget"], body["counts"]["remaining"]) == (
        "running",
        3,
        2,
    )
    run_worker(finished_url, fresh_name, threads=1)
    done = client.get(f"/v1/studies/{fresh_name}").json()
    assert (done["status"], done["trial_budget"]) == ("done", 3)
    assert done["counts"]["complete"] + done["counts"]["pruned"] == 3


def test_extend_and_retry_errors(client: TestClient, fresh_name: str) -> None:
    assert client.post("/v1/studies", json=_spec(fresh_name), headers=AUTH).status_code == 201
    extend = f"/v1/studies/{fresh_name}/extend"
    assert client.post(extend, json={"trials": 2}).status_code == 401  # no token
    missing = client.post("/v1/studies/nope/extend", json={"trials": 2}, headers=AUTH)
    assert missing.status_code == 404 and missing.json()["message"] == "no study named 'nope'"
    for body, field in [
        ({"trials": 0}, "trials"),
        ({"trials": "5"}, "trials"),
        ({"trials": 2_000_000}, "trials"),
        ({}, "trials"),
        ({"trials": 2, "more": 1}, "more"),
    ]:
        refused = client.post(extend, json=body, headers=AUTH)
        assert refused.status_code == 422, (body, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == [field], body
    queued = client.post(extend, json={"trials": 4}, headers=AUTH).json()
    assert (queued["status"], queued["trial_budget"]) == ("queued", 5)

    retry = f"/v1/studies/{fresh_name}/retry"
    assert client.post(retry, json={"failed": True}).status_code == 401
    assert client.post(retry, json={"failed": False}, headers=AUTH).status_code == 422
    nothing = client.post(retry, json={"failed": True}, headers=AUTH)
    assert nothing.status_code == 200, nothing.text
    assert (nothing.json()["requeued"], nothing.json()["fresh"]) == ([], 0)
    assert nothing.json()["study"]["trial_budget"] == 5
    gone = client.post("/v1/studies/nope/retry", json={"failed": True}, headers=AUTH)
    assert gone.status_code == 404
