"""LR curves on the wire: streamed as JSON a chunk at a time, few large renders at once.

A million-step curve is 8 MB as floats and about 20 MB as JSON. Built whole (a million Python
floats, a pydantic model, then the JSON text) it cost the server about 70 MB per request, and
sixteen at once took its RSS past a gigabyte, most of which it kept. Here a curve is computed
and written CHUNK updates at a time, and a render of more than LARGE_CURVE_STEPS updates (or
a report) holds one of ``Settings.render_slots`` until its last byte is sent: when none is
free the request gets 429 with Retry-After at once. What renders can hold is thus bounded by
the number of slots, whatever the number of clients.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import numpy as np
from fastapi import HTTPException
from pydantic import BaseModel
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from lrsearch.schedules import ScheduleSpec, lr_values

CHUNK = 65_536  # updates per piece of the JSON array: about 1.3 MB of text
LARGE_CURVE_STEPS = 100_000  # longer curves (about 2 MB of JSON and more) need a slot
RETRY_AFTER_S = 2


class RenderSlots:
    """At most ``slots`` large renders at once; a render that finds none free is refused."""

    def __init__(self, slots: int) -> None:
        self._free = threading.BoundedSemaphore(slots)
        self.slots = slots

    def take(self, steps: int | None = None) -> Callable[[], None]:
        """Take a slot for a render of ``steps`` updates (None: a report, always large); the
        function returned gives it back (once, however often it is called). A small curve
        needs none. HTTPException 429 with Retry-After when every slot is busy."""
        if steps is not None and steps <= LARGE_CURVE_STEPS:
            return lambda: None
        if not self._free.acquire(blocking=False):
            raise HTTPException(
                429,
                f"the server is rendering {self.slots} large curves or reports already "
                f"(LRSEARCH_RENDER_SLOTS); retry in {RETRY_AFTER_S} s, or ask for fewer steps",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        given_back = threading.Event()

        def give_back() -> None:
            if not given_back.is_set():
                given_back.set()
                self._free.release()

        return give_back


class _SlotResponse(StreamingResponse):
    """A streamed response that gives its render slot back when it ends, however it ends
    (sent, failed, or the client left)."""

    def __init__(self, body: Iterator[bytes], release: Callable[[], None]) -> None:
        super().__init__(body, media_type="application/json")
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def with_curve(
    head: BaseModel, spec: ScheduleSpec, steps: int, slots: RenderSlots
) -> _SlotResponse:
    """``head`` as JSON with its ``lr`` field the curve of ``spec`` over ``steps`` updates,
    streamed; the same document ``head`` with ``lr`` filled in would serialize to."""
    release = slots.take(steps)
    try:
        opening = head.model_dump_json(exclude={"lr"})[:-1] + ',"lr":['
        return _SlotResponse(_pieces(opening.encode(), spec, steps), release)
    except BaseException:
        release()
        raise


def _pieces(opening: bytes, spec: ScheduleSpec, steps: int) -> Iterator[bytes]:
    yield opening
    for start in range(0, steps, CHUNK):
        updates = np.arange(start, min(start + CHUNK, steps), dtype=np.int64)
        text = ",".join(map(repr, lr_values(spec, updates, steps).tolist()))
        yield (("," if start else "") + text).encode()
    yield b"]}"
