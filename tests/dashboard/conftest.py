"""Headless Chromium for the dashboard tests: found here, installed by the project's CI setup.

``.ci/run`` installs Debian's ``chromium`` package when ``/usr/bin/chromium`` is missing
(``apt-get install -y --no-install-recommends chromium``, as root); on a machine of your own,
run that command once. Tests never install anything. Without Chromium, the tests that need it
are skipped with the reason, except under CI (CI=true), where they fail: there a missing
browser is a broken setup, not a reason to test less.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y --no-install-recommends chromium"


def find_chromium() -> Path | None:
    """Debian's ``/usr/bin/chromium``, else a ``chromium`` on PATH; None when there is none."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    found = shutil.which("chromium")
    return Path(found) if found is not None else None


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium binary; skips (fails under CI=true) when it is not installed."""
    found = find_chromium()
    if found is None:
        reason = (
            f"headless Chromium is not installed (no {CHROMIUM}, no chromium on PATH): "
            f"`.ci/run` installs it, or run `{INSTALL}` as root"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found
