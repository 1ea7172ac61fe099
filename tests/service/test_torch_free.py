"""Processes that do not train never load torch: ``lrsearch serve`` (with agents beside it) and
the ``lrsearch search`` coordinator. Checked from outside, in /proc/<pid>/maps: a process that
imported torch has libtorch mapped. The agents they start do load it (the check works)."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.procutil import free_port, start_lrsearch
from tests.search.searchutil import spec_toml


def loads_torch(pid: int) -> bool:
    """Whether process ``pid`` has libtorch mapped (read from /proc/<pid>/maps)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "libtorch" in maps


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _lrsearch(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return start_lrsearch(args, cwd, env={"LRSEARCH_API_TOKEN": ""})


def _wait_for(check: object, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_serve_with_agents_never_loads_torch(tmp_path: Path) -> None:
    port = free_port()
    args = ["serve", "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}", "--port", str(port)]
    proc = _lrsearch([*args, "--workers", "1", "--threads", "1", "--dev"], tmp_path)
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(up)
        agents = children(proc.pid)
        assert agents, "the agent was not started"
        _wait_for(lambda: all(loads_torch(pid) for pid in agents))  # the agents train
        body = {"name": "x", "task": "digits-mlp", "budget": {"trials": 1, "epochs": 1}}
        assert httpx.post(f"http://127.0.0.1:{port}/v1/studies", json=body).status_code == 201
        httpx.get(f"http://127.0.0.1:{port}/v1/studies/x/report")
        assert not loads_torch(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)


@pytest.mark.slow
def test_search_coordinator_never_loads_torch(tmp_path: Path) -> None:
    (tmp_path / "spec.toml").write_text(spec_toml("coord", trials=3, epochs=2))
    args = ["search", "spec.toml", "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}"]
    proc = _lrsearch([*args, "--threads", "1"], tmp_path)
    seen_worker_torch, coordinator_torch = False, False
    try:
        while proc.poll() is None:
            try:
                coordinator_torch |= loads_torch(proc.pid)
                seen_worker_torch |= any(loads_torch(pid) for pid in children(proc.pid))
            except (FileNotFoundError, ProcessLookupError):
                pass  # a child that just exited
            time.sleep(0.05)
    finally:
        out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out
    assert "best of coord" in out
    assert seen_worker_torch  # the check sees torch where it is loaded
    assert not coordinator_torch


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("lrsearch.service", ("torch", "sklearn", "matplotlib")),
        ("lrsearch.api", ("torch", "sklearn", "matplotlib", "lrsearch.search")),
        ("lrsearch.cli", ("torch", "sklearn", "matplotlib", "optuna", "lrsearch.api")),
        ("lrsearch.search.local", ("torch", "sklearn", "matplotlib")),
        ("lrsearch.client", ("torch",)),
    ],
)
def test_importing_does_not_import(module: str, forbidden: tuple[str, ...]) -> None:
    """The import rules that keep torch out of the processes that do not train."""
    code = (
        f"import sys, {module}\n"
        f"bad = [m for m in {forbidden!r} if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


ALLOWED = {  # DESIGN.md's arrows for the rooms of this change (errors, config: everyone)
    "api": {"api", "service", "spec", "schedules", "errors", "config"},
    "service": {"service", "spec", "space", "store", "schedules", "errors", "config", "report"},
}


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_rooms_import_only_what_the_map_allows(room: str) -> None:
    """Every ``lrsearch.X`` a module of the room imports, at the top or inside a function
    (service's one lazy import of ``report`` renders the report page: report -> service)."""
    package = Path(__file__).parents[2] / "lrsearch" / room
    for path in package.rglob("*.py"):
        for target in _lrsearch_rooms(path):
            assert target in ALLOWED[room], f"{path.name} imports lrsearch.{target}"


def _lrsearch_rooms(path: Path) -> set[str]:
    rooms: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "lrsearch":
            modules = [f"lrsearch.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        else:
            continue
        rooms |= {m.split(".")[1] for m in modules if m.startswith("lrsearch.")}
    return rooms
