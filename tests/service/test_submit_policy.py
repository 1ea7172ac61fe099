"""POST /v1/studies under the server's policy: data roots, allowed modules, all or nothing.

The real app over an in-memory database (svcutil.memory_client): no file, no server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from svcutil import AUTH, memory_backend, memory_client

from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError
from lrsearch.service import SubmitPolicy, create_search, inside_data_roots
from lrsearch.spec import parse_spec

CSV = "x1,x2,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))


def _tabular(path: str, name: str = "tab") -> dict[str, Any]:
    return {
        "name": name,
        "task": "tabular",
        "task_options": {"path": path, "target": "y"},
        "budget": {"trials": 2, "epochs": 1},
    }


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.csv").write_text(CSV)
    (tmp_path / "secret.csv").write_text("password,y\nhunter2,1\n")
    os.symlink(tmp_path / "secret.csv", root / "link.csv")  # inside the root, pointing out
    return root


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "../../secret.csv", "../secret.csv", "/proc/self/environ", "link.csv"],
)
def test_files_outside_the_data_roots_are_refused(data_root: Path, path: str) -> None:
    with memory_client(data_roots=str(data_root)) as client:
        response = client.post("/v1/studies", json=_tabular(path), headers=AUTH)
        assert client.get("/v1/studies").json()["count"] == 0  # nothing was created
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["errors"][0]["field"] == "task_options.path"
    assert str(data_root) in body["message"]  # which roots the server allows
    assert "hunter2" not in response.text and "root:" not in response.text


def test_a_file_inside_a_root_is_accepted_and_stored_resolved(data_root: Path) -> None:
    with memory_client(data_roots=f"{data_root}, /nonexistent") as client:
        relative = client.post("/v1/studies", json=_tabular("sub/ok.csv"), headers=AUTH)
        absolute = _tabular(str(data_root / "sub" / ".." / "sub" / "ok.csv"), name="abs")
        created = client.post("/v1/studies", json=absolute, headers=AUTH)
    assert relative.status_code == 201, relative.text
    assert created.status_code == 201, created.text
    assert relative.json()["task"] == "tabular"


def test_without_data_roots_no_file_is_allowed(data_root: Path) -> None:
    with memory_client() as client:
        response = client.post(
            "/v1/studies", json=_tabular(str(data_root / "sub" / "ok.csv")), headers=AUTH
        )
        plain = client.post(
            "/v1/studies", json={"name": "digits", "task": "digits-mlp"}, headers=AUTH
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "task_options.path"
    assert "allows no data files" in response.json()["message"]
    assert plain.status_code == 201  # tasks without files are not affected


def test_inside_data_roots_resolves_relative_paths_in_the_first_root(data_root: Path) -> None:
    real = os.path.realpath(data_root / "sub" / "ok.csv")
    assert inside_data_roots("f", "sub/ok.csv", (str(data_root),)) == real
    with pytest.raises(ValueError, match="data roots"):
        inside_data_roots("f", str(data_root), (str(data_root),))  # the root itself


def test_python_tasks_only_from_allowed_modules() -> None:
    spec = {"name": "u", "task": "python:user_task:make_task"}
    with memory_client() as closed:
        refused = closed.post("/v1/studies", json=spec, headers=AUTH)
    with memory_client(allowed_task_modules="user_task") as open_:
        unnamed = open_.post("/v1/studies", json=spec, headers=AUTH)
        named = spec | {"metric": "val_loss", "direction": "minimize"}
        accepted = open_.post("/v1/studies", json=named, headers=AUTH)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "task"
    assert unnamed.status_code == 422 and unnamed.json()["errors"][0]["field"] == "metric"
    assert accepted.status_code == 201, accepted.text


def test_deeply_nested_task_options_are_422_and_leave_nothing() -> None:
    spec = {
        "name": "deep",
        "task": "python:user_task:make_task",
        "metric": "val_loss",
        "direction": "minimize",
    }
    nested = '[{"a": ' * 300 + "1" + "}]" * 300  # 600 levels: parsed, then refused
    body = json.dumps(spec)[:-1] + f', "task_options": {{"x": {nested}}}}}'
    headers = AUTH | {"Content-Type": "application/json"}
    with memory_client(allowed_task_modules="user_task") as client:
        response = client.post("/v1/studies", content=body, headers=headers)
        assert client.get("/v1/studies/deep").status_code == 404
        retry = client.post("/v1/studies", json=spec | {"task_options": {}}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "task_options"
    assert "32 levels" in response.json()["message"]
    assert retry.status_code == 201  # the name was not burned


@pytest.mark.parametrize("breaks", ["notes", "row"])
def test_a_failure_after_the_optuna_study_exists_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch, breaks: str
) -> None:
    from lrsearch import store
    from lrsearch.service import notes

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"the {breaks} could not be saved")

    spec = parse_spec({"name": "atomic", "task": "digits-mlp", "budget": {"trials": 2}})
    policy = SubmitPolicy.http(Settings())
    with memory_backend() as backend:
        with monkeypatch.context() as patch:
            patch.setattr(
                *((notes, "save") if breaks == "notes" else (store, "create_search")), broken
            )
            with pytest.raises(RuntimeError, match="could not be saved"):
                create_search(backend, spec, policy, resume=False)
        assert backend.optuna_storage().get_all_studies() == []
        assert store.find_search(backend.reader, "atomic") is None
        assert create_search(backend, spec, policy, resume=False).name == "atomic"


def test_a_thousand_levels_are_refused_at_parse_time() -> None:
    nested: Any = 1
    for _ in range(1000):  # deeper than json.dumps (and so the database) could store
        nested = {"a": nested}
    with pytest.raises(InvalidInputError) as caught:
        parse_spec({"name": "deep", "task": "python:m:f", "task_options": {"x": nested}})
    assert caught.value.field == "task_options"
