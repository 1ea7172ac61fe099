"""A small HTTP client for consumers of an lrsearch service.

>>> client = LRSearchClient("http://127.0.0.1:8000")            # doctest: +SKIP
>>> spec = client.best_schedule("digits-demo")                  # doctest: +SKIP
>>> scheduler = client.scheduler("digits-demo", optimizer, total_steps=10_000)  # doctest: +SKIP
>>> done = LRSearchClient().wait("digits-demo", timeout=3600)   # doctest: +SKIP

Without arguments the client reads the URL from ``LRSEARCH_URL`` (default
http://127.0.0.1:8000, what ``lrsearch serve`` listens on) and the token from
``LRSEARCH_API_TOKEN``.

Errors come back as lrsearch's own exceptions, with the server's message: NotFoundError (404),
ConflictError (409), InvalidInputError naming the field (422), LRSearchError otherwise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from lrsearch.errors import ConflictError, InvalidInputError, LRSearchError, NotFoundError
from lrsearch.schedules import ScheduleSpec

if TYPE_CHECKING:
    from torch.optim import Optimizer

    from lrsearch.trial.torch_ops import SpecLR


@dataclass(frozen=True)
class Confirmed:
    """The best config's result over fresh seeds (a study with ``[search] confirm``): mean,
    sample standard deviation, n, a 95% Student-t interval for its true mean, and the
    probability that it is truly the best of the confirmed configs."""

    mean: float
    std: float | None
    n: int
    interval: tuple[float, float] | None
    p_best: float | None
    values: tuple[float, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Confirmed:
        interval = data.get("interval")
        return cls(
            mean=data["mean"],
            std=data.get("std"),
            n=data["n"],
            interval=(interval[0], interval[1]) if interval else None,
            p_best=data.get("p_best"),
            values=tuple(data.get("values", ())),
        )


@dataclass(frozen=True)
class BestSchedule:
    """The best trial of a study: its schedule, optimizer and result; with ``[search]
    confirm``, once the confirmations are done, the config with the best mean over fresh seeds
    (``confirmed``; ``value`` and ``trial_number`` are then the trial it repeats), and every
    confirmed config (``confirmation``, as ``GET .../best`` gives it)."""

    study: str
    schedule: ScheduleSpec
    optimizer: str
    optimizer_params: Mapping[str, Any]
    value: float
    metric: str
    direction: str
    trial_number: int
    steps: int | None  # updates the best trial trained for
    confirmed: Confirmed | None = None
    confirmation: Mapping[str, Any] | None = None


DEFAULT_URL = "http://127.0.0.1:8000"
FINISHED = ("done", "failed", "cancelled")  # a study's statuses once nothing more will run


class LRSearchClient:
    """Talks to ``base_url``; ``token`` is sent as a bearer token (needed for writes).

    Either, when not given, comes from the environment: ``LRSEARCH_URL`` (else
    http://127.0.0.1:8000) and ``LRSEARCH_API_TOKEN`` (else no token: reads only).
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url = base_url or os.environ.get("LRSEARCH_URL") or DEFAULT_URL
        token = token if token is not None else os.environ.get("LRSEARCH_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> LRSearchClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def best(self, study: str) -> BestSchedule:
        data = self._request("GET", f"/v1/studies/{study}/best").json()
        return BestSchedule(
            study=data["study"],
            schedule=ScheduleSpec.from_dict(data["schedule"], complete=True),
            optimizer=data["optimizer"],
            optimizer_params=data.get("optimizer_params", {}),
            value=data["value"],
            metric=data["metric"],
            direction=data["direction"],
            trial_number=data["trial_number"],
            steps=data.get("steps"),
            confirmed=Confirmed.from_json(data["confirmed"]) if data.get("confirmed") else None,
            confirmation=data.get("confirmation"),
        )

    def best_schedule(self, study: str) -> ScheduleSpec:
        """The best trial's ScheduleSpec: render it for any run length with ``curve``."""
        return self.best(study).schedule

    def best_pytorch(self, study: str, steps: int | None = None) -> str:
        """A self-contained PyTorch snippet that builds the best schedule."""
        params: dict[str, Any] = {"format": "pytorch"} | ({"steps": steps} if steps else {})
        return self._request("GET", f"/v1/studies/{study}/best", params=params).text

    def scheduler(self, study: str, optimizer: Optimizer, total_steps: int) -> SpecLR:
        """A torch LR scheduler following the best schedule over ``total_steps`` updates.

        Call ``scheduler.step()`` after every ``optimizer.step()``. Needs torch (imported here).
        """
        from lrsearch.trial.torch_ops import SpecLR

        best = self.best(study)
        mode = "max" if best.direction == "maximize" else "min"
        return SpecLR(optimizer, best.schedule, total_steps, metric_mode=mode)

    def studies(self, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        params = {"limit": limit, "offset": offset}
        result: dict[str, Any] = self._request("GET", "/v1/studies", params=params).json()
        return result

    def study(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v1/studies/{name}").json()
        return result

    def lr_range(self, name: str) -> dict[str, Any]:
        """The study's LR range test: ``state`` (off, sweeping, done), ``ranges`` per
        optimizer (low, high, divergence_lr, steepest_lr, why), its cost and its curves."""
        result: dict[str, Any] = self._request("GET", f"/v1/studies/{name}/lr-range").json()
        return result

    def trials(
        self, name: str, state: str | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """A page of the study's trials by number (``data``, ``count`` in all), at most 100;
        ``state`` (complete, pruned, fail, running; either casing) keeps only those."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        params |= {"state": state} if state is not None else {}
        path = f"/v1/studies/{name}/trials"
        result: dict[str, Any] = self._request("GET", path, params=params).json()
        return result

    def wait(
        self,
        name: str,
        timeout: float | None = None,
        poll_s: float = 2.0,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the study until it is finished (done, failed or cancelled) and return it.

        ``on_progress`` gets the study (status, ``counts``, best value) at every poll.
        TimeoutError after ``timeout`` seconds (None: wait as long as it takes).

        >>> study = client.wait("digits-api", timeout=600,             # doctest: +SKIP
        ...                     on_progress=lambda s: print(s["counts"]))
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            study = self.study(name)
            if on_progress is not None:
                on_progress(study)
            if study["status"] in FINISHED:
                return study
            if deadline is not None and time.monotonic() + poll_s > deadline:
                raise TimeoutError(f"study {name!r} is still {study['status']} after {timeout} s")
            time.sleep(poll_s)

    def submit(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Submit a SearchSpec (as a mapping, the TOML file's structure); agents run it."""
        result: dict[str, Any] = self._request("POST", "/v1/studies", json=dict(spec)).json()
        return result

    def stop(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", f"/v1/studies/{name}/stop").json()
        return result

    def extend(self, name: str, trials: int) -> dict[str, Any]:
        """Add ``trials`` to the study's budget; a finished study becomes live again."""
        path = f"/v1/studies/{name}/extend"
        result: dict[str, Any] = self._request("POST", path, json={"trials": trials}).json()
        return result

    def retry_failed(self, name: str) -> dict[str, Any]:
        """Queue the failed trials' parameters again, with budget for them: ``requeued``
        (their numbers), ``fresh`` and the ``study``."""
        path = f"/v1/studies/{name}/retry"
        result: dict[str, Any] = self._request("POST", path, json={"failed": True}).json()
        return result

    def delete(self, name: str) -> None:
        self._request("DELETE", f"/v1/studies/{name}")

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise LRSearchError(f"cannot reach {self._http.base_url}: {exc}") from None
        if response.is_success:
            return response
        raise _error_of(response)


def _error_of(response: httpx.Response) -> LRSearchError:
    try:
        body = response.json()
        message, errors = str(body.get("message", response.text)), body.get("errors") or []
    except ValueError:
        message, errors = response.text or response.reason_phrase, []
    status = response.status_code
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ConflictError(message)
    if status == 422 and errors:
        return InvalidInputError(str(errors[0]["field"]), str(errors[0]["message"]))
    return LRSearchError(f"HTTP {status}: {message}")
