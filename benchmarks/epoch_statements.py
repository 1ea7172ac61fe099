"""Database statements per epoch of a worker: without a pruner and with each pruner of lrsearch.

    PYTHONPATH=. .venv/bin/python benchmarks/epoch_statements.py

Runs the same small search (one worker, in process, a fresh SQLite file) at E and 2E epochs
per trial and prints the worker's statement count (``WorkerSummary.statements``) for each;
the marginal cost of an epoch is (S(2E) - S(E)) / (epochs trained at 2E - epochs at E), so
what a trial costs once (claim, ask, suggest, tell, record) cancels out. Heartbeats are pushed
out of the run so they do not count.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lrsearch.config import Settings
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec


def _spec(pruner: str, epochs: int) -> dict[str, Any]:
    return {
        "name": "epochs",
        "task": "digits-mlp",
        "task_options": {"hidden": 16},
        "budget": {"trials": 8, "epochs": epochs},
        "search": {"sampler": "random", "seed": 0, "pruner": pruner, "startup_trials": 2},
        "space": {"families": ["constant", "cosine"], "lr": [0.01, 0.3], "optimizers": ["sgd"]},
        "baselines": False,
    }


def _run(pruner: str, epochs: int) -> tuple[int, int]:
    """(statements, epochs trained) of one worker over the whole search."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'e.db'}"
        prepare_search(url, parse_spec(_spec(pruner, epochs)))
        settings = Settings(storage_url=url, heartbeat_s=3600)
        summary = run_worker(url, "epochs", threads=1, settings=settings)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            trained = conn.execute(sa.text("SELECT count(*) FROM lr_epoch_metrics")).scalar_one()
        engine.dispose()
        return summary.statements, int(trained)


def main(epochs: int = 10) -> None:
    for pruner in ("none", "median", "schedule", "anneal"):
        small, large = _run(pruner, epochs), _run(pruner, 2 * epochs)
        per_epoch = (large[0] - small[0]) / max(1, large[1] - small[1])
        print(
            f"pruner={pruner}: {small[0]} statements / {small[1]} epochs at E={epochs}, "
            f"{large[0]} / {large[1]} at E={2 * epochs}: {per_epoch:.2f} statements per epoch"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
