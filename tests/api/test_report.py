"""The report page: `lrsearch report` and GET /v1/studies/{name}/report, offline-ready HTML."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import optuna
from apiutil import AUTH, FINISHED, FINISHED_SPEC
from fastapi.testclient import TestClient

from lrsearch import store
from lrsearch.space.baselines import BASELINE_FAMILIES


def _check_page(page: str, url: str) -> None:
    study = optuna.load_study(study_name=FINISHED, storage=store.make_optuna_storage(url))
    assert page.startswith("<!doctype html>")
    for heading in (
        "Best schedule",
        "Top 5 schedules",
        "Validation curves",
        "Best trial per family",
        "Baselines: the classic schedules vs the tuned best",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("<svg") == 3  # best, top-k, validation curves: inline
    # Offline: nothing is fetched (no scripts, stylesheets, images or fonts from anywhere).
    assert not re.search(r"<script|<link|<img|@import|url\((?!#)", page)  # url(#id): in-page
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page
    rows = re.findall(r"<tr><td>([a-z_]+)</td><td>([0-9.e+-]+)</td><td>sgd</td><td>", page)
    assert [name for name, _ in rows] == list(BASELINE_FAMILIES)
    assert len({lr for _, lr in rows}) == 1  # all at the tuned best's peak LR
    searched = [t for t in study.trials if "baseline" not in t.user_attrs]
    complete = [t for t in searched if t.state.name == "COMPLETE"]
    if complete:
        tuned = max(complete, key=lambda t: t.value or 0.0)
        assert f"tuned best (trial {tuned.number})" in page
    assert f"Trial {study.best_trial.number}" in page


def test_report_over_http(client: TestClient, finished_url: str) -> None:
    response = client.get(f"/v1/studies/{FINISHED}/report", params={"steps": 500})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    _check_page(response.text, finished_url)
    assert "over 500 steps" in response.text
    assert client.get("/v1/studies/nope/report").status_code == 404
    assert client.get(f"/v1/studies/{FINISHED}/report", params={"top_k": 0}).status_code == 422


def test_report_before_any_trial(client: TestClient) -> None:
    name = "not-started"
    client.post("/v1/studies", json={**FINISHED_SPEC, "name": name}, headers=AUTH)
    page = client.get(f"/v1/studies/{name}/report").text
    assert "No trial has completed yet." in page
    assert "No searched trial has completed yet." in page


def test_report_command_writes_the_file(finished_url: str, tmp_path: Path) -> None:
    out = tmp_path / "r" / "report.html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lrsearch",
            "report",
            FINISHED,
            "--storage",
            finished_url,
            "-o",
            out,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    _check_page(out.read_text(encoding="utf-8"), finished_url)
    missing = subprocess.run(
        [sys.executable, "-m", "lrsearch", "report", "nope", "--storage", finished_url],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip() == "lrsearch: error: no study named 'nope'"
