"""The confirmed best over HTTP, in the client, in `lrsearch best` and in the report.

A search whose best single trial was a lucky seed: trial 0 scored 0.9, but its config scores
about 0.71 on fresh seeds, while trial 1's (0.8) holds at 0.80. The confirmed best is trial 1's
config, with its mean, standard deviation, n, 95% interval and probability of being the best.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import optuna
import pytest
from apiutil import TOKEN, make_client
from fastapi.testclient import TestClient

from lrsearch import store
from lrsearch.cli import main
from lrsearch.client import LRSearchClient
from lrsearch.config import Settings
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.ledger import TrialLedger
from lrsearch.search.local import prepare_search
from lrsearch.spec import parse_spec
from lrsearch.store import Outcome

NAME = "confirmed"
SEARCHED = [0.9, 0.8, 0.5]  # maximize: trials 0 and 1 lead
FRESH = {0: [0.70, 0.72, 0.71], 1: [0.79, 0.80, 0.81]}
T2 = 4.302653  # t(0.975, 2)


def _config(number: int) -> dict[str, Any]:
    return {
        "schedule": ScheduleSpec.create("cosine", 0.01 * (number + 1)).to_dict(),
        "optimizer": "sgd",
        "optimizer_params": {"momentum": 0.9},
        "seed": 40 + number,
    }


def _one(ledger: TrialLedger, study: optuna.Study) -> Any:
    search = ledger.find(NAME)
    assert search is not None
    lease = ledger.claim(search, "w")
    assert lease is not None
    run = ledger.start(search, study, lease, ledger.ask(study, lease))
    assert run is not None
    return run


def _configured(ledger: TrialLedger, run: Any, config: dict[str, Any]) -> None:
    """The attributes a worker sets on a trial it configures (search/objective.py)."""
    ledger.set_attrs(run, {"schedule": config["schedule"], "config": config})


@pytest.fixture
def confirmed_url(db_url: str) -> str:
    """The search above, its trials recorded through the ledger (no training)."""
    spec = {
        "name": NAME,
        "task": "digits-mlp",
        "budget": {"trials": 3, "epochs": 2},
        "search": {"sampler": "random", "pruner": "none", "confirm": {"top_k": 2, "seeds": 3}},
        "space": {"families": ["cosine"], "lr": [0.001, 0.1], "optimizers": ["sgd"]},
        "baselines": False,
    }
    prepare_search(db_url, parse_spec(spec))
    ledger = TrialLedger(Settings(storage_url=db_url))
    study = optuna.load_study(study_name=NAME, storage=store.make_optuna_storage(db_url))
    try:
        for number, value in enumerate(SEARCHED):
            run = _one(ledger, study)
            _configured(ledger, run, _config(number))
            assert ledger.finish(run, Outcome.COMPLETE, value=value, config=_config(number))
        for _ in range(6):
            run = _one(ledger, study)
            confirms, repeat = run.user_attrs["confirms"], run.user_attrs["confirm_seed"]
            value = FRESH[confirms][repeat]
            config = run.user_attrs["confirm_config"]
            _configured(ledger, run, config)
            assert ledger.finish(run, Outcome.COMPLETE, value=value, config=config)
    finally:
        ledger.close()
    return db_url


@pytest.fixture
def client(confirmed_url: str) -> Iterator[TestClient]:
    with make_client(confirmed_url) as test_client:
        yield test_client


def _check_best(best: dict[str, Any]) -> None:
    assert (best["trial_number"], best["value"]) == (1, 0.8)  # trial 1's config ...
    assert best["schedule"] == _config(1)["schedule"] and best["seed"] == 41
    assert best["single_best"] == {"trial_number": 0, "value": 0.9}  # ... not the lucky one
    confirmed = best["confirmed"]
    assert (confirmed["n"], confirmed["values"]) == (3, FRESH[1])
    assert confirmed["mean"] == pytest.approx(0.80)
    assert confirmed["std"] == pytest.approx(0.01)
    half = T2 * 0.01 / math.sqrt(3)
    assert confirmed["interval"] == pytest.approx([0.80 - half, 0.80 + half])
    assert confirmed["p_best"] > 0.99
    confirmation = best["confirmation"]
    assert (confirmation["done"], confirmation["top_k"], confirmation["seeds"]) == (True, 2, 3)
    assert confirmation["winner"] == 1
    assert [c["trial_number"] for c in confirmation["configs"]] == [1, 0]
    loser = confirmation["configs"][1]
    assert (loser["trial_value"], loser["mean"]) == (0.9, pytest.approx(0.71))
    assert loser["p_best"] == pytest.approx(1 - confirmed["p_best"])


def test_best_over_http_is_the_best_mean(client: TestClient) -> None:
    response = client.get(f"/v1/studies/{NAME}/best")
    assert response.status_code == 200, response.text
    _check_best(response.json())
    code = client.get(f"/v1/studies/{NAME}/best", params={"format": "pytorch"}).text
    assert "= 0.8 ± 0.01 (mean ± std over 3 fresh seeds" in code
    trials = client.get(f"/v1/studies/{NAME}/trials").json()["data"]
    assert [t["confirms"] for t in trials] == [None, None, None, 0, 0, 0, 1, 1, 1]


def test_the_client_gives_the_confirmed_statistics(client: TestClient) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        answer = client.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    with LRSearchClient("http://testserver", TOKEN, transport=httpx.MockTransport(serve)) as api:
        best = api.best(NAME)
    assert best.trial_number == 1 and best.confirmed is not None
    assert (best.confirmed.n, best.confirmed.values) == (3, tuple(FRESH[1]))
    assert best.confirmed.mean == pytest.approx(0.8)
    assert best.confirmed.std == pytest.approx(0.01)
    assert best.confirmed.interval is not None
    assert best.confirmed.interval[0] < 0.8 < best.confirmed.interval[1]
    assert best.confirmed.p_best is not None and best.confirmed.p_best > 0.99
    assert best.confirmation is not None and best.confirmation["winner"] == 1


def test_the_report_shows_the_confirmation(client: TestClient) -> None:
    page = client.get(f"/v1/studies/{NAME}/report").text
    assert "Best schedule (confirmed)" in page
    assert "The config of trial 1" in page and "over 3 fresh seeds" in page
    assert "It replaces the best single trial, 0 (0.9)" in page
    assert "Confirmation: the top 2 configs on fresh seeds" in page
    assert "<td>1 (best)</td>" in page


def test_lrsearch_best_prints_the_confirmed_best(
    confirmed_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    monkeypatch.setattr(sys, "argv", ["lrsearch", "best", NAME, "--storage", confirmed_url])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    assert exit_.value.code == 0
    _check_best(json.loads(out))
    assert err.startswith(f"best of {NAME!r}: val_accuracy = 0.8 ± 0.01 (mean ± std over 3 fresh")
    assert "best of the 2 confirmed with probability" in err
    assert "the config of trial 1 (0.8 on its own seed)" in err
