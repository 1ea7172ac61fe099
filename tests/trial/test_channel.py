"""The local channel's server on its own: tokens, ops, non-finite values, the decision."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from lrsearch.search.runners import TrialBackend
from lrsearch.search.runners.channel_server import ChannelServer


class PruneAt(TrialBackend):
    def __init__(self, at: int) -> None:
        super().__init__("loss")
        self.at = at

    def decide(self, index: int, step: int, metrics: Mapping[str, float], value: float) -> bool:
        return index >= self.at


@pytest.fixture
def server() -> Iterator[ChannelServer]:
    with ChannelServer(PruneAt(1), {"number": 7}) as made:
        done = threading.Event()

        def serve() -> None:
            while not done.is_set():
                made.serve(0.02)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield made
        done.set()
        thread.join()


def _client(server: ChannelServer) -> Any:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(server.path)
    stream = sock.makefile("rwb")

    def ask(message: object) -> dict[str, Any]:
        try:
            stream.write(message if isinstance(message, bytes) else json.dumps(message).encode())
            stream.write(b"\n")
            stream.flush()
            line = stream.readline()
        except OSError:  # the server closed this connection
            line = b""
        return json.loads(line) if line else {"closed": True}

    return ask


def test_a_wrong_token_is_refused_and_the_connection_closed(server: ChannelServer) -> None:
    ask = _client(server)
    assert ask({"op": "hello", "token": "guess"}) == {"ok": False, "error": "wrong token"}
    assert ask({"op": "hello", "token": server.token}) == {"closed": True}


def test_hello_report_and_the_decision_for_other_ranks(server: ChannelServer) -> None:
    rank0, rank1 = _client(server), _client(server)
    assert ask_ok(rank0, {"op": "hello", "token": server.token})["trial"] == {"number": 7}
    ask_ok(rank1, {"op": "hello", "token": server.token, "rank": 1})
    assert ask_ok(rank0, {"op": "report", "step": 5, "metrics": {"loss": 2}})["prune"] is False
    assert ask_ok(rank1, {"op": "report", "step": 5, "metrics": {"loss": 9}})["prune"] is False
    assert ask_ok(rank0, {"op": "report", "step": 6, "metrics": {"loss": 1}})["prune"] is True
    assert ask_ok(rank1, {"op": "report", "step": 6, "metrics": {"loss": 9}})["prune"] is True
    assert server.backend.reports == 2 and server.backend.last_value == 1.0


def test_bad_messages_are_answered_with_the_field(server: ChannelServer) -> None:
    ask = _client(server)
    ask_ok(ask, {"op": "hello", "token": server.token})
    assert "unknown op 'fly'" in ask({"op": "fly"})["error"]
    assert ask({"op": "report", "step": 1, "metrics": {"acc": 1}})["error"] == (
        "metrics: a report must include 'loss'"
    )
    assert ask({"op": "report", "step": "x", "metrics": {"loss": 1}})["error"].startswith("step:")
    assert "error" in ask(b"{not json")


@pytest.mark.parametrize("value", [None, "NaN", "Infinity", "-inf"])
def test_a_non_finite_metric_stops_the_trial_as_diverged(value: object) -> None:
    with ChannelServer(PruneAt(99), {}) as server:
        ask = _client(server)
        thread = threading.Thread(target=lambda: [server.serve(0.05) for _ in range(20)])
        thread.start()
        ask_ok(ask, {"op": "hello", "token": server.token})
        answer = ask_ok(ask, {"op": "report", "step": 1, "metrics": {"loss": value}})
        thread.join()
    assert answer["prune"] is True and answer["diverged"] is True
    assert server.backend.diverged is not None and not math.isfinite(server.backend.diverged[1])


def ask_ok(ask: Any, message: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = ask(message)
    assert answer.get("ok") is True, answer
    return answer
