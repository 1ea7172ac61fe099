"""Over HTTP a client never chooses the code agents run: objectives from the allowed modules,
commands only by the name of a server-side template (service/policy.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from apiutil import AUTH, make_client

from lrsearch import store
from lrsearch.spec import parse_spec


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    engine = store.make_engine(url)
    store.ensure_current(engine)
    engine.dispose()
    return url


def _spec(name: str, **what: Any) -> dict[str, Any]:
    return {
        "name": name,
        "metric": "val_loss",
        "direction": "minimize",
        "budget": {"trials": 2, "steps": 10},
        **what,
    }


TEMPLATES = json.dumps(
    {"mnist": {"command": [sys.executable, "train.py"], "cwd": "/srv/jobs", "env": {"A": "1"}}}
)


def _error(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["errors"][0]["field"], body["message"]


def test_a_command_line_over_http_is_refused(url: str) -> None:
    with make_client(url, command_templates=TEMPLATES) as client:
        argv = client.post("/v1/studies", json=_spec("a", command=["sh", "-c", "id"]), headers=AUTH)
        unknown = client.post("/v1/studies", json=_spec("b", command="other"), headers=AUTH)
        env = client.post(
            "/v1/studies", json=_spec("c", command="mnist", env={"LD_PRELOAD": "x"}), headers=AUTH
        )
    status, field, message = _error(argv)
    assert (status, field) == (422, "command") and "command templates" in message
    assert "mnist" in message
    status, field, message = _error(unknown)
    assert (status, field) == (422, "command") and "'other' is not a command template" in message
    assert _error(env)[:2] == (422, "env")


def test_a_template_name_becomes_the_templates_command(url: str) -> None:
    with make_client(url, command_templates=TEMPLATES) as client:
        created = client.post("/v1/studies", json=_spec("m", command="mnist"), headers=AUTH)
    assert created.status_code == 201, created.text
    engine = store.make_engine(url)
    stored = parse_spec(store.get_search(engine, "m").spec)
    engine.dispose()
    assert stored.command == [sys.executable, "train.py"]
    assert (stored.cwd, stored.env) == ("/srv/jobs", {"A": "1"})


def test_objectives_only_from_the_allowed_modules(url: str) -> None:
    spec = _spec("o", objective="mypkg.train:fit")
    with make_client(url) as closed:
        refused = closed.post("/v1/studies", json=spec, headers=AUTH)
    status, field, message = _error(refused)
    assert (status, field) == (422, "objective") and "not allowed" in message
    with make_client(url, allowed_task_modules="mypkg.train") as open_:
        accepted = open_.post("/v1/studies", json=spec, headers=AUTH)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["task"] == "objective:mypkg.train:fit"


def test_objective_and_command_need_the_metric(url: str) -> None:
    spec = _spec("x", objective="mypkg.train:fit")
    del spec["metric"]
    with make_client(url, allowed_task_modules="mypkg.train") as client:
        response = client.post("/v1/studies", json=spec, headers=AUTH)
    assert _error(response)[:2] == (422, "metric")
