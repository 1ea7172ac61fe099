"""A command trial that uses lrsearch: behaviour chosen by its first argument.

- ``ok``: reports a value per evaluation (trial 0: 0.0, others: 100.0), then exits 0.
- ``stubborn``: like ok, but ignores TrialPruned and SIGTERM and keeps running.
- ``crash``: writes to stderr and exits with code 3.
- ``silent``: exits 0 without reporting.
- ``hang``: writes its pid to $MARKER_DIR/child.pid and waits (unless $MARKER_DIR/again
  exists, then behaves like ok).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import lrsearch
from lrsearch.trial import current

mode = sys.argv[1]
if mode == "crash":
    print("about to fail", flush=True)
    print("ValueError: the data file is broken", file=sys.stderr, flush=True)
    raise SystemExit(3)
if mode == "silent":
    print("training without reporting")
    raise SystemExit(0)

trial = current()
marker = Path(os.environ.get("MARKER_DIR", "."))
if mode == "hang":
    if (marker / "again").exists():
        mode = "ok"
    else:
        (marker / "again").write_text("")
        (marker / "child.pid").write_text(str(os.getpid()))
        while True:
            time.sleep(0.1)

if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
value = 0.0 if trial.number == 0 else 100.0
evals = trial.budget.evals
for i in range(evals):
    time.sleep(float(os.environ.get("EVAL_S", "0.05")))
    try:
        trial.report(i * 10, val_loss=value + i * 0.001, lr=trial.schedule.lr)
    except lrsearch.TrialPruned:
        if mode != "stubborn":
            raise
        (marker / "stubborn.pruned").write_text(str(time.time()))
        while True:
            time.sleep(0.1)
print(f"done trial {trial.number} ({trial.optimizer}, {trial.schedule.family})")
