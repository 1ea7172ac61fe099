"""Memory of a real ``lrsearch serve`` under concurrent large renders (loopback only).

    .venv/bin/python benchmarks/serve_memory.py [--clients 16] [--steps 1000000]

Starts ``lrsearch serve`` on a fresh SQLite file, sends ``--clients`` concurrent
``POST /v1/schedules/curve`` requests of ``--steps`` steps (one round, bounded), and prints
the server's RSS before, its peak (VmHWM) and after, and how the requests were answered
(200, or 429 when every render slot was busy). Adds the run, under ``--label``, to
benchmarks/results/serve_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

RESULTS = Path(__file__).resolve().parent / "results"


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of process ``pid`` from /proc, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(clients: int, steps: int) -> dict[str, object]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "lrsearch", "serve", "--port", str(port)]
        command += ["--storage", f"sqlite:///{tmp}/mem.db"]
        quiet = subprocess.DEVNULL
        proc = subprocess.Popen(command, cwd=tmp, stdout=quiet, stderr=quiet)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            body = {"schedule": {"family": "cosine", "lr": 0.1, "warmup": {"fraction": 0.05}}}
            httpx.post(f"{base}/v1/schedules/curve", json={**body, "steps": 10}, timeout=30)
            before = rss_mb(proc.pid)
            statuses: Counter[int] = Counter()
            sizes: list[int] = []

            def one() -> None:
                response = httpx.post(
                    f"{base}/v1/schedules/curve", json={**body, "steps": steps}, timeout=300
                )
                statuses[response.status_code] += 1
                sizes.append(len(response.content))

            threads = [threading.Thread(target=one) for _ in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
            time.sleep(1.0)
            return {
                "clients": clients,
                "steps": steps,
                "rss_before_mb": round(before, 1),
                "rss_peak_mb": round(rss_mb(proc.pid, "VmHWM"), 1),
                "rss_after_mb": round(rss_mb(proc.pid), 1),
                "statuses": dict(statuses),
                "largest_body_mb": round(max(sizes) / 1e6, 1),
                "seconds": round(seconds, 2),
            }
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--label", default="run")
    args = parser.parse_args()
    result = {**run(args.clients, args.steps), "cpus": os.cpu_count()}
    print(json.dumps({"label": args.label, **result}))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "serve_memory.json"
    runs = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**runs, args.label: result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
