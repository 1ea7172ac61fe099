"""torchrun as a command trial: every rank gets the trial; a prune reaches both ranks at once."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.trial.test_command_trials import SCRIPTS, command_spec, run_search, trials_of


@pytest.mark.slow
def test_torchrun_two_ranks_on_cpu_are_pruned_together(tmp_path: Path) -> None:
    base = tmp_path
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    argv = [torchrun, "--standalone", "--nproc-per-node", "2", str(SCRIPTS / "ddp_trainer.py")]
    attempts = 3
    for attempt in range(1, attempts + 1):
        tmp_path = base / f"attempt{attempt}"
        tmp_path.mkdir()
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
        # gloo on the loopback interface, whatever the host name resolves to
        env = {"MARKER_DIR": str(tmp_path), "GLOO_SOCKET_IFNAME": "lo"}
        spec = command_spec(tmp_path, "", command=argv, env=env)
        run_search(url, tmp_path, spec, kill_grace_s=20.0)
        first, second = trials_of(url, "cmd")
        reason = str(first.user_attrs.get("fail_reason", ""))
        # In some full-suite runs (never alone) a gloo rank aborted in torch's own code
        # ("terminate called without an active exception", SIGABRT; twice in a row once): the
        # ranks now meet at a barrier before tearing the group down, and such a run is tried
        # again, up to three times in all.
        if attempt < attempts and first.state.name == "FAIL" and "SIGABRT" in reason:
            print(f"torchrun aborted; once more. {reason}\n{first.user_attrs.get('log_tail')}")
            continue
        break
    assert first.state.name == "COMPLETE" and first.value == pytest.approx(0.003), (
        first.user_attrs.get("fail_reason"),
        first.user_attrs.get("log_tail"),
    )
    assert {(tmp_path / f"trial0.rank{r}.done").read_text() for r in (0, 1)} == {"2"}
    assert second.state.name == "PRUNED" and sorted(second.intermediate_values) == [0, 1]
    # both ranks raised TrialPruned at the same report (the second), not one rank alone
    assert [(tmp_path / f"trial1.rank{r}.pruned").read_text() for r in (0, 1)] == ["1", "1"]
