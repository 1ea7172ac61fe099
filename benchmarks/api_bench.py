"""The HTTP service's reads on a 100,000-trial study, against reading the same through Optuna.

    .venv/bin/python -m benchmarks.api_bench               # SQLite file in a temporary directory
    .venv/bin/python -m benchmarks.api_bench --postgres    # a fresh PostgreSQL database
    .venv/bin/python -m benchmarks.api_bench --quick       # smoke test: 5,000 trials, no results

One run, one database: ``tests.bigstudy.build_study`` (the tests' large-study builder) makes a
finished search of 100,000 trials (70 % complete, 30 % pruned) and three small ones (50
trials). Then, side by side:

- **lrsearch**: the real app (``create_app(Settings(storage_url=url, api_token=...))``) served by
  uvicorn in a subprocess on a free local port, one server process as ``lrsearch serve`` runs
  it; an ``httpx.Client`` (keep-alive) sends sequential requests: a warm-up, then N timed
  requests each of ``GET /v1/studies``, ``GET /v1/studies/big`` and ``GET /v1/studies/big/best``.
  A request's time is ``client.get`` (request sent, whole body received), JSON parsing excluded.
- **Optuna**: in this process, on a warm ``RDBStorage`` (``store.make_optuna_storage``, the
  storage lrsearch itself uses): ``optuna.load_study(...).best_trial`` and
  ``optuna.get_all_study_summaries(storage)``, timed call by call (fewer repetitions: the
  summaries take a minute or more at this size, since they load every trial).

Ratios are Optuna's median time over lrsearch's median (p50) request time, from the same run.
Targets: ``GET /v1/studies`` at least 100x faster than ``get_all_study_summaries``, and p99 of
``GET /v1/studies`` and ``GET .../best`` under 50 ms. PostgreSQL: a database is created on the
server LRSEARCH_BENCH_POSTGRES (default postgres@127.0.0.1:5432) and dropped at the end.

Writes benchmarks/results/api.json (raw numbers and machine info, one entry per backend; a run
replaces its backend's entry and keeps the other's) and api.md (a section per backend), and
prints the run's section.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import optuna
import sqlalchemy as sa

from lrsearch import store
from tests.bigstudy import build_study

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
REPO_ROOT = BENCH_DIR.parent
ADMIN_URL = os.environ.get(
    "LRSEARCH_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TOKEN = "bench-token-0123456789abcdef"
BIG = "big"
SMALL_STUDIES = ("small-1", "small-2", "small-3")
SMALL_TRIALS = 50
P99_TARGET_MS = 50.0
RATIO_TARGET = 100.0
SERVER_START_S = 60.0


@dataclass(frozen=True)
class Sizes:
    trials: int  # of the big study
    requests: int  # timed HTTP requests per endpoint
    warmup: int  # untimed requests per endpoint first
    best_reps: int  # load_study(...).best_trial calls
    summaries_reps: int  # get_all_study_summaries calls


FULL = Sizes(trials=100_000, requests=1000, warmup=50, best_reps=20, summaries_reps=3)
QUICK = Sizes(trials=5_000, requests=200, warmup=20, best_reps=5, summaries_reps=1)


def log(message: str) -> None:
    print(f"[api-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- statistics


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1]): the value below which a share q of samples lie."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class HttpResult:
    """N sequential requests to one endpoint."""

    path: str
    requests: int
    total_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    response_bytes: int


@dataclass(frozen=True)
class CallResult:
    """Repeated calls of one Optuna read."""

    call: str
    reps: int
    samples_s: list[float]
    median_s: float
    min_s: float
    max_s: float


# --------------------------------------------------------------------------- the server


def serve(url: str, port: int) -> None:
    """The server process: the real app over ``url``, as ``lrsearch serve`` runs it."""
    import uvicorn

    from lrsearch.api import create_app
    from lrsearch.config import Settings

    app = create_app(Settings(storage_url=url, api_token=TOKEN))
    # log_level "warning": uvicorn's per-request access log lines stay out of the timings.
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(url: str, logs: Path) -> Iterator[str]:
    """Start the app in a uvicorn subprocess; yields its base URL once /health answers."""
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.api_bench", "--serve", url, "--port", str(port)]
    with logs.open("w") as out:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}): {logs.read_text()}")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start in {SERVER_START_S} s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_http(client: httpx.Client, path: str, sizes: Sizes) -> tuple[HttpResult, Any]:
    """Warm-up, then ``sizes.requests`` sequential GETs; returns the timings and the last body."""
    for _ in range(sizes.warmup):
        client.get(path).raise_for_status()
    samples: list[float] = []
    started = time.perf_counter()
    response = None
    for _ in range(sizes.requests):
        t0 = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - t0)
        response.raise_for_status()
    total = time.perf_counter() - started
    assert response is not None
    ms = [s * 1000.0 for s in samples]
    result = HttpResult(
        path=path,
        requests=sizes.requests,
        total_s=total,
        requests_per_s=sizes.requests / total,
        p50_ms=percentile(ms, 0.50),
        p99_ms=percentile(ms, 0.99),
        mean_ms=statistics.fmean(ms),
        max_ms=max(ms),
        response_bytes=len(response.content),
    )
    return result, response.json()


def measure_call(label: str, fn: Callable[[], Any], reps: int) -> tuple[CallResult, Any]:
    samples: list[float] = []
    value = None
    for _ in range(reps):
        started = time.perf_counter()
        value = fn()
        samples.append(time.perf_counter() - started)
        log(f"  {label}: {samples[-1]:.3f} s")
    result = CallResult(
        call=label,
        reps=reps,
        samples_s=samples,
        median_s=statistics.median(samples),
        min_s=min(samples),
        max_s=max(samples),
    )
    return result, value


# --------------------------------------------------------------------------- one run


@contextmanager
def database(postgres: bool, folder: Path) -> Iterator[str]:
    """A fresh database: a SQLite file in ``folder``, or a new database on the server."""
    if not postgres:
        yield f"sqlite:///{folder / 'api-bench.db'}"
        return
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lrsearch_bench_api_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def server_version(url: str) -> str:
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                return "SQLite " + str(conn.exec_driver_sql("select sqlite_version()").scalar())
            return str(conn.exec_driver_sql("select version()").scalar()).split(",")[0]
    finally:
        engine.dispose()


def run(postgres: bool, sizes: Sizes, folder: Path) -> dict[str, Any]:
    """Build the database, then measure both sides; every number of one backend's run."""
    backend = "postgresql" if postgres else "sqlite"
    with database(postgres, folder) as url:
        log(f"{backend}: building {sizes.trials} trials, and {len(SMALL_STUDIES)} small studies")
        started = time.perf_counter()
        build_study(url, BIG, sizes.trials, seed=0)
        build_s = time.perf_counter() - started
        for i, name in enumerate(SMALL_STUDIES):
            build_study(url, name, SMALL_TRIALS, seed=i + 1)
        log(f"  built the big study in {build_s:.1f} s")
        db_bytes = (folder / "api-bench.db").stat().st_size if not postgres else None

        logs = folder / f"server-{backend}.log"
        with server(url, logs) as base, httpx.Client(base_url=base, timeout=30.0) as client:
            log(f"  HTTP: {sizes.requests} requests per endpoint after {sizes.warmup}")
            load_before = os.getloadavg()[0]
            listing, listed = measure_http(client, "/v1/studies", sizes)
            study, _ = measure_http(client, f"/v1/studies/{BIG}", sizes)
            best, best_body = measure_http(client, f"/v1/studies/{BIG}/best", sizes)
            load_after = os.getloadavg()[0]

        storage = store.make_optuna_storage(url)
        try:

            def load_best() -> optuna.trial.FrozenTrial:
                return optuna.load_study(study_name=BIG, storage=storage).best_trial

            load_best()  # warm: the engine connects, Optuna checks its schema version
            log("  Optuna: load_study(...).best_trial")
            optuna_best, best_trial = measure_call(
                "load_study(...).best_trial", load_best, sizes.best_reps
            )
            log("  Optuna: get_all_study_summaries (loads every trial)")
            optuna_summaries, summaries = measure_call(
                "get_all_study_summaries(storage)",
                lambda: optuna.get_all_study_summaries(storage),
                sizes.summaries_reps,
            )
        finally:
            storage.engine.dispose()
        version_text = server_version(url)

    # The two sides read the same study.
    n_trials = {s.study_name: s.n_trials for s in summaries}
    if listed["count"] != len(n_trials) or n_trials[BIG] != sizes.trials:
        raise RuntimeError(f"lrsearch lists {listed['count']} studies, Optuna {n_trials}")
    if (best_body["value"], best_body["trial_number"]) != (best_trial.value, best_trial.number):
        raise RuntimeError(f"GET /best says {best_body}, Optuna's best trial {best_trial.number}")

    ratio_list = optuna_summaries.median_s * 1000.0 / listing.p50_ms
    ratio_best = optuna_best.median_s * 1000.0 / best.p50_ms
    return {
        "backend": backend,
        "database": version_text,
        "sizes": asdict(sizes),
        "build_s": round(build_s, 2),
        "sqlite_file_bytes": db_bytes,
        # The 1-minute load average around the HTTP measurements: other work on the machine
        # shows up in the tail latencies (p99, max).
        "load_average_http": [round(load_before, 2), round(load_after, 2)],
        "optuna_n_trials": n_trials[BIG],
        "best_trial": best_trial.number,
        "best_value": best_trial.value,
        "http": [asdict(r) for r in (listing, study, best)],
        "optuna": [asdict(r) for r in (optuna_best, optuna_summaries)],
        "ratios": {
            "get_all_study_summaries / GET /v1/studies": ratio_list,
            "load_study().best_trial / GET /v1/studies/{name}/best": ratio_best,
        },
        "targets": [
            target_row(
                "GET /v1/studies vs get_all_study_summaries (Optuna / lrsearch)",
                ratio_list,
                f">= {RATIO_TARGET:g}x",
                ratio_list >= RATIO_TARGET,
                "x",
            ),
            target_row(
                "p99 of GET /v1/studies",
                listing.p99_ms,
                f"< {P99_TARGET_MS:g} ms",
                listing.p99_ms < P99_TARGET_MS,
                " ms",
            ),
            target_row(
                "p99 of GET /v1/studies/{name}/best",
                best.p99_ms,
                f"< {P99_TARGET_MS:g} ms",
                best.p99_ms < P99_TARGET_MS,
                " ms",
            ),
        ],
    }


