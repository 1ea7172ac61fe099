"""Whether a ``--device`` can run trials on this machine, asked before anything starts.

``device_problem`` asks torch (an agent has it loaded anyway). The ``lrsearch search``
coordinator never loads torch: ``probe_device`` asks the same question in a child process,
only for a device other than ``cpu`` and ``auto``.

>>> device_problem("cpu") is None
True
"""

from __future__ import annotations

import subprocess
import sys

ALWAYS_THERE = ("cpu", "auto")
PROBE_TIMEOUT_S = 120.0


def device_problem(device: str) -> str | None:
    """Why ``device`` (cpu, auto, cuda, cuda:N, mps) cannot be used here, or None."""
    if device in ALWAYS_THERE:
        return None
    import torch

    if device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            return "'mps' is not available: this machine has no Apple GPU that torch can use"
        return None
    if not torch.cuda.is_available():
        why = (
            f"this torch ({torch.__version__}) is built without CUDA"
            if torch.version.cuda is None
            else "torch sees no CUDA device (check the driver and CUDA_VISIBLE_DEVICES)"
        )
        return f"{device!r} is not available: {why}; use --device cpu"
    index = device.partition(":")[2]
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        have = ", ".join(f"cuda:{i}" for i in range(count))
        plural = "device" if count == 1 else "devices"
        return f"{device!r} is not available: this machine has {count} CUDA {plural} ({have})"
    return None


def probe_device(device: str) -> str | None:
    """``device_problem`` answered by a child process (this one does not import torch)."""
    if device in ALWAYS_THERE:
        return None
    command = [sys.executable, "-m", "lrsearch.search.devices", device]
    done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    if done.returncode == 0:
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[-1] if lines else f"cannot check {device!r} (exit code {done.returncode})"


if __name__ == "__main__":
    problem = device_problem(sys.argv[1])
    if problem is not None:
        print(problem)
        raise SystemExit(2)
