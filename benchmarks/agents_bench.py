"""Agents on PostgreSQL: trials per minute, failures and database round trips per trial.

    .venv/bin/python benchmarks/agents_bench.py [--agents 1 2 4] [--trials 24] [--quick]

For each agent count N, a fresh database on the PostgreSQL server (LRSEARCH_BENCH_POSTGRES,
default postgres@127.0.0.1:5432) gets the same search (`lrsearch submit`), then N real
`lrsearch worker --of N` processes run it. Measured: wall time from the agents' start to the
last one's exit, trials per minute, failed and retried trials, and the round trips (SQL
statements) every agent counted, heartbeats included, divided by the trials. Writes
benchmarks/results/agents.json and agents.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lrsearch import store

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_URL = os.environ.get(
    "LRSEARCH_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SPEC = """
name = "agents"
task = "digits-mlp"
task_options = {{ hidden = 64 }}
[budget]
trials = {trials}
epochs = {epochs}
[search]
sampler = "random"
seed = 0
pruner = "none"
[space]
families = ["constant", "step", "cosine", "one_cycle", "wsd"]
lr = [0.01, 0.3]
optimizers = ["sgd"]
"""
DONE = re.compile(r"worker done: .* (\d+) database statements")


def run_agents(agents: int, trials: int, epochs: int, folder: Path) -> dict[str, Any]:
    """One search on a fresh database, run by ``agents`` worker processes."""
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    database = f"lrsearch_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    url = sa.make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)
    try:
        spec = folder / f"agents-{agents}.toml"
        spec.write_text(SPEC.format(trials=trials, epochs=epochs))
        lrsearch = [sys.executable, "-m", "lrsearch"]
        subprocess.run(
            [*lrsearch, "submit", str(spec), "--storage", url], check=True, capture_output=True
        )
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    *lrsearch,
                    "worker",
                    "--study",
                    "agents",
                    "--storage",
                    url,
                    "--of",
                    str(agents),
                    "--index",
                    str(i),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for i in range(agents)
        ]
        outputs = [p.communicate()[0] for p in procs]
        wall = time.perf_counter() - started
        statements = sum(int(m.group(1)) for out in outputs for m in DONE.finditer(out))
        engine = store.make_engine(url)
        search = store.get_search(engine, "agents")
        engine.dispose()
        return {
            "agents": agents,
            "trials": search.finished,
            "complete": search.n_complete,
            "failed": search.n_failed,
            "retried": search.n_retried,
            "exit_codes": [p.returncode for p in procs],
            "wall_s": round(wall, 2),
            "trials_per_min": round(search.finished / wall * 60, 1),
            "statements": statements,
            "round_trips_per_trial": round(statements / max(search.finished, 1), 1),
        }
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def table(rows: list[dict[str, Any]]) -> str:
    base = rows[0]["trials_per_min"]
    lines = [
        "| agents | trials | wall (s) | trials/min | vs 1 agent | failed | retried | "
        "round trips/trial |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['agents']} | {r['trials']} | {r['wall_s']} | {r['trials_per_min']} | "
            f"{r['trials_per_min'] / base:.2f}x | {r['failed']} | {r['retried']} | "
            f"{r['round_trips_per_trial']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="6 trials of 1 epoch")
    args = parser.parse_args()
    trials, epochs = (6, 1) if args.quick else (args.trials, args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run_agents(n, trials, epochs, Path(tmp)) for n in args.agents]
    md = table(rows)
    print(md)
    if args.quick:
        return
    RESULTS.mkdir(exist_ok=True)
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "trials": trials,
        "epochs": epochs,
        "task": "digits-mlp (hidden 64)",
    }
    (RESULTS / "agents.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    header = (
        f"Agents on PostgreSQL ({meta['date']}, {meta['cpus']} CPUs): {trials} trials of "
        f"{epochs} epochs of digits-mlp, `lrsearch worker --of N` each.\n\n"
    )
    (RESULTS / "agents.md").write_text(header + md + "\n")


if __name__ == "__main__":
    main()
