"""``lrsearch serve`` on a port another server holds: one line naming host:port and the reason,
exit code 2, before anything starts (``lrsearch dashboard``'s: tests/dashboard)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lrsearch.cli.serve import check_port
from lrsearch.errors import InvalidInputError


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port with a real listener on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.slow
def test_a_busy_port_is_one_line_and_exit_2(busy_port: int, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lrsearch.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "lrsearch", "serve", "--port", str(busy_port), "--storage", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"lrsearch: error: --port: cannot listen on 127.0.0.1:{busy_port}: Address already in use\n"
    )
    assert not (tmp_path / "lrsearch.db").exists()  # refused before the database is touched


def test_check_port_passes_a_free_port_and_names_a_bad_host(busy_port: int) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    check_port("127.0.0.1", port)  # free again: no error
    bad_host = r"^--host: cannot listen on no-such-host\.invalid:"
    with pytest.raises(InvalidInputError, match=bad_host) as bad:
        check_port("no-such-host.invalid", port)
    assert getattr(bad.value, "field", None) == "--host"
    with pytest.raises(InvalidInputError, match="Address already in use") as busy:
        check_port("127.0.0.1", busy_port)
    assert getattr(busy.value, "field", None) == "--port"
