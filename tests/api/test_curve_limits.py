"""Large LR curves: streamed exactly as the schedule renders, and a bounded number at once.

Curves of more than LARGE_CURVE_STEPS updates (on /v1/schedules/curve, /best?steps=,
/trials/{n}?steps=) and reports take a render slot; with every slot busy the answer is 429 with
Retry-After and the JSON error body, and the slot comes back once the response is sent.
(`benchmarks/serve_memory.py` measures what this bounds: the RSS of a real server.)
"""

from __future__ import annotations

import pytest
from apiutil import FINISHED
from fastapi.testclient import TestClient

from lrsearch.api.curves import CHUNK, LARGE_CURVE_STEPS
from lrsearch.schedules import ScheduleSpec, curve, family_names

LONG = 2 * CHUNK + 3  # three pieces, and above LARGE_CURVE_STEPS
assert LONG > LARGE_CURVE_STEPS


@pytest.mark.parametrize("family", family_names())
def test_a_streamed_curve_is_the_schedule(family: str, client: TestClient) -> None:
    schedule = {"family": family, "lr": 0.1, "warmup": {"fraction": 0.05}}
    got = client.post("/v1/schedules/curve", json={"schedule": schedule, "steps": LONG})
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    body = got.json()
    spec = ScheduleSpec.from_dict(body["schedule"], complete=True)
    assert body["steps"] == LONG and body["lr"] == curve(spec, LONG).tolist()


@pytest.mark.parametrize(
    "path", [f"/v1/studies/{FINISHED}/best", f"/v1/studies/{FINISHED}/trials/8"]
)
def test_steps_add_the_streamed_curve_to_best_and_trial(path: str, client: TestClient) -> None:
    plain = client.get(path).json()
    with_lr = client.get(path, params={"steps": LONG}).json()
    assert plain["lr"] is None
    assert {k: v for k, v in with_lr.items() if k != "lr"} == {
        k: v for k, v in plain.items() if k != "lr"
    }
    spec = ScheduleSpec.from_dict(plain["schedule"], complete=True)
    assert with_lr["lr"] == curve(spec, LONG).tolist()


def test_busy_slots_answer_429_with_retry_after(client: TestClient) -> None:
    slots = client.app.state.render_slots  # type: ignore[attr-defined]
    held = [slots.take(10**6) for _ in range(slots.slots)]
    try:
        schedule = {"family": "cosine", "lr": 0.1}
        requests = [
            ("POST", "/v1/schedules/curve", {"schedule": schedule, "steps": LARGE_CURVE_STEPS + 1}),
            ("GET", f"/v1/studies/{FINISHED}/best?steps=1000000", None),
            ("GET", f"/v1/studies/{FINISHED}/trials/8?steps=1000000", None),
            ("GET", f"/v1/studies/{FINISHED}/report", None),
        ]
        for method, path, body in requests:
            got = client.request(method, path, json=body)
            assert got.status_code == 429, (path, got.text)
            assert got.headers["retry-after"] == "2"
            assert "LRSEARCH_RENDER_SLOTS" in got.json()["message"]
        small = client.post("/v1/schedules/curve", json={"schedule": schedule, "steps": 1000})
        assert small.status_code == 200  # small curves need no slot
    finally:
        for release in held:
            release()
    for _ in range(3 * slots.slots):  # every response gives its slot back
        got = client.get(f"/v1/studies/{FINISHED}/best", params={"steps": LARGE_CURVE_STEPS + 1})
        assert got.status_code == 200
