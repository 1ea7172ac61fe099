"""A small HTTP client for consumers of an lrsearch service.

>>> client = LRSearchClient("http://127.0.0.1:8000")            # doctest: +SKIP
>>> spec = client.best_schedule("digits-demo")                  # doctest: +SKIP
>>> scheduler = client.scheduler("digits-demo", optimizer, total_steps=10_000)  # doctest: +SKIP

Errors come back as lrsearch's own exceptions, with the server's message: NotFoundError (404),
ConflictError (409), InvalidInputError naming the field (422), LRSearchError otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from lrsearch.errors import ConflictError, InvalidInputError, LRSearchError, NotFoundError
from lrsearch.schedules import ScheduleSpec

if TYPE_CHECKING:
    from torch.optim import Optimizer

    from lrsearch.train.torch_schedule import SpecLR


@dataclass(frozen=True)
class BestSchedule:
    """The best trial of a study: its schedule, optimizer and result."""

    study: str
    schedule: ScheduleSpec
    optimizer: str
    optimizer_params: Mapping[str, Any]
    value: float
    metric: str
    direction: str
    trial_number: int
    steps: int | None  # updates the best trial trained for


class LRSearchClient:
    """Talks to ``base_url``; ``token`` is sent as a bearer token (needed for writes)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
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
        from lrsearch.train.torch_schedule import SpecLR

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

    def submit(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Submit a SearchSpec (as a mapping, the TOML file's structure); agents run it."""
        result: dict[str, Any] = self._request("POST", "/v1/studies", json=dict(spec)).json()
        return result

    def stop(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", f"/v1/studies/{name}/stop").json()
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
