"""Read endpoints over a finished search, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
import torch
from apiutil import FINISHED, FINISHED_SPEC
from fastapi.testclient import TestClient

from lrsearch import store
from lrsearch.schedules import ScheduleSpec, curve, family_names


def _study(url: str) -> optuna.Study:
    return optuna.load_study(study_name=FINISHED, storage=store.make_optuna_storage(url))


def _search(url: str) -> store.Search:
    engine = store.make_engine(url)
    try:
        return store.get_search(engine, FINISHED)
    finally:
        engine.dispose()


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_ready_is_503_without_a_schema(empty_sqlite: str) -> None:
    from apiutil import make_client

    with make_client(empty_sqlite) as fresh:
        assert fresh.get("/health").status_code == 200
        response = fresh.get("/ready")
    assert response.status_code == 503
    assert response.json()["message"].startswith("not ready: no database file at")


def test_families_list_every_family_with_its_parameters(client: TestClient) -> None:
    body = client.get("/v1/schedules").json()
    assert body["count"] == len(family_names())
    assert [f["family"] for f in body["data"]] == list(family_names())
    step = next(f for f in body["data"] if f["family"] == "step")
    assert {p["name"]: p["default"] for p in step["params"]} == {"interval": 0.3, "gamma": 0.1}
    assert step["params"][1]["allowed"] == "in (0, 1)"


def test_curve_renders_the_spec(client: TestClient) -> None:
    schedule = {"family": "cosine", "lr": 0.1, "params": {"final_ratio": 0.01}}
    body = client.post("/v1/schedules/curve", json={"schedule": schedule, "steps": 50}).json()
    expected = curve(ScheduleSpec.create("cosine", lr=0.1, params={"final_ratio": 0.01}), 50)
    assert body["lr"] == pytest.approx(expected.tolist(), rel=1e-12)
    assert body["schedule"]["params"] == {"final_ratio": 0.01}
    assert body["steps"] == 50


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule": {"family": "nope", "lr": 0.1}, "steps": 5}, "schedule.family"),
        ({"schedule": {"family": "step", "lr": 0.1, "params": {"gamma": 2}}, "steps": 5}, "gamma"),
        ({"schedule": {"family": "step", "lr": -1}, "steps": 5}, "schedule.lr"),
        ({"schedule": {"family": "step", "lr": 0.1}, "steps": 0}, "steps"),
        ({"schedule": {"family": "step", "lr": 0.1}, "steps": 10**7}, "steps"),
        ({"schedule": {"family": "step", "lr": 0.1, "color": 1}, "steps": 5}, "schedule.color"),
        ({"schedule": {"family": "step", "lr": 0.1}}, "steps"),
        (
            {"schedule": {"family": "cosine", "lr": 0.1, "warmup": {"fraction": 1}}, "steps": 5},
            "warmup",
        ),
    ],
)
def test_bad_curve_requests_name_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/schedules/curve", json=body)
    assert response.status_code == 422
    error = response.json()
    assert field in error["errors"][0]["field"]
    assert error["message"]


def test_malformed_json_is_a_422(client: TestClient) -> None:
    response = client.post(
        "/v1/schedules/curve", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["message"]


def test_studies_list_counts_and_best(client: TestClient, finished_url: str) -> None:
    body = client.get("/v1/studies").json()
    row = next(s for s in body["data"] if s["name"] == FINISHED)
    search, study = _search(finished_url), _study(finished_url)
    assert row["status"] == "done"
    assert row["task"] == "digits-mlp"
    assert (row["metric"], row["direction"]) == ("val_accuracy", "maximize")
    assert row["trial_budget"] == 9
    counts = row["counts"]
    assert counts["complete"] + counts["pruned"] + counts["failed"] == 9
    assert counts == {
        "complete": search.n_complete,
        "pruned": search.n_pruned,
        "failed": search.n_failed,
        "running": 0,
        "remaining": 0,
        "retried": 0,
    }
    assert row["best_value"] == pytest.approx(study.best_value)
    assert row["best_trial"] == study.best_trial.number
    assert body["count"] >= 1


def test_studies_pagination(finished_url: str, empty_sqlite: str) -> None:
    from apiutil import make_client

    from lrsearch.search.local import prepare_search
    from lrsearch.spec import parse_spec

    names = [f"page-{i}" for i in range(5)]
    for name in names:
        prepare_search(empty_sqlite, parse_spec({**FINISHED_SPEC, "name": name}))
    with make_client(empty_sqlite) as fresh:
        first = fresh.get("/v1/studies", params={"limit": 2}).json()
        rest = fresh.get("/v1/studies", params={"limit": 2, "offset": 2}).json()
        last = fresh.get("/v1/studies", params={"limit": 2, "offset": 4}).json()
        past = fresh.get("/v1/studies", params={"offset": 50}).json()
        bad = fresh.get("/v1/studies", params={"limit": 0})
    assert [s["name"] for s in first["data"] + rest["data"] + last["data"]] == names
    assert first["count"] == rest["count"] == past["count"] == 5
    assert past["data"] == []
    assert first["data"][0]["best_value"] is None
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "limit"


def test_one_study_and_404(client: TestClient) -> None:
    assert client.get(f"/v1/studies/{FINISHED}").json()["name"] == FINISHED
    missing = client.get("/v1/studies/nope")
    assert missing.status_code == 404
    assert missing.json()["message"] == "no study named 'nope'"


def test_trials_list_matches_optuna(client: TestClient, finished_url: str) -> None:
    body = client.get(f"/v1/studies/{FINISHED}/trials").json()
    trials = {t.number: t for t in _study(finished_url).get_trials()}
    assert body["count"] == len(trials) == 9
    assert [t["number"] for t in body["data"]] == sorted(trials)
    for row in body["data"]:
        trial = trials[row["number"]]
        assert row["state"] == trial.state.name.lower()  # one casing: lower, as statuses
        assert row["params"] == pytest.approx(trial.params)
        assert row["schedule"] == trial.user_attrs["schedule"]
        assert row["optimizer"] == "sgd"
        assert len(row["intermediate_values"]) == len(trial.intermediate_values)
        if trial.state.name == "COMPLETE":
            assert row["value"] == pytest.approx(trial.value)
            assert len(row["intermediate_values"]) == 3


@pytest.mark.parametrize(
    "state", ["COMPLETE", "PRUNED", "FAIL", "RUNNING", "complete", "pruned", "Fail", "running"]
)
def test_trials_filter_by_state(client: TestClient, finished_url: str, state: str) -> None:
    """Either casing is accepted (upper case was the only one before); states come back lower."""
    body = client.get(f"/v1/studies/{FINISHED}/trials", params={"state": state}).json()
    wanted = state.upper()
    expected = [t.number for t in _study(finished_url).get_trials() if t.state.name == wanted]
    assert [t["number"] for t in body["data"]] == expected
    assert body["count"] == len(expected)
    assert {t["state"] for t in body["data"]} <= {state.lower()}


def test_trials_pagination_and_bad_state(client: TestClient) -> None:
    page = client.get(f"/v1/studies/{FINISHED}/trials", params={"limit": 4, "offset": 6}).json()
    assert [t["number"] for t in page["data"]] == [6, 7, 8]
    assert page["count"] == 9
    bad = client.get(f"/v1/studies/{FINISHED}/trials", params={"state": "DONE"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "state"
    assert client.get("/v1/studies/nope/trials").status_code == 404


def test_one_trial_has_epochs_and_curve(client: TestClient, finished_url: str) -> None:
    trial = _study(finished_url).best_trial
    body = client.get(f"/v1/studies/{FINISHED}/trials/{trial.number}", params={"steps": 40}).json()
    assert body["number"] == trial.number
    assert body["state"] == "complete"
    assert [e["epoch"] for e in body["epochs"]] == [0, 1, 2]
    assert body["epochs"][-1]["value"] == pytest.approx(trial.value)
    assert body["intermediate_values"] == {
        str(k): pytest.approx(v) for k, v in trial.intermediate_values.items()
    }
    spec = ScheduleSpec.from_dict(trial.user_attrs["schedule"], complete=True)
    assert body["lr"] == pytest.approx(curve(spec, 40).tolist(), rel=1e-12)
    assert body["worker"]
    missing = client.get(f"/v1/studies/{FINISHED}/trials/999")
    assert missing.status_code == 404
    assert "no trial 999" in missing.json()["message"]
    assert client.get(f"/v1/studies/{FINISHED}/trials/-1").status_code == 422


def test_best_as_json_and_curve(client: TestClient, finished_url: str) -> None:
    best = _study(finished_url).best_trial
    body = client.get(f"/v1/studies/{FINISHED}/best").json()
    assert body["trial_number"] == best.number
    assert body["value"] == pytest.approx(best.value)
    assert body["schedule"] == best.user_attrs["schedule"]
    assert body["optimizer"] == "sgd"
    assert body["lr"] is None
    assert body["steps"] > 0
    curved = client.get(f"/v1/studies/{FINISHED}/best", params={"steps": 1234}).json()
    spec = ScheduleSpec.from_dict(body["schedule"], complete=True)
    assert curved["lr"] == pytest.approx(curve(spec, 1234).tolist(), rel=1e-12)


def test_best_as_pytorch_reproduces_the_curve(client: TestClient) -> None:
    body = client.get(f"/v1/studies/{FINISHED}/best").json()
    response = client.get(f"/v1/studies/{FINISHED}/best", params={"format": "pytorch"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/x-python")
    code = response.text
    imports = [line for line in code.splitlines() if line.startswith(("import ", "from "))]
    assert imports and not [line for line in imports if "lrsearch" in line]
    namespace: dict[str, Any] = {}
    exec(compile(code, "best.py", "exec"), namespace)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = namespace["make_scheduler"](optimizer, 300)
    seen = []
    for _ in range(300):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    spec = ScheduleSpec.from_dict(body["schedule"], complete=True)
    assert seen == pytest.approx(curve(spec, 300).tolist(), rel=1e-9)


def test_best_errors(client: TestClient, empty_sqlite: str) -> None:
    from apiutil import make_client

    from lrsearch.search.local import prepare_search
    from lrsearch.spec import parse_spec

    assert client.get("/v1/studies/nope/best").status_code == 404
    bad = client.get(f"/v1/studies/{FINISHED}/best", params={"format": "tf"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "format"
    prepare_search(empty_sqlite, parse_spec({**FINISHED_SPEC, "name": "queued"}))
    with make_client(empty_sqlite) as fresh:
        none_yet = fresh.get("/v1/studies/queued/best")
    assert none_yet.status_code == 404
    assert none_yet.json()["message"] == "study 'queued' has no complete trial yet"


def test_unknown_routes_and_methods_are_json(client: TestClient) -> None:
    missing = client.get("/v2/nothing")
    assert missing.status_code == 404
    assert missing.json()["message"]
    wrong = client.put("/v1/studies")
    assert wrong.status_code == 405
    assert wrong.json()["message"]


def test_openapi_lists_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/health",
        "/ready",
        "/v1/schedules",
        "/v1/schedules/curve",
        "/v1/studies",
        "/v1/studies/{name}",
        "/v1/studies/{name}/stop",
        "/v1/studies/{name}/trials",
        "/v1/studies/{name}/trials/{number}",
        "/v1/studies/{name}/best",
    }
    assert client.get("/docs").status_code == 200
