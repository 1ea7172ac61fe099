"""Bodies are bounded before they are parsed, and a write without the token is refused before
its body is read: over a real socket to uvicorn (a Content-Length that is never sent, a chunked
body with none), and through the test client."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from apiutil import AUTH, TOKEN, make_client
from fastapi.testclient import TestClient

from lrsearch.api import create_app
from lrsearch.config import Settings
from tests.procutil import served_in_thread

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """uvicorn serving the app (over a fresh SQLite file) in a thread of this process."""
    url = f"sqlite:///{tmp_path_factory.mktemp('limits') / 'lrsearch.db'}"
    settings = Settings(storage_url=url, api_token=TOKEN, max_body_bytes=LIMIT)
    with served_in_thread(create_app(settings)) as base:
        yield int(base.rsplit(":", 1)[1])


def _exchange(
    port: int, head: str, chunks: Sequence[bytes] = ()
) -> tuple[int, dict[str, str], str]:
    """Send ``head`` (and ``chunks``, as far as the server takes them); the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:  # the server answered and closed: the rest is never read
            pass
        received = b""
        while b"\r\n\r\n" not in received or not _complete(received):
            data = sock.recv(65536)
            if not data:
                break
            received += data
    head_bytes, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body.decode()


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.decode("latin-1").lower().split("\r\n"):
        if line.startswith("content-length:"):
            return len(body) >= int(line.split(":")[1])
    return False


def test_a_write_without_token_is_refused_before_its_body(port: int) -> None:
    head = (
        f"POST /v1/studies HTTP/1.1\nHost: x\nContent-Type: application/json\n"
        f"Content-Length: {10 * 1024 * 1024}\n"
    )
    status, headers, body = _exchange(port, head)  # the 10 MB are never sent
    assert status == 401, body
    assert headers["www-authenticate"] == "Bearer"
    assert json.loads(body)["message"].startswith("a valid `Authorization: Bearer")


def test_a_declared_large_body_is_413_before_it_is_read(port: int) -> None:
    head = (
        f"POST /v1/studies HTTP/1.1\nHost: x\nAuthorization: Bearer {TOKEN}\n"
        f"Content-Type: application/json\nContent-Length: {10 * 1024 * 1024}\n"
    )
    status, _, body = _exchange(port, head)
    assert status == 413, body
    assert json.loads(body) == {
        "message": f"the request body is larger than {LIMIT} bytes (LRSEARCH_MAX_BODY_BYTES)",
        "errors": [],
    }


@pytest.mark.parametrize("path", ["/v1/studies", "/v1/schedules/curve"])
def test_a_chunked_body_is_413_once_it_passes_the_limit(port: int, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\nHost: x\nAuthorization: Bearer {TOKEN}\n"
        "Content-Type: application/json\nTransfer-Encoding: chunked\n"
    )
    piece = b" " * 16384
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 64 + [b"0\r\n\r\n"]  # 1 MiB
    status, _, body = _exchange(port, head, chunks)
    assert status == 413, body
    assert "LRSEARCH_MAX_BODY_BYTES" in json.loads(body)["message"]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(f"sqlite:///{tmp_path}/x.db", max_body_bytes=LIMIT) as test_client:
        yield test_client


def test_the_limit_applies_through_the_test_client(client: TestClient) -> None:
    spec = {"name": "big", "task": "digits-mlp", "task_options": {"pad": "x" * (LIMIT + 1)}}
    refused = client.post("/v1/studies", json=spec, headers=AUTH)
    assert refused.status_code == 413
    anonymous = client.post("/v1/studies", json=spec)
    assert anonymous.status_code == 401  # the token is checked first
    chunked = client.post(
        "/v1/schedules/curve", content=iter([b"{" + b" " * LIMIT, b"}"]), headers=AUTH
    )
    assert chunked.status_code == 413
    curve = {"schedule": {"family": "constant", "lr": 0.1}, "steps": 3}
    assert client.post("/v1/schedules/curve", json=curve).json()["lr"] == [0.1] * 3


def test_the_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().max_body_bytes == 1024 * 1024
    monkeypatch.setenv("LRSEARCH_MAX_BODY_BYTES", "4096")
    assert Settings().max_body_bytes == 4096
