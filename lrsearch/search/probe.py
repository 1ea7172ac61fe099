"""The agent-side check of a task, run in a child process by ``lrsearch search`` and ``submit``.

The coordinator never imports torch: the catalog gives a built-in task's metric and direction.
A task the catalog cannot check alone (a ``python:`` task: its import, its options, the metrics
it reports; a built-in task that reads a data file: the file and its columns) is loaded once
here, as an agent would load it, so a bad task fails before any agent starts, with the same
one-line error as before. Importing this module imports neither torch nor the tasks.

Protocol: the spec as JSON on stdin; on stdout one JSON object, ``{"metric", "direction"}``
or ``{"field", "reason"}`` (exit code 2). Whatever the task prints goes to stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from lrsearch.errors import InvalidInputError, LRSearchError
from lrsearch.spec import Direction, SearchSpec, parse_spec


def probe_task(spec: SearchSpec) -> tuple[str, Direction]:
    """Load ``spec``'s task in a child process; its metric and direction, or its error."""
    result = subprocess.run(
        [sys.executable, "-m", "lrsearch.search.probe"],
        input=json.dumps(spec.to_json_dict()),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    try:
        answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise LRSearchError(
            f"checking task {spec.task!r} failed (exit code {result.returncode}); "
            "see the messages above"
        ) from None
    if "reason" in answer:
        raise InvalidInputError(str(answer["field"]), str(answer["reason"]))
    direction: Direction = "maximize" if answer["direction"] == "maximize" else "minimize"
    return str(answer["metric"]), direction


def _check(spec: SearchSpec) -> dict[str, str]:
    from lrsearch.tasks.registry import load_task

    assert spec.task is not None  # only tasks are probed
    try:
        task = load_task(spec.task, spec.task_options)
        metric, direction = spec.resolved_metric(task.metric_directions(), task.default_metric)
    except InvalidInputError as exc:
        return {"field": exc.field, "reason": exc.reason}
    except Exception as exc:  # the user's factory failed: say so in one line
        return {"field": "task", "reason": f"building the task failed: {type(exc).__name__}: {exc}"}
    return {"metric": metric, "direction": direction}


def main() -> None:
    """Read a spec on stdin, load its task, answer on stdout (see the module docstring)."""
    spec = parse_spec(json.loads(sys.stdin.read()))
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # the task's own prints (Python's or a C library's) go to stderr
    answer = _check(spec)
    sys.stdout.flush()
    with os.fdopen(answer_fd, "w") as out:
        out.write(json.dumps(answer) + "\n")
    raise SystemExit(2 if "reason" in answer else 0)


if __name__ == "__main__":
    main()
