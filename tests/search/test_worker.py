"""Workers with the trial ledger injected, on real databases: what an agent does when things
go wrong around it (a study it cannot load, a lease reaped under it, a study replaced under the
same name, a crash in the middle of re-queueing a trial)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.errors import StoreUnavailable
from lrsearch.search.ledger import RunningTrial, TrialLedger
from lrsearch.search.ledger import optuna_calls as oc
from lrsearch.search.ledger.reaping import Reaper
from lrsearch.search.objective import configure
from lrsearch.search.worker import Worker
from lrsearch.service.create import open_search
from lrsearch.space import baseline_attrs, baseline_configs
from lrsearch.spec import parse_spec

SpecFactory = Callable[..., dict[str, Any]]


def _settings(url: str, **overrides: Any) -> Settings:
    # No heartbeat during these tests: they reap by hand, at the moment they test.
    return Settings(storage_url=url, heartbeat_s=3600, stale_after_s=30, **overrides)


@pytest.fixture
def ledger(db_url: str) -> Iterator[TrialLedger]:
    store.upgrade(db_url)
    made = TrialLedger(_settings(db_url))
    yield made
    made.close()


def _create(ledger: TrialLedger, data: dict[str, Any]) -> store.Search:
    """A search as the service creates it (no task loading: the agents find out)."""
    return open_search(
        ledger.engine,
        ledger.storage,
        parse_spec(data),
        metric="val_accuracy",
        direction="maximize",
        resume=False,
    )


def _worker(ledger: TrialLedger, study: str | None = None) -> Worker:
    return Worker(
        str(ledger.engine.url.render_as_string(hide_password=False)),
        study=study,
        settings=ledger.settings,
        threads=1,
        ledger=ledger,
    )


def _trials(ledger: TrialLedger, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=ledger.storage).get_trials()


def _age(ledger: TrialLedger, lease_id: int) -> None:
    """The lease's worker last beat a minute ago."""
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
            {"t": datetime.now(UTC) - timedelta(seconds=60), "i": lease_id},
        )


def test_a_worker_with_an_injected_ledger_runs_a_small_search(
    ledger: TrialLedger, make_spec: SpecFactory
) -> None:
    _create(ledger, make_spec(name="small", budget={"trials": 3, "epochs": 2}))
    summary = _worker(ledger, "small").run()
    assert (summary.complete, summary.failed, summary.lost) == (3, 0, 0)
    assert summary.statements > 0
    search = ledger.find("small")
    assert search is not None and (search.n_complete, search.status) == (3, "done")
    for trial in _trials(ledger, "small"):
        rows = store.epochs_of(ledger.engine, "small", trial.number)
        assert [r["value"] for r in rows] == [trial.intermediate_values[e] for e in (0, 1)]


