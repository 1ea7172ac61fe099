"""What a command trial costs: the report round trip, the wall time against a function trial,
and the memory of the worker beside its child.

    PYTHONPATH=. .venv/bin/python benchmarks/trial_bench.py [--reports 2000] [--seconds 8]

1. **Report round trip**, timed inside a real child process around ``trial.report`` (from
   ``lrsearch.trial.current()``, over the Unix socket), two ways: *channel only* (the worker's
   backend records nothing: the protocol's own cost) and *with the database* (a real search,
   one trial, on a SQLite file and on PostgreSQL: the ledger records the report and asks the
   pruner before answering, so the decision is never late).
2. **Command vs function trial**: the same training (benchmarks/trial_training.py, one torch
   thread) run by the FunctionRunner in this process and by the CommandRunner as a child,
   alternating, 3 times each; the interpreter's start-up (``python -c "import torch,
   lrsearch.trial"``) is measured apart and reported beside the ratio.
3. **Memory**: a real ``lrsearch worker`` process running a command trial; peak RSS of the
   worker and of its child, sampled from /proc every 50 ms.

Writes benchmarks/results/trial.json and trial.md (with the machine and its load).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import torch

from lrsearch.config import Settings
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.local import prepare_search
from lrsearch.search.runners import CommandRunner, FunctionRunner, TrialBackend
from lrsearch.search.worker import Worker
from lrsearch.spec import parse_spec
from lrsearch.trial import Trial, TrialBudget

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TRAINING = ROOT / "benchmarks" / "trial_training.py"
ADMIN_URL = os.environ.get(
    "LRSEARCH_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def bench_trial(workdir: Path, steps: int, evals: int) -> Trial:
    return Trial(
        number=0,
        params={},
        schedule=ScheduleSpec.create("cosine", lr=0.01),
        optimizer="adamw",
        optimizer_params={},
        seed=0,
        budget=TrialBudget(steps=steps, evals=evals),
        metric="val_loss",
        direction="minimize",
        workdir=workdir,
    )


def ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1e3,
        "mean_ms": statistics.fmean(ordered) * 1e3,
        "n": len(ordered),
    }


def _times_from_log(log: Path) -> list[float]:
    for line in reversed(log.read_text().splitlines()):
        if line.startswith('{"report_s"'):
            times: list[float] = json.loads(line)["report_s"]
            return times[10:]  # the first few pay for connecting and warming up
    raise RuntimeError(f"no timings in {log}: {log.read_text()[-2000:]}")


def channel_only(tmp: Path, n: int) -> dict[str, float]:
    runner = CommandRunner([sys.executable, str(TRAINING), "--reports", str(n)], env=ENV)
    trial = bench_trial(tmp / "channel", steps=n, evals=n)
    result = runner.run(trial, TrialBackend("val_loss"))
    assert result.exit_code == 0, result.reason
    return ms(_times_from_log(trial.workdir / "trial.log"))


def with_database(tmp: Path, url: str, n: int) -> dict[str, float]:
    name = f"bench-{uuid.uuid4().hex[:6]}"
    spec = {
        "name": name,
        "command": [sys.executable, str(TRAINING), "--reports", str(n)],
        "env": ENV,
        "metric": "val_loss",
        "direction": "minimize",
        "budget": {"trials": 1, "steps": n, "evals": min(n, 10_000)},
        "search": {"sampler": "random", "pruner": "median", "startup_trials": 0},
        "space": {"families": ["cosine"], "optimizers": ["adamw"]},
        "baselines": False,
    }
    settings = Settings(storage_url=url, runs_dir=str(tmp / "runs"))
    prepare_search(settings, parse_spec(spec))
    Worker(url, study=name, settings=settings, threads=1).run()
    return ms(_times_from_log(tmp / "runs" / name / "trial-0" / "trial.log"))


def postgres_url() -> tuple[str, sa.Engine] | None:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lrsearch_trial_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        return None
    return admin.url.set(database=name).render_as_string(hide_password=False), admin


def drop(url: str, admin: sa.Engine) -> None:
    name = sa.make_url(url).database
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def calibrate(tmp: Path, seconds: float) -> int:
    """Steps of the training that take about ``seconds`` here (as a function trial)."""
    from benchmarks.trial_training import fit

    torch.set_num_threads(1)
    for steps in (100, 300):  # the first warms torch up
        trial = bench_trial(tmp / "calibrate", steps=steps, evals=10)
        trial.reporter = TrialBackend("val_loss")
        started = time.perf_counter()
        fit(trial)
    per_step = (time.perf_counter() - started) / 300
    return max(100, int(seconds / per_step) // 10 * 10)


def startup_s() -> float:
    code = "import torch, lrsearch.trial"
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, **ENV})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def command_vs_function(tmp: Path, steps: int) -> dict[str, Any]:
    from benchmarks.trial_training import fit

    function = FunctionRunner(fit, "benchmarks.trial_training:fit")
    command = CommandRunner([sys.executable, str(TRAINING)], env=ENV)
    walls: dict[str, list[float]] = {
        "function": [],
        "command": [],
        "child_fit": [],
        "fresh_fit": [],
    }
    for rep in range(4):  # the first of each is a discarded warm-up
        for kind, runner in (("function", function), ("command", command)):
            trial = bench_trial(tmp / f"{kind}-{rep}", steps=steps, evals=10)
            started = time.perf_counter()
            result = runner.run(trial, TrialBackend("val_loss"))
            wall = time.perf_counter() - started
            assert result.outcome.value == "complete", result.reason
            if rep:
                walls[kind].append(wall)
                if kind == "command":
                    walls["child_fit"].append(_fit_from_log(trial.workdir / "trial.log"))
                    walls["fresh_fit"].append(fresh_fit(steps))
    start = startup_s()
    f, c = statistics.median(walls["function"]), statistics.median(walls["command"])
    fit_in_child = statistics.median(walls["child_fit"])
    fresh = statistics.median(walls["fresh_fit"])
    return {
        "steps": steps,
        "function_s": walls["function"],
        "command_s": walls["command"],
        "child_fit_s": walls["child_fit"],
        "function_median_s": f,
        "command_median_s": c,
        "child_fit_median_s": fit_in_child,
        "ratio": c / f,
        "startup_s": start,
        "ratio_without_startup": (c - start) / f,
        "fit_ratio": fit_in_child / f,
        "fresh_fit_s": walls["fresh_fit"],
        "fresh_fit_median_s": fresh,
        "fresh_fit_ratio": fresh / f,
        "child_over_fresh": fit_in_child / fresh,
    }


def fresh_fit(steps: int) -> float:
    """The same training in a fresh process with a standalone Trial: no worker, no channel."""
    done = subprocess.run(
        [sys.executable, str(TRAINING), "--standalone", str(steps)],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["fit_s"])


def _fit_from_log(log: Path) -> float:
    for line in reversed(log.read_text().splitlines()):
        if line.startswith('{"fit_s"'):
            return float(json.loads(line)["fit_s"])
    raise RuntimeError(f"no fit time in {log}")


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def memory(tmp: Path, steps: int) -> dict[str, float]:
    url = f"sqlite:///{tmp / 'memory.db'}"
    spec = {
        "name": "memory",
        "command": [sys.executable, str(TRAINING)],
        "env": ENV,
        "metric": "val_loss",
        "direction": "minimize",
        "budget": {"trials": 1, "steps": steps, "evals": 10},
        "search": {"sampler": "random", "pruner": "none"},
        "space": {"families": ["cosine"], "optimizers": ["adamw"]},
        "baselines": False,
    }
    prepare_search(Settings(storage_url=url), parse_spec(spec))
    worker = subprocess.Popen(
        [sys.executable, "-m", "lrsearch", "worker", "--study", "memory", "--storage", url],
        cwd=tmp,
        env={**os.environ, **ENV, "LRSEARCH_RUNS_DIR": str(tmp / "runs")},
        stdout=subprocess.DEVNULL,
    )
    peak_worker = peak_child = 0
    while worker.poll() is None:
        peak_worker = max(peak_worker, rss_kb(worker.pid))
        peak_child = max([peak_child, *(rss_kb(c) for c in children(worker.pid))])
        time.sleep(0.05)
    return {"worker_peak_rss_mb": peak_worker / 1024, "child_peak_rss_mb": peak_child / 1024}


def machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "git_commit": commit,
    }


def report(data: dict[str, Any]) -> str:
    m, cvf, mem = data["machine"], data["command_vs_function"], data["memory"]
    load = data["load_average"]
    rows = [
        "# Command trials: report round trip, wall time, memory",
        "",
        "Written by `benchmarks/trial_bench.py`. Report round trips are timed inside the child, "
        "around `trial.report(...)` (the first 10 left out).",
        "",
        f"{m['date']} · {m['cpu_count']} CPUs · Python {m['python']} · torch {m['torch']} · "
        f"{m['platform']} · commit {m['git_commit']} · load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after (the cores are shared with other work: wall times are noisy)",
        "",
        "| report round trip | n | median | p99 | mean |",
        "|---|---|---|---|---|",
    ]
    for label, key in (
        ("channel only (the worker records nothing)", "channel_only"),
        ("with the database: SQLite file", "sqlite"),
        ("with the database: PostgreSQL", "postgresql"),
    ):
        r = data["reports"].get(key)
        if r is not None:
            rows.append(
                f"| {label} | {r['n']} | {r['median_ms']:.3f} ms | {r['p99_ms']:.3f} ms | "
                f"{r['mean_ms']:.3f} ms |"
            )
    channel = data["reports"]["channel_only"]["median_ms"]
    rows += [
        "",
        "| measurement | value | target | met? |",
        "|---|---|---|---|",
        f"| median `trial.report` round trip, channel only | {channel:.3f} ms | < 1 ms | "
        f"{'yes' if channel < 1 else 'no'} |",
        f"| command trial / function trial, wall ({cvf['steps']} steps, median of 3) | "
        f"{cvf['ratio']:.3f}x ({cvf['command_median_s']:.2f} s / "
        f"{cvf['function_median_s']:.2f} s) | <= 1.05x | "
        f"{'yes' if cvf['ratio'] <= 1.05 else 'no'} |",
        f"| the same without the child's interpreter start-up ({cvf['startup_s']:.2f} s: "
        f"python + import torch, lrsearch.trial) | {cvf['ratio_without_startup']:.3f}x | "
        f"<= 1.05x | {'yes' if cvf['ratio_without_startup'] <= 1.05 else 'no'} |",
        f"| the training alone, timed inside the child / the function trial | "
        f"{cvf['fit_ratio']:.3f}x ({cvf['child_fit_median_s']:.2f} s) | | |",
        f"| the training alone in a fresh process with a standalone Trial (no worker, no "
        f"channel) / the function trial | {cvf['fresh_fit_ratio']:.3f}x "
        f"({cvf['fresh_fit_median_s']:.2f} s) | | |",
        f"| the training inside the command trial / the same in a fresh standalone process | "
        f"{cvf['child_over_fresh']:.3f}x | | |",
        f"| peak RSS: worker process | {mem['worker_peak_rss_mb']:.0f} MB | | |",
        f"| peak RSS: its command trial (the child) | {mem['child_peak_rss_mb']:.0f} MB | | |",
        "",
        "Where the command trial's extra wall time goes: the child's interpreter and imports "
        "(measured apart above), and the training itself running slower in a fresh process "
        "than in the warm worker that ran the function trials (compare the fresh standalone "
        "process, which has no channel and no worker at all, with the command trial's child: "
        "the channel's share is their ratio). A function trial pays the fresh-process cost "
        "once per worker; a command trial pays it every trial: that is the price of running "
        "each trial in a process of its own, not of the channel.",
        "",
        "With the database, a report is answered after the ledger has recorded it (buffered "
        "epoch rows, Optuna's intermediate value) and the pruner has decided, so a prune "
        "decision is never one evaluation late; the extra time over the channel alone is those "
        "database round trips, paid once per validation, not per training step.",
        "",
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of one training")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    data: dict[str, Any] = {"machine": machine(), "reports": {}}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        data["reports"]["channel_only"] = channel_only(tmp, args.reports)
        data["reports"]["sqlite"] = with_database(tmp, f"sqlite:///{tmp / 'r.db'}", 500)
        made = postgres_url()
        if made is not None:
            url, admin = made
            try:
                data["reports"]["postgresql"] = with_database(tmp, url, 500)
            finally:
                drop(url, admin)
        steps = calibrate(tmp, args.seconds)
        data["command_vs_function"] = command_vs_function(tmp, steps)
        data["memory"] = memory(tmp, steps // 2)
    data["load_average"] = [load_before, os.getloadavg()[0]]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "trial.json").write_text(json.dumps(data, indent=2) + "\n")
    text = report(data)
    (RESULTS / "trial.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
