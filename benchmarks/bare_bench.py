"""N lrsearch agents against N bare training processes doing the same work.

    .venv/bin/python benchmarks/bare_bench.py [--agents 1 2] [--trials 16] [--epochs 40]
                                              [--task digits-mlp] [--postgres] [--quick]

One agent already uses every core through torch's threads, so comparing 2 agents with 1 says
little about the search's own cost. This compares like with like: for each N,

- **bare**: N processes, each importing torch and lrsearch's training loop and training
  trials/N trials with `lrsearch.train.loop.train` (no reporter, no database), with torch's
  threads set to cores / N as an agent sets them;
- **agents**: a search whose space is one point (cosine to 0, a fixed LR, SGD, no warmup,
  no baselines, pruner `none`: every trial trains the same thing), submitted to a fresh
  database, then N real `lrsearch worker --of N` processes.

Both sides train the same number of trials of the same config, the seeds differing per trial.
Measured: wall time from spawning the processes to the last exit (start-up included), and the
span from the first trial's start to the last trial's end (start-up excluded: from the
children's own clocks on the bare side, from Optuna's trial times on the agents' side). The
ratio is bare / agents: 1.0 means the search costs nothing; the target is >= 0.95.
Writes benchmarks/results/bare.json and bare.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_URL = os.environ.get(
    "LRSEARCH_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
LR = 0.05
SPEC = """
name = "bare"
task = "{task}"
baselines = false
[budget]
trials = {trials}
epochs = {epochs}
[search]
sampler = "random"
seed = 0
pruner = "none"
[space]
families = ["cosine"]
lr = [{lr}, {lr}]
optimizers = ["sgd"]
warmup = [0.0, 0.0]
[space.params.cosine]
final_ratio = 0.0
"""


def bare_child(task_name: str, trials: int, epochs: int, first_seed: int, n: int) -> None:
    """Train ``trials`` trials back to back; print the training span (clock, after imports)."""
    import torch

    from lrsearch.schedules import ScheduleSpec
    from lrsearch.tasks.registry import load_task
    from lrsearch.train.loop import RunLength, train

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // n))
    task = load_task(task_name, {})
    metric = task.default_metric
    direction = task.metric_directions()[metric]
    schedule = ScheduleSpec.create("cosine", lr=LR, params={"final_ratio": 0.0})
    params = {"momentum": 0.9, "nesterov": True}  # lrsearch's sgd
    start = time.time()
    for i in range(trials):
        train(
            task,
            schedule,
            "sgd",
            params,
            length=RunLength(epochs=epochs),
            seed=first_seed + i,
            metric=metric,
            direction=direction,
        )
    print(json.dumps({"start": start, "end": time.time()}))


def run_bare(n: int, task: str, trials: int, epochs: int) -> dict[str, Any]:
    shares = [trials // n + (1 if i < trials % n else 0) for i in range(n)]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", task, str(k), str(epochs), str(1000 * i), str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, k in enumerate(shares)
    ]
    spans = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = time.perf_counter() - started
    span = max(s["end"] for s in spans) - min(s["start"] for s in spans)
    return {"wall_s": round(wall, 2), "train_span_s": round(span, 2)}


@contextmanager
def database(postgres: bool, folder: Path) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{folder / f'bare-{uuid.uuid4().hex[:6]}.db'}"
        return
    import sqlalchemy as sa

    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lrsearch_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_agents(
    n: int, task: str, trials: int, epochs: int, url: str, folder: Path
) -> dict[str, Any]:
    import optuna

    spec = folder / "bare.toml"
    spec.write_text(SPEC.format(task=task, trials=trials, epochs=epochs, lr=LR))
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
                "bare",
                "--storage",
                url,
                "--of",
                str(n),
                "--index",
                str(i),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(n)
    ]
    outputs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - started
    study = optuna.load_study(study_name="bare", storage=url)
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    assert len(done) == trials, f"{len(done)} of {trials} trials complete: {outputs}"
    first = min(t.datetime_start for t in done if t.datetime_start is not None)
    last = max(t.datetime_complete for t in done if t.datetime_complete is not None)
    statements = sum(
        int(line.rsplit(";", 1)[1].split()[0])
        for out in outputs
        for line in out.splitlines()
        if line.startswith("worker done:")
    )
    return {
        "wall_s": round(wall, 2),
        "train_span_s": round((last - first).total_seconds(), 2),
        "exit_codes": [p.returncode for p in procs],
        "statements_per_epoch": round(statements / (trials * epochs), 2),
    }


def measure(
    ns: list[int], task: str, trials: int, epochs: int, postgres: bool
) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in ns:
            bare = run_bare(n, task, trials, epochs)
            with database(postgres, Path(tmp)) as url:
                agents = run_agents(n, task, trials, epochs, url, Path(tmp))
            rows.append(
                {
                    "n": n,
                    "bare": bare,
                    "agents": agents,
                    "ratio_wall": round(bare["wall_s"] / agents["wall_s"], 3),
                    "ratio_span": round(bare["train_span_s"] / agents["train_span_s"], 3),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| N | bare wall (s) | agents wall (s) | bare/agents (wall) | bare span (s) | "
        "agents span (s) | bare/agents (span) | statements/epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        b, a = r["bare"], r["agents"]
        lines.append(
            f"| {r['n']} | {b['wall_s']} | {a['wall_s']} | {r['ratio_wall']:.3f} | "
            f"{b['train_span_s']} | {a['train_span_s']} | {r['ratio_span']:.3f} | "
            f"{a['statements_per_epoch']} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        task, trials, epochs, seed, n = sys.argv[2:7]
        bare_child(task, int(trials), int(epochs), int(seed), int(n))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--task", default="digits-mlp")
    parser.add_argument("--postgres", action="store_true", help="agents on PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="4 trials of 3 epochs; no files")
    parser.add_argument("--label", default="", help="a tag for this run in the results")
    args = parser.parse_args()
    trials, epochs = (4, 3) if args.quick else (args.trials, args.epochs)
    rows = measure(args.agents, args.task, trials, epochs, args.postgres)
    md = table(rows)
    print(md)
    if args.quick:
        return
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "task": args.task,
        "trials": trials,
        "epochs": epochs,
        "storage": "postgresql" if args.postgres else "sqlite",
        "label": args.label,
        "load": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    tag = f"bare-{meta['storage']}" + (f"-{args.label}" if args.label else "")
    (RESULTS / f"{tag}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    header = (
        f"N agents vs N bare processes ({meta['date']}, {meta['cpus']} CPUs, load "
        f"{meta['load'][0]:.2f}, {meta['storage']}): {trials} trials of {epochs} epochs of "
        f"{args.task}, the same config on both sides.\n\n"
    )
    (RESULTS / f"{tag}.md").write_text(header + md + "\n")


if __name__ == "__main__":
    main()
