"""optuna-dashboard's importance panel on a study whose finished trials are all baselines.

Baselines carry no Optuna parameters; optuna-dashboard's /api/studies/{id}/param_importances
then divides by zero (a 500 on every poll of the panel). lrsearch's wrapper (the app that
`lrsearch dashboard` serves) answers empty importances instead, and leaves every other answer
of the real optuna-dashboard app as it is.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

from lrsearch import store
from lrsearch.dashboard import dashboard_app
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.space import baseline_attrs, baseline_configs
from lrsearch.spec import parse_spec


def _get(app: Any, path: str) -> tuple[str, Any]:
    path, _, query = path.partition("?")
    environ: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    environ["wsgi.errors"] = io.StringIO()
    seen: list[str] = []
    body = b"".join(app(environ, lambda status, headers, *_: seen.append(status)))
    return seen[0], json.loads(body) if body.startswith((b"{", b"[")) else body


@pytest.fixture
def baselines_only(sqlite_url: str, make_spec: Any) -> Iterator[tuple[Any, int]]:
    """A study whose two finished trials are baselines (no params), and its dashboard app."""
    spec = parse_spec(make_spec(name="base", budget={"trials": 2, "epochs": 1}))
    prepare_search(sqlite_url, spec)
    storage = store.make_optuna_storage(sqlite_url)
    study = optuna.load_study(study_name="base", storage=storage)
    # Baselines run after a search's own trials; queued first here, they are all it runs.
    for name, config in baseline_configs(parse_spec(make_spec(baselines=True)))[:2]:
        study.enqueue_trial({}, user_attrs=baseline_attrs(name, config))
    run_worker(sqlite_url, "base", threads=1)
    study_id = storage.get_study_id_from_name("base")
    trials = storage.get_all_trials(study_id)
    assert [(t.state.name, t.params) for t in trials] == [("COMPLETE", {})] * 2
    yield dashboard_app(storage), study_id
    storage.engine.dispose()


def test_importances_of_a_baselines_only_study_are_empty(baselines_only: tuple[Any, int]) -> None:
    app, study_id = baselines_only
    status, body = _get(app, f"/api/studies/{study_id}/param_importances")
    assert status == "200 OK", body
    assert body == {"param_importances": [[]]}


def test_other_answers_are_the_dashboards(baselines_only: tuple[Any, int]) -> None:
    app, study_id = baselines_only
    status, body = _get(app, f"/api/studies/{study_id}?after=0")
    assert status == "200 OK" and body["name"] == "base"
    status, _ = _get(app, "/api/studies/999/param_importances")
    assert status.startswith("404")
