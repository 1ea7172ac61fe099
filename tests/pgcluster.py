"""A throwaway PostgreSQL cluster on its own port, for tests that restart or stop the server.

The ``pg_cluster`` fixture (tests/conftest.py) builds one per test and removes it afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.procutil import free_port


def pg_bin(name: str) -> str:
    """The path of a PostgreSQL server program (the newest installed); skips if there is none."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"PostgreSQL's {name} is not installed")
    return path


def as_postgres(*command: str) -> list[str]:
    """Run as the postgres user when we are root (initdb refuses to run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


class PgCluster:
    """A cluster in a temporary folder: ``url``, and ``restart``/``stop``/``start`` it."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="lrsearch-pg-"))
        self.data, self.port = self.folder / "data", free_port()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(
            as_postgres(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"),
            check=True,
            capture_output=True,
        )
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl = [pg_bin("pg_ctl"), "-D", str(self.data), "-o", options]
        self._ctl += ["-l", str(self.folder / "log"), "-w"]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run(as_postgres(*self._ctl, *args), check=check, capture_output=True)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clean) or ``immediate`` (as in a crash)."""
        self._run("-m", mode, "stop")

    def restart(self, mode: str = "fast") -> None:
        """Restart the server (``immediate``: without a clean shutdown, recovery on start)."""
        self._run("-m", mode, "restart")

    def remove(self) -> None:
        """Stop the server (if it runs) and delete the cluster."""
        self._run("-m", "immediate", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