def _down_once(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """The next call of ``store.<name>`` finds the database down; later ones work."""
    real, calls = getattr(store, name), []

    def down_once(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise StoreUnavailable("cannot reach the database: the server is starting up")
        return real(*args)

    monkeypatch.setattr(store, name, down_once)
    return calls


def test_start_up_rides_out_an_outage(
    db_url: str, make_spec: SpecFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening the storage, checking the schema and loading the search are retried too."""
    store.upgrade(db_url)
    calls = [_down_once(monkeypatch, "make_optuna_storage")]
    ledger = TrialLedger(_settings(db_url))
    try:
        _create(ledger, make_spec(name="later", budget={"trials": 1, "epochs": 1}))
        calls += [_down_once(monkeypatch, n) for n in ("ensure_current", "find_search")]
        assert _worker(ledger, "later").run().complete == 1
    finally:
        ledger.close()
    assert all(len(c) >= 2 for c in calls)  # each was down once, then tried again


def test_a_study_that_cannot_load_is_failed_and_the_agent_moves_on(
    ledger: TrialLedger, make_spec: SpecFactory, tmp_path: Path
) -> None:
    secret = "SECRET-CELL-4711"
    csv = tmp_path / "data.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{secret},{i % 2}\n" for i in range(20)))
    gone = tmp_path / "gone.csv"
    gone.write_text(csv.read_text())
    broken = {
        "missing-file": {"path": str(gone), "target": "y", "kind": "classification"},
        "no-such-column": {"path": str(csv), "target": "nope", "kind": "classification"},
    }
    for name, options in broken.items():
        _create(ledger, make_spec(name=name, task="tabular", task_options=options))
    _create(ledger, make_spec(name="no-module", task="python:no_such_module_xyz:make"))
    _create(ledger, make_spec(name="good", budget={"trials": 2, "epochs": 1}))
    gone.unlink()

    summary = _worker(ledger).run()  # serves every search: it must not stop at the first

    assert summary.complete == 2
    good = ledger.find("good")
    assert good is not None and good.status == "done"
    for name in (*broken, "no-module"):
        search = ledger.find(name)
        assert search is not None and search.status == "failed", name
        assert search.error and search.error.startswith("cannot load the search"), search.error
        assert secret not in search.error and "\n" not in search.error
    assert "no such file" in (ledger.find("missing-file").error or "")  # type: ignore[union-attr]
    assert "no_such_module_xyz" in (ledger.find("no-module").error or "")  # type: ignore[union-attr]


def test_an_agent_with_only_a_broken_study_exits_cleanly(
    ledger: TrialLedger, make_spec: SpecFactory
) -> None:
    _create(ledger, make_spec(name="bad", task="python:no_such_module_xyz:make"))
    summary = _worker(ledger, "bad").run()
    assert (summary.complete, summary.failed) == (0, 0)
    assert ledger.find("bad").status == "failed"  # type: ignore[union-attr]


class _ReapedMidTrial(TrialLedger):
    """At trial 0's second epoch, another agent reaps this agent's lease (as after SIGSTOP
    and SIGCONT, or an outage longer than the stale window)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.other = TrialLedger(settings)

    def report(
        self, run: RunningTrial, epoch: int, metrics: Mapping[str, float], value: float
    ) -> bool:
        if run.number == 0 and epoch == 1 and run.attempt == 1:
            _age(self, run.lease.id)
            assert self.other.reap() == 1
        return super().report(run, epoch, metrics, value)


def test_an_agent_whose_lease_was_reaped_drops_the_trial_and_goes_on(
    db_url: str, make_spec: SpecFactory
) -> None:
    store.upgrade(db_url)
    ledger = _ReapedMidTrial(_settings(db_url))
    try:
        _create(ledger, make_spec(name="reaped", budget={"trials": 3, "epochs": 3}))
        summary = _worker(ledger, "reaped").run()  # no UpdateFinishedTrialError, no exit 1
        trials = _trials(ledger, "reaped")
        search = ledger.find("reaped")
    finally:
        ledger.other.close()
        ledger.close()
    assert (summary.complete, summary.lost) == (3, 1)
    lost = trials[0]
    assert lost.state.name == "FAIL" and lost.user_attrs["fail_reason"] == "worker lost"
    (rerun,) = [t for t in trials if t.user_attrs.get("retry_of") == 0]
    assert rerun.state.name == "COMPLETE" and rerun.params == lost.params
    assert rerun.user_attrs["attempt"] == 2
    assert search is not None
    assert (search.n_complete, search.n_retried, search.status) == (3, 1, "done")


def test_a_study_deleted_and_created_again_under_its_name_runs_the_new_spec(
    ledger: TrialLedger, make_spec: SpecFactory
) -> None:
    def spec(family: str) -> dict[str, Any]:
        space = {"families": [family], "lr": [0.05, 0.1], "optimizers": ["sgd"]}
        return make_spec(name="same", budget={"trials": 1, "epochs": 1}, space=space)

    worker = _worker(ledger)
    _create(ledger, spec("constant"))
    assert worker.run().complete == 1
    store.delete_search(ledger.engine, "same")
    ledger.storage.delete_study(ledger.storage.get_study_id_from_name("same"))
    _create(ledger, spec("cosine"))
    assert worker.run().complete == 2  # the same agent, its cache warm
    (trial,) = _trials(ledger, "same")
    assert trial.state.name == "COMPLETE" and trial.params["family"] == "cosine"


class _Killed(BaseException):
    """The process dies here (SIGKILL), in the middle of a re-queue."""


@pytest.mark.parametrize("how", ["reaped", "abandoned"])
def test_a_requeue_cut_short_by_a_kill_is_completed_by_another_agent(
    ledger: TrialLedger,
    make_spec: SpecFactory,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    search = _create(ledger, make_spec(name="cut"))
    study = optuna.load_study(study_name="cut", storage=ledger.storage)
    lease = ledger.claim(search, "victim")
    assert lease is not None
    run = ledger.start(search, study, lease, ledger.ask(study, lease))
    assert run is not None
    configure(ledger, run, parse_spec(make_spec(name="cut")))  # its parameters are suggested

    with monkeypatch.context() as patch:

        def killed(self: Reaper, pending: store.PendingRequeue) -> None:
            raise _Killed

        patch.setattr(Reaper, "requeue", killed)
        with pytest.raises(_Killed):
            if how == "reaped":
                _age(ledger, lease.id)
                ledger.reap()
            else:
                ledger.abandon(run)  # SIGTERM, then SIGKILL before the re-queue

    other = TrialLedger(_settings(str(ledger.engine.url.render_as_string(hide_password=False))))
    try:
        assert other.reap() == 0  # too early: the closer may still be on it
        assert [t.state.name for t in _trials(ledger, "cut")] == ["RUNNING"]  # not an orphan
        _age(ledger, lease.id)  # the closer has been silent for the stale window
        other.reap()
        other.reap()  # safe to repeat: one re-run, not two
    finally:
        other.close()
    first, *rest = _trials(ledger, "cut")
    assert first.state.name == "FAIL"
    assert first.user_attrs["fail_reason"] == ("worker lost" if how == "reaped" else "interrupted")
    (again,) = rest
    assert again.state.name == "WAITING"
    assert again.system_attrs["fixed_params"] == first.params  # the same parameters
    assert again.user_attrs == {"retry_of": 0, "attempt": 2 if how == "reaped" else 1}
    found = ledger.find("cut")
    assert found is not None and (found.trials_claimed, found.n_retried) == (0, 1)


def test_a_slow_closer_and_the_reaper_that_took_over_queue_the_trial_once(
    ledger: TrialLedger, make_spec: SpecFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The closer of a lease stalls past the stale window in the middle of its re-queue (a
    starved host); another agent's reaper takes the re-queue over and completes it; then the
    closer goes on. The parameters are queued once, not once by each (the chaos kill storm)."""
    search = _create(ledger, make_spec(name="slow"))
    study = optuna.load_study(study_name="slow", storage=ledger.storage)
    lease = ledger.claim(search, "victim")
    assert lease is not None
    run = ledger.start(search, study, lease, ledger.ask(study, lease))
    assert run is not None
    configure(ledger, run, parse_spec(make_spec(name="slow")))
    other = TrialLedger(_settings(str(ledger.engine.url.render_as_string(hide_password=False))))
    real_trials_in = oc.trials_in
    stalled: list[bool] = []

    def stall(study: optuna.Study, states: Any) -> list[optuna.trial.FrozenTrial]:
        seen = real_trials_in(study, states)
        if not stalled:  # the closer has looked for a re-run and found none: it stalls here
            stalled.append(True)
            _age(ledger, lease.id)
            other.reap()  # takes the pending re-queue over and completes it
        return seen

    try:
        monkeypatch.setattr(oc, "trials_in", stall)
        _age(ledger, lease.id)
        ledger.reap()  # the closer: reaps the lease, stalls, then finishes its re-queue
    finally:
        other.close()
    assert stalled
    first, *rest = _trials(ledger, "slow")
    assert first.state.name == "FAIL" and first.user_attrs["fail_reason"] == "worker lost"
    assert [t.user_attrs.get("retry_of") for t in rest] == [0]  # one re-run, not two


def test_a_reserved_trial_started_by_another_worker_is_left_to_it(
    ledger: TrialLedger, make_spec: SpecFactory
) -> None:
    """A worker reserves a queued trial and dies before starting it: its lease is reaped and
    the trial stays queued; another worker starts it. Completing the dead lease's re-queue
    later must neither fail that worker's live trial nor queue its parameters again."""
    search = _create(ledger, make_spec(name="taken"))
    study = optuna.load_study(study_name="taken", storage=ledger.storage)
    name, config = baseline_configs(parse_spec(make_spec(baselines=True)))[0]
    study.enqueue_trial({}, user_attrs=baseline_attrs(name, config))  # a queued trial
    queued = study.get_trials(states=(optuna.trial.TrialState.WAITING,))[0]
    dead = ledger.claim(search, "dead")
    assert dead is not None
    assert store.reserve_trial(ledger.engine, dead, queued._trial_id)
    _age(ledger, dead.id)
    assert ledger.reap() == 1  # the trial stays queued
    lease = ledger.claim(search, "alive")
    assert lease is not None
    run = ledger.start(search, study, lease, ledger.ask(study, lease))
    assert run is not None and run.number == queued.number  # the queued trial, now live
    _age(ledger, dead.id)  # the dead lease's re-queue is due
    ledger.reap()
    trials = _trials(ledger, "taken")
    assert trials[queued.number].state.name == "RUNNING"
    assert not [t for t in trials if "retry_of" in t.user_attrs]
    assert ledger.finish(run, store.Outcome.COMPLETE, value=0.5, config={"x": 1})


def test_a_claim_whose_reply_was_lost_takes_one_slot(
    ledger: TrialLedger, make_spec: SpecFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim commits, the reply is lost (a proxy drops it, the server restarts): the retry
    finds that claim instead of taking a second slot that would sit idle until reaped."""
    search = _create(ledger, make_spec(name="lost", budget={"trials": 2, "epochs": 1}))
    real, calls = store.claim_trial, []

    def reply_lost_once(*args: Any, **kwargs: Any) -> Any:
        lease = real(*args, **kwargs)
        calls.append(lease)
        if len(calls) == 1:
            raise StoreUnavailable("server closed the connection unexpectedly")
        return lease

    monkeypatch.setattr(store, "claim_trial", reply_lost_once)
    lease = ledger.claim(search, "host:1")
    assert len(calls) == 2 and lease is not None and lease.id == calls[0].id
    found = ledger.find("lost")
    assert found is not None and found.trials_claimed == 1
    monkeypatch.undo()
    other = ledger.claim(search, "host:2")  # another worker's claim is its own
    assert other is not None and other.id != lease.id


def test_a_rerun_lost_before_it_suggested_keeps_the_parameters(
    ledger: TrialLedger, make_spec: SpecFactory
) -> None:
    """Lost once mid-trial, its re-run lost again before it suggested anything: the third
    attempt still trains the first one's parameters (they live in the re-run's fixed_params)."""
    search = _create(ledger, make_spec(name="twice"))
    study = optuna.load_study(study_name="twice", storage=ledger.storage)
    spec = parse_spec(make_spec(name="twice"))
    lease = ledger.claim(search, "first")
    assert lease is not None
    run = ledger.start(search, study, lease, ledger.ask(study, lease))
    assert run is not None
    configure(ledger, run, spec)  # suggested: lost mid-trial
    first = dict(run.trial.params)
    _age(ledger, lease.id)
    assert ledger.reap() == 1
    lease = ledger.claim(search, "second")
    assert lease is not None
    rerun = ledger.start(search, study, lease, ledger.ask(study, lease))
    assert rerun is not None and rerun.user_attrs["retry_of"] == run.number
    _age(ledger, lease.id)  # lost before configure(): no parameter suggested yet
    assert ledger.reap() == 1
    (third,) = [t for t in _trials(ledger, "twice") if t.state.name == "WAITING"]
    assert third.user_attrs["retry_of"] == rerun.number and third.user_attrs["attempt"] == 3
    assert third.system_attrs["fixed_params"] == first
