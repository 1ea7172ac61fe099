"""Headless Chromium for the dashboard tests, installed from Debian when it is missing.

``chromium`` is session-scoped: the first test that needs it runs
``apt-get install -y --no-install-recommends chromium`` (and ``apt-get update`` first only when
that install fails). When Chromium cannot be had, the tests that need it are skipped with the
reason, except under CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Wait for the dpkg lock (another apt-get, another xdist worker) instead of failing at once.
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]
INSTALL = [*APT, "install", "-y", "--no-install-recommends", "chromium"]
UPDATE = [*APT, "update"]
APT_TIMEOUT_S = 900.0


def _apt(command: list[str]) -> tuple[bool, str]:
    """Run one apt-get command; returns whether it succeeded and the tail of its output."""
    if shutil.which(command[0]) is None:
        return False, f"{command[0]} is not on PATH"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=APT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{' '.join(command)}: {type(exc).__name__}: {exc}"
    tail = (done.stdout + done.stderr).strip()[-1500:]
    return done.returncode == 0, f"{' '.join(command)} exited {done.returncode}: {tail}"


def _install_chromium() -> str | None:
    """Install Debian's chromium package; returns why it failed, or None once it is there."""
    ok, output = _apt(INSTALL)
    if not ok:
        updated, update_output = _apt(UPDATE)
        if not updated:
            return f"{output}\n{update_output}"
        ok, output = _apt(INSTALL)
    if not ok:
        return output
    if not CHROMIUM.exists():
        return f"apt-get installed chromium but {CHROMIUM} is missing"
    return None


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium binary, installed with apt-get on first use when it is missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    started = time.monotonic()
    failure = _install_chromium()
    if failure is not None:
        reason = f"headless Chromium is not available and could not be installed: {failure}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    print(f"installed chromium in {time.monotonic() - started:.1f}s")
    return CHROMIUM
