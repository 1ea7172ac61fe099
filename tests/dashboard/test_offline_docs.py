"""/docs (Swagger UI) and /redoc render in headless Chromium with every host but 127.0.0.1
unreachable: their scripts come from the app itself (the fastapi-offline package's files), not
from a CDN. The rendered DOM must hold the API's operations."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lrsearch.api import create_app
from lrsearch.config import Settings
from tests.procutil import served_in_thread

pytestmark = pytest.mark.slow

OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--virtual-time-budget=15000",
    OFFLINE,
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn serving the app in a thread of this process, on loopback."""
    url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'lrsearch.db'}"
    with served_in_thread(create_app(Settings(storage_url=url))) as served:
        yield served


def _dom(chromium: Path, url: str, profile: Path) -> str:
    command = [str(chromium), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    ("page", "texts"),
    [
        ("/docs", ['class="swagger-ui', "opblock", "/v1/studies/{name}/best", "Render Curve"]),
        ("/redoc", ["redoc-wrap", "Render Curve", "/v1/studies/{name}/best", "Submit Study"]),
    ],
)
def test_docs_render_offline(
    chromium: Path, base: str, tmp_path: Path, page: str, texts: list[str]
) -> None:
    dom = _dom(chromium, f"{base}{page}", tmp_path / "profile")
    missing = [text for text in texts if text not in dom]
    assert not missing, f"{page} rendered without {missing}: {dom[:2000]}"
