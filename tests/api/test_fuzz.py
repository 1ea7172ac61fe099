"""Schemathesis fuzzes every operation of the OpenAPI schema against the real app.

The app runs over a SQLite database holding a finished search; requests carry the token, so
write operations are fuzzed too. Every response must conform to the schema, and none may be
a server error (5xx).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from apiutil import AUTH, FINISHED, FINISHED_SPEC, TOKEN
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from lrsearch.api import create_app
from lrsearch.config import Settings
from lrsearch.report import render
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec

DB = Path(os.environ.get("LRSEARCH_FUZZ_DIR", "/tmp")) / f"lrsearch-fuzz-{os.getpid()}.db"


def _app() -> object:
    DB.unlink(missing_ok=True)
    url = f"sqlite:///{DB}"
    prepare_search(url, parse_spec({**FINISHED_SPEC, "budget": {"trials": 3, "epochs": 2}}))
    run_worker(url, FINISHED, threads=1)
    return create_app(Settings(storage_url=url, api_token=TOKEN), render_report=render)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.fixture(scope="module", autouse=True)
def _remove_db() -> Iterator[None]:
    yield
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case: schemathesis.Case) -> None:
    # Every check but positive_data_acceptance: a schema cannot say which parameters each
    # family takes, so a request can fit the schema and still be a 422 with a clear message.
    case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance])
