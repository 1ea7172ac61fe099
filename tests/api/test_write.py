"""Submit, stop and delete over HTTP, and who may do it, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from apiutil import AUTH, FINISHED, FINISHED_SPEC, TOKEN, make_client
from fastapi.testclient import TestClient

from lrsearch import store
from lrsearch.search.worker import run_worker


def _spec(name: str, **overrides: Any) -> dict[str, Any]:
    # No baselines: they would run after these 2 trials (tests/search/test_baselines.py).
    spec = {**FINISHED_SPEC, "name": name, "budget": {"trials": 2, "epochs": 1}}
    return spec | {"baselines": False} | overrides


def _optuna_names(url: str) -> set[str]:
    storage = store.make_optuna_storage(url)
    return {s.study_name for s in storage.get_all_studies()}


def test_submit_then_agents_run_it(client: TestClient, finished_url: str, fresh_name: str) -> None:
    response = client.post("/v1/studies", json=_spec(fresh_name), headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/studies/{fresh_name}"
    assert client.get(response.headers["location"]).json() == response.json()
    created = response.json()
    assert (created["name"], created["status"], created["trial_budget"]) == (
        fresh_name,
        "queued",
        2,
    )
    assert (created["metric"], created["direction"]) == ("val_accuracy", "maximize")
    assert fresh_name in _optuna_names(finished_url)
    run_worker(finished_url, fresh_name, threads=1)  # an agent picks it up
    done = client.get(f"/v1/studies/{fresh_name}").json()
    assert done["status"] == "done"
    assert done["counts"]["complete"] + done["counts"]["pruned"] == 2
    assert client.get(f"/v1/studies/{fresh_name}/best").status_code == 200


def test_submit_duplicate_is_409(client: TestClient, fresh_name: str) -> None:
    assert client.post("/v1/studies", json=_spec(fresh_name), headers=AUTH).status_code == 201
    again = client.post("/v1/studies", json=_spec(fresh_name), headers=AUTH)
    assert again.status_code == 409
    assert again.json()["message"] == f"a study named {fresh_name!r} already exists"
    taken = client.post("/v1/studies", json=_spec(FINISHED), headers=AUTH)
    assert taken.status_code == 409


def test_submit_refuses_a_name_only_optuna_has(
    client: TestClient, finished_url: str, fresh_name: str
) -> None:
    optuna.create_study(study_name=fresh_name, storage=store.make_optuna_storage(finished_url))
    response = client.post("/v1/studies", json=_spec(fresh_name), headers=AUTH)
    assert response.status_code == 409
    assert "Optuna study" in response.json()["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"budget": {"trials": 0}}, "budget.trials"),
        ({"task": "imagenet"}, "task"),
        ({"metric": "bleu"}, "metric"),
        ({"space": {"families": ["cosine", "warp"]}}, "space.families"),
        ({"space": {"lr": [1.0, 0.1]}}, "space.lr"),
        ({"space": {"families": ["step"], "params": {"step": {"gamma": 3}}}}, "gamma"),
        ({"colour": "red"}, "colour"),
        ({"name": "bad name!"}, "name"),
        ({"name": None}, "name"),
    ],
)
def test_submit_bad_spec_names_the_field(
    client: TestClient, finished_url: str, change: dict[str, Any], field: str
) -> None:
    before = _optuna_names(finished_url)
    body = _spec("never") | change
    response = client.post("/v1/studies", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    error = response.json()
    assert field in error["errors"][0]["field"]
    assert field in error["message"] or field in error["errors"][0]["field"]
    assert _optuna_names(finished_url) == before  # nothing was created


def test_user_tasks_only_from_allowed_modules(finished_url: str, fresh_name: str) -> None:
    spec = _spec(fresh_name, task="python:user_task:make_task", task_options={})
    with make_client(finished_url) as closed:
        refused = closed.post("/v1/studies", json=spec, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "task"
    assert "not allowed" in refused.json()["message"]
    with make_client(finished_url, allowed_task_modules="user_task, other") as open_:
        no_metric = open_.post("/v1/studies", json=spec, headers=AUTH)
        named = spec | {"metric": "val_loss", "direction": "minimize"}
        accepted = open_.post("/v1/studies", json=named, headers=AUTH)
    assert no_metric.status_code == 422
    assert no_metric.json()["errors"][0]["field"] == "metric"
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["task"] == "python:user_task:make_task"


def test_writes_need_the_token(client: TestClient, fresh_name: str) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": TOKEN},
    ):
        response = client.post("/v1/studies", json=_spec(fresh_name), headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Bearer" in response.json()["message"]
        assert client.post(f"/v1/studies/{FINISHED}/stop", headers=headers).status_code == 401
        assert client.delete(f"/v1/studies/{FINISHED}", headers=headers).status_code == 401
    assert client.get(f"/v1/studies/{fresh_name}").status_code == 404  # nothing was created
    assert client.get("/v1/studies").status_code == 200  # reads are open by default


@pytest.mark.parametrize("token", ["", "changeme", "short", "please-changeme-before-deploying"])
def test_no_usable_token_disables_writes(finished_url: str, token: str) -> None:
    with make_client(finished_url, api_token=token) as weak:
        response = weak.post(
            "/v1/studies", json=_spec("x"), headers={"Authorization": f"Bearer {token}"}
        )
        reads = weak.get("/v1/studies")
    assert response.status_code == 403
    assert "writes are disabled" in response.json()["message"]
    assert reads.status_code == 200


def test_dev_mode_without_token_is_open(finished_url: str, fresh_name: str) -> None:
    with make_client(finished_url, api_token="", dev=True) as dev:
        assert dev.post("/v1/studies", json=_spec(fresh_name)).status_code == 201
        assert dev.post(f"/v1/studies/{fresh_name}/stop").status_code == 200


def test_protected_reads(finished_url: str) -> None:
    with make_client(finished_url, protect_reads=True) as guarded:
        assert guarded.get("/v1/studies").status_code == 401
        assert guarded.get(f"/v1/studies/{FINISHED}/best").status_code == 401
        assert guarded.get("/v1/schedules").status_code == 401
        assert guarded.get("/v1/studies", headers=AUTH).status_code == 200
        assert guarded.get("/health").status_code == 200  # probes stay open


def test_stop_then_delete(client: TestClient, finished_url: str, fresh_name: str) -> None:
    client.post("/v1/studies", json=_spec(fresh_name), headers=AUTH)
    busy = client.delete(f"/v1/studies/{fresh_name}", headers=AUTH)
    assert busy.status_code == 409
    assert "stop it" in busy.json()["message"]
    stopped = client.post(f"/v1/studies/{fresh_name}/stop", headers=AUTH)
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "done"  # nothing was running
    assert run_worker(finished_url, fresh_name, threads=1).complete == 0  # no more claims
    assert client.delete(f"/v1/studies/{fresh_name}", headers=AUTH).status_code == 204
    assert client.get(f"/v1/studies/{fresh_name}").status_code == 404
    assert fresh_name not in _optuna_names(finished_url)
    assert client.delete(f"/v1/studies/{fresh_name}", headers=AUTH).status_code == 404
    assert client.post("/v1/studies/nope/stop", headers=AUTH).status_code == 404
    # the name is free again
    assert client.post("/v1/studies", json=_spec(fresh_name), headers=AUTH).status_code == 201


def test_delete_removes_every_row(client: TestClient, finished_url: str, fresh_name: str) -> None:
    import sqlalchemy as sa

    client.post("/v1/studies", json=_spec(fresh_name), headers=AUTH)
    run_worker(finished_url, fresh_name, threads=1)
    engine = store.make_engine(finished_url)
    search_id = store.get_search(engine, fresh_name).id
    tables = ("lr_trials", "lr_epoch_metrics", "lr_best")

    def rows() -> list[int]:
        with engine.connect() as conn:
            return [
                conn.execute(
                    sa.text(f"SELECT count(*) FROM {t} WHERE search_id = :i"), {"i": search_id}
                ).scalar_one()
                for t in tables
            ]

    try:
        assert all(n > 0 for n in rows())
        assert client.delete(f"/v1/studies/{fresh_name}", headers=AUTH).status_code == 204
        assert rows() == [0, 0, 0]
    finally:
        engine.dispose()
    assert client.get(f"/v1/studies/{FINISHED}/best").status_code == 200  # others untouched