def target_row(label: str, value: float, target: str, met: bool, unit: str) -> dict[str, Any]:
    shown = f"{value:,.0f}{unit}" if value >= 100 else f"{value:.2f}{unit}"
    return {"measurement": label, "value": value, "shown": shown, "target": target, "met": met}


# --------------------------------------------------------------------------- reporting


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def machine_info() -> dict[str, Any]:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += "+changes"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "optuna_version": optuna.__version__,
        "sqlalchemy_version": sa.__version__,
        "fastapi_version": version("fastapi"),
        "uvicorn_version": version("uvicorn"),
        "httpx_version": version("httpx"),
        "psycopg_version": version("psycopg"),
        "git_commit": commit,
    }


def section(entry: dict[str, Any]) -> str:
    meta, sizes = entry["meta"], entry["sizes"]
    http = entry["http"]
    lines = [
        f"## {entry['backend']}: {entry['database']}",
        "",
        f"{meta['date']} · {meta['cpu_count']} CPUs · Python {meta['python_version']} · "
        f"optuna {meta['optuna_version']} · SQLAlchemy {meta['sqlalchemy_version']} · "
        f"uvicorn {meta['uvicorn_version']} · {meta['platform']} · commit {meta['git_commit']}",
        "",
        f"`{entry['command']}` · big study: {sizes['trials']:,} trials (Optuna reads back "
        f"{entry['optuna_n_trials']:,}), built in {entry['build_s']:.1f} s, plus "
        f"{len(SMALL_STUDIES)} studies of {SMALL_TRIALS} trials · {sizes['requests']} timed "
        f"requests per endpoint after {sizes['warmup']} · run took {entry['total_s']:.0f} s · "
        f"load average around the HTTP requests {entry['load_average_http'][0]:.1f} -> "
        f"{entry['load_average_http'][1]:.1f}",
        "",
    ]
    if entry["quick"]:
        lines += ["**Quick smoke run: sizes are shrunk and the targets do not apply.**", ""]
    lines += [
        "| lrsearch over HTTP | req/s | p50 | p99 | mean | max | body |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in http:
        lines.append(
            f"| `GET {r['path']}` | {r['requests_per_s']:,.0f} | {r['p50_ms']:.2f} ms | "
            f"{r['p99_ms']:.2f} ms | {r['mean_ms']:.2f} ms | {r['max_ms']:.1f} ms | "
            f"{r['response_bytes']:,} B |"
        )
    ours = {"load_study(...).best_trial": http[2], "get_all_study_summaries(storage)": http[0]}
    lines += [
        "",
        "| the same through Optuna | calls | median | min | max | lrsearch p50 | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in entry["optuna"]:
        mine = ours[r["call"]]
        lines.append(
            f"| `optuna.{r['call']}` | {r['reps']} | {_seconds(r['median_s'])} | "
            f"{_seconds(r['min_s'])} | {_seconds(r['max_s'])} | `GET {mine['path']}` "
            f"{mine['p50_ms']:.2f} ms | {r['median_s'] * 1000 / mine['p50_ms']:,.0f}x |"
        )
    lines += ["", "| measurement | value | target | met? |", "|---|---|---|---|"]
    for t in entry["targets"]:
        met = "n/a (quick)" if entry["quick"] else ("yes" if t["met"] else "**NO**")
        lines.append(f"| {t['measurement']} | {t['shown']} | {t['target']} | {met} |")
    return "\n".join(lines) + "\n"


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def markdown(entries: dict[str, Any]) -> str:
    head = [
        "# lrsearch HTTP reads against Optuna, on a large study",
        "",
        "Written by `benchmarks/api_bench.py` (see benchmarks/README.md). Ratios are Optuna's "
        "median time over lrsearch's median request time, both from the same run.",
        "",
    ]
    order = [b for b in ("sqlite", "postgresql") if b in entries]
    return "\n".join(head) + "\n" + "\n".join(section(entries[b]) for b in order)


def write_results(entry: dict[str, Any], folder: Path) -> None:
    """Replace this backend's entry in api.json, keep the other's; rewrite api.md from both."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "api.json"
    entries: dict[str, Any] = {}
    if path.exists():
        try:
            entries = dict(json.loads(path.read_text("utf-8")).get("backends", {}))
        except (ValueError, AttributeError):
            entries = {}
    entries[entry["backend"]] = entry
    path.write_text(json.dumps({"backends": entries}, indent=2) + "\n", "utf-8")
    (folder / "api.md").write_text(markdown(entries), "utf-8")


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--postgres", action="store_true", help="run on a fresh PG database")
    parser.add_argument("--quick", action="store_true", help="5,000 trials; writes no results")
    parser.add_argument("--trials", type=int, help="trials of the big study (default 100,000)")
    parser.add_argument("--requests", type=int, help="timed requests per endpoint (default 1000)")
    parser.add_argument(
        "--summaries-reps", type=int, help="get_all_study_summaries calls (default 3)"
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS_DIR, help=f"folder (default {RESULTS_DIR})"
    )
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sizes = QUICK if args.quick else FULL
    overrides = {
        "trials": args.trials,
        "requests": args.requests,
        "summaries_reps": args.summaries_reps,
    }
    sizes = replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lrsearch-api-bench-") as tmp:
        entry = run(args.postgres, sizes, Path(tmp))
    command = "python -m benchmarks.api_bench " + " ".join(sys.argv[1:] if argv is None else argv)
    entry.update(
        meta=machine_info(),
        command=command.strip(),
        quick=args.quick,
        total_s=round(time.perf_counter() - started, 1),
    )
    text = section(entry)
    print(text)
    if args.quick:
        log("quick run: results not written")
        return 0
    write_results(entry, args.results)
    log(f"wrote {args.results}/api.json and api.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
