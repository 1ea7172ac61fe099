"""The LR range test as the service shows it: ``GET /v1/studies/{name}/lr-range``, the
report's section, and ``lrsearch best`` (its JSON and its line on stderr)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import optuna
import pytest
from apiutil import AUTH, TOKEN, make_client
from fastapi.testclient import TestClient

from lrsearch import store
from lrsearch.cli import main
from lrsearch.client import LRSearchClient
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec

SPEC = {
    "name": "ranged",
    "task": "digits-mlp",
    "task_options": {"hidden": 16},
    "budget": {"trials": 3, "epochs": 2},
    "search": {
        "sampler": "random",
        "seed": 2,
        "pruner": "none",
        "lr_range": "auto",
        "lr_range_seeds": 3,
        "lr_range_steps": 40,
    },
    "space": {"families": ["constant", "cosine"], "lr": [1e-5, 1.0], "optimizers": ["adamw"]},
    "baselines": False,
}


@pytest.fixture(scope="module")
def ranged_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('range') / 'lrsearch.db'}"
    prepare_search(url, parse_spec(SPEC))
    run_worker(url, "ranged", threads=1)
    return url


@pytest.fixture
def ranged(ranged_url: str) -> Iterator[TestClient]:
    with make_client(ranged_url) as client:
        yield client


@pytest.mark.slow
def test_the_range_and_its_curves_over_http(ranged: TestClient) -> None:
    answer = ranged.get("/v1/studies/ranged/lr-range")
    assert answer.status_code == 200
    body = answer.json()
    assert body["state"] == "done" and body["sweeps"] == body["ended"] == 3
    chosen = body["ranges"]["adamw"]
    assert 1e-5 <= chosen["low"] < chosen["high"] <= 1.0 and chosen["why"]
    assert [c["trial_number"] for c in body["curves"]] == [0, 1, 2]
    assert all(len(c["lr"]) == len(c["smoothed"]) > 0 for c in body["curves"])
    assert 0.0 < body["share"] < 1.0 and body["charge"] >= 1


@pytest.mark.slow
def test_the_client_reads_it(ranged: TestClient) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        answer = ranged.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    with LRSearchClient("http://testserver", TOKEN, transport=httpx.MockTransport(serve)) as c:
        shown = c.lr_range("ranged")
    assert shown == ranged.get("/v1/studies/ranged/lr-range").json()
    assert shown["ranges"]["adamw"]["low"] < shown["ranges"]["adamw"]["high"]


@pytest.mark.slow
def test_an_unknown_study_is_404(ranged: TestClient) -> None:
    answer = ranged.get("/v1/studies/nosuch/lr-range")
    assert answer.status_code == 404 and "nosuch" in answer.json()["message"]


@pytest.mark.slow
def test_the_report_shows_the_sweeps_and_says_why(ranged: TestClient) -> None:
    page = ranged.get("/v1/studies/ranged/report").text
    chosen = ranged.get("/v1/studies/ranged/lr-range").json()["ranges"]["adamw"]
    section = page[page.index("<h2>LR range test</h2>") :]
    assert "LR range test: smoothed loss per sweep" in section  # the curves' plot
    assert chosen["why"].split(":")[0] in section
    assert "charged as" in section


@pytest.mark.slow
def test_lrsearch_best_prints_the_range(
    ranged_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["lrsearch", "best", "ranged", "--storage", ranged_url])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    assert exit_.value.code == 0
    shown = json.loads(out)["lr_range"]
    assert shown["state"] == "done" and len(shown["curves"]) == 3
    low, high = shown["ranges"]["adamw"]["low"], shown["ranges"]["adamw"]["high"]
    assert f"LR range test: adamw [{low:.3g}, {high:.3g}]" in err


def test_a_search_without_a_range_test_says_off(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    prepare_search(url, parse_spec({**SPEC, "name": "plain", "search": {"sampler": "random"}}))
    with make_client(url) as client:
        body = client.get("/v1/studies/plain/lr-range").json()
    assert body == {"state": "off", "space_lr": [1e-5, 1.0]}


def test_submitted_over_http_the_sweeps_are_queued_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)  # as `lrsearch db upgrade` (the server refuses a missing database)
    with make_client(url) as client:
        created = client.post("/v1/studies", json={**SPEC, "name": "http"}, headers=AUTH)
        assert created.status_code == 201, created.text
        assert created.json()["trial_budget"] == 3 + 3  # the sweeps' slots, until charged
        shown = client.get("/v1/studies/http/lr-range").json()
        bad = client.post(
            "/v1/studies",
            json={**SPEC, "name": "bad", "space": {**SPEC["space"], "lr": [0.01, 0.1]}},
            headers=AUTH,
        )
    assert (shown["state"], shown["sweeps"], shown["ended"]) == ("sweeping", 3, 0)
    queued = optuna.load_study(study_name="http", storage=url).get_trials()
    assert [t.state.name for t in queued] == ["WAITING"] * 3
    assert [t.user_attrs["lr_sweep"]["optimizer"] for t in queued] == ["adamw"] * 3
    assert len({t.user_attrs["lr_sweep"]["seed"] for t in queued}) == 3
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "search.lr_range"
