"""The Python client over the real app: settings from the environment, trial pages, waiting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from apiutil import FINISHED, TOKEN
from fastapi.testclient import TestClient

from lrsearch.client import LRSearchClient


@pytest.fixture
def api(client: TestClient) -> Iterator[LRSearchClient]:
    """The client, its requests served by the app over the finished search."""

    def serve(request: httpx.Request) -> httpx.Response:
        # The test client may speak another HTTP library (starlette picks httpx2 when it is
        # installed, as huggingface_hub brings it): hand it the request's parts, not the object.
        answer = client.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    with LRSearchClient("http://testserver", TOKEN, transport=httpx.MockTransport(serve)) as c:
        yield c


def test_url_and_token_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRSEARCH_URL", "http://lrsearch.internal:9000/")
    monkeypatch.setenv("LRSEARCH_API_TOKEN", "from-the-env-0123456789")
    with LRSearchClient() as client:
        assert str(client._http.base_url) == "http://lrsearch.internal:9000"
        assert client._http.headers["authorization"] == "Bearer from-the-env-0123456789"
    with LRSearchClient("http://given:1", "given-token-0123456789") as client:
        assert str(client._http.base_url) == "http://given:1"
        assert client._http.headers["authorization"] == "Bearer given-token-0123456789"
    monkeypatch.delenv("LRSEARCH_URL")
    monkeypatch.delenv("LRSEARCH_API_TOKEN")
    with LRSearchClient() as client:
        assert str(client._http.base_url) == "http://127.0.0.1:8000"
        assert "authorization" not in client._http.headers


def test_trials_pages_and_filters(api: LRSearchClient) -> None:
    every = api.trials(FINISHED)
    assert every["count"] == 9 and [t["number"] for t in every["data"]] == list(range(9))
    page = api.trials(FINISHED, limit=2, offset=3)
    assert [t["number"] for t in page["data"]] == [3, 4]
    for state in ("complete", "COMPLETE"):
        complete = api.trials(FINISHED, state=state)
        wanted = [t["number"] for t in every["data"] if t["state"] == "complete"]
        assert [t["number"] for t in complete["data"]] == wanted


def test_wait_returns_the_finished_study_and_reports_progress(api: LRSearchClient) -> None:
    seen: list[dict[str, Any]] = []
    study = api.wait(FINISHED, timeout=10, poll_s=0.01, on_progress=seen.append)
    assert study["status"] == "done" and study["name"] == FINISHED
    assert seen == [study]


def test_wait_polls_until_done_then_times_out() -> None:
    statuses = iter(["queued", "running", "running", "done"])

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"name": "s", "status": next(statuses), "counts": {}})

    seen: list[str] = []
    with LRSearchClient("http://x", transport=httpx.MockTransport(answer)) as client:
        done = client.wait("s", poll_s=0.001, on_progress=lambda s: seen.append(s["status"]))
    assert done["status"] == "done" and seen == ["queued", "running", "running", "done"]

    def running(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"name": "s", "status": "running", "counts": {}})

    late = LRSearchClient("http://x", transport=httpx.MockTransport(running))
    with late, pytest.raises(TimeoutError, match=r"still running after 0\.05 s"):
        late.wait("s", timeout=0.05, poll_s=0.01)
