"""How fast schedules render: ``curve(spec, 100_000)`` for every family, and the torch adapter.

    .venv/bin/python benchmarks/curve_bench.py

For each family (defaults, 5% warmup) the best of 5 renderings of 100,000 steps, against a
Python loop of ``lr_at`` over the same steps (1,000 of them, scaled) as the naive baseline.
Writes benchmarks/results/curve.json and curve.md.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from lrsearch.schedules import ScheduleSpec, curve, families, lr_at

STEPS = 100_000
RESULTS = Path(__file__).resolve().parent / "results"


def best_of(fn: object, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    rows = []
    for family in families():
        spec = ScheduleSpec.create(family.name, lr=0.1, warmup_fraction=0.05)
        vectorized = best_of(lambda s=spec: curve(s, STEPS))
        looped = best_of(lambda s=spec: [lr_at(s, k, STEPS) for k in range(1000)], 3)
        rows.append(
            {
                "family": family.name,
                "curve_100k_ms": round(vectorized * 1000, 2),
                "lr_at_loop_100k_ms_estimated": round(looped * 100 * 1000, 1),
            }
        )
    worst = max(r["curve_100k_ms"] for r in rows)
    lines = [
        f"`curve(spec, {STEPS:,})` per family, best of 5 ({datetime.now(UTC):%Y-%m-%d}, "
        f"{os.cpu_count()} CPUs). Target: well under a second. Slowest: {worst} ms.",
        "",
        "| family | curve, 100k steps (ms) | lr_at in a Python loop, 100k steps (ms, from 1k) |",
        "| --- | --- | --- |",
        *(
            f"| {r['family']} | {r['curve_100k_ms']} | {r['lr_at_loop_100k_ms_estimated']} |"
            for r in rows
        ),
    ]
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "curve.json").write_text(json.dumps({"steps": STEPS, "rows": rows}, indent=2))
    (RESULTS / "curve.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
