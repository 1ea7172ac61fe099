"""Asking Optuna for a trial survives a lost reply: the write committed, the answer never came.

That is what a PostgreSQL restart does to the one statement in flight. The fault is injected
on real databases by letting the real write commit and then raising the error the driver
raises, once; the ledger's retry policy then asks again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from optuna.trial import TrialState

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.errors import StoreUnavailable
from lrsearch.search.ledger import LEASE_ATTR, TrialLedger
from lrsearch.search.ledger.asking import ask
from lrsearch.search.ledger.optuna_calls import trial_id
from lrsearch.service.create import open_search
from lrsearch.space import baseline_attrs, baseline_configs
from lrsearch.spec import parse_spec

SpecFactory = Callable[..., dict[str, Any]]


class Search:
    """A search on a real database, with the trial ledger a worker would use on it."""

    def __init__(self, url: str, spec: dict[str, Any]) -> None:
        store.upgrade(url)
        self.ledger = TrialLedger(Settings(storage_url=url, db_retry_s=30, stale_after_s=30))
        self.engine, self.storage = self.ledger.engine, self.ledger.storage
        parsed = parse_spec(spec)
        self.row = open_search(
            self.engine,
            self.storage,
            parsed,
            metric="val_accuracy",
            direction="maximize",
            resume=False,
        )
        self.name = parsed.name
        self.study = optuna.load_study(study_name=self.name, storage=self.storage)
        # Queued trials to ask for: the baselines, as a search queues them once its own trials
        # are finished (queued here at once: these tests are about asking, not about when).
        for baseline, config in baseline_configs(parsed):
            self.study.enqueue_trial({}, user_attrs=baseline_attrs(baseline, config))

    def claim(self, worker: str = "w") -> store.Lease:
        lease = self.ledger.claim(self.row, worker)
        assert lease is not None
        return lease

    def ask(self, lease: store.Lease) -> optuna.Trial:
        """As the worker asks: retried on database errors, told when a try is a retry."""
        return self.ledger.ask(self.study, lease)

    def reap(self, stale_after_s: float = 30) -> int:
        self.ledger.reaper.stale_after_s = stale_after_s
        return self.ledger.reap()

    def states(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for trial in self.study.get_trials(deepcopy=False):
            counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
        return counts


@pytest.fixture
def make_search(db_url: str, make_spec: SpecFactory) -> Iterator[Callable[..., Search]]:
    made: list[Search] = []

    def make(**overrides: Any) -> Search:
        search = Search(db_url, make_spec(**overrides))
        made.append(search)
        return search

    yield make
    for search in made:
        search.ledger.close()


def _lose_reply_once(
    monkeypatch: pytest.MonkeyPatch, owner: Any, method: str, error: Exception
) -> list[int]:
    """The next call of ``owner.method`` does its work (it commits), then raises ``error``."""
    real, calls = getattr(owner, method), []

    def committed_then_lost(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise error
        return result

    monkeypatch.setattr(owner, method, committed_then_lost)
    return calls


LOST = optuna.exceptions.StorageInternalError("server closed the connection unexpectedly")


def test_a_plain_ask_would_leave_an_orphan(
    make_search: Callable[..., Search], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why ask.py exists: Optuna's own ask, retried the same way, leaves a RUNNING orphan."""
    search = make_search(name="plain")
    _lose_reply_once(monkeypatch, search.storage, "_create_new_trial", LOST)
    search.ledger.retry(search.study.ask, "ask")
    assert search.states() == {"RUNNING": 2}


def test_a_lost_reply_when_creating_a_trial_leaves_no_orphan(
    make_search: Callable[..., Search], monkeypatch: pytest.MonkeyPatch
) -> None:
    search = make_search(name="create")
    lease = search.claim()
    calls = _lose_reply_once(monkeypatch, search.storage, "_create_new_trial", LOST)
    trial = search.ask(lease)
    assert len(calls) == 1  # created once; the retry found it by its lease
    assert search.states() == {"RUNNING": 1}
    assert search.storage.get_trial(trial_id(trial)).system_attrs[LEASE_ATTR] == lease.id
    assert store.start_trial(search.engine, lease, trial.number, trial_id(trial))
    assert store.start_trial(search.engine, lease, trial.number, trial_id(trial))  # repeatable


def test_a_lost_reply_when_starting_a_queued_trial_keeps_it(
    make_search: Callable[..., Search], monkeypatch: pytest.MonkeyPatch
) -> None:
    search = make_search(name="queued", baselines=True, budget={"trials": 9, "epochs": 2})
    assert search.states() == {"WAITING": 7}  # the baselines
    lease = search.claim()
    _lose_reply_once(monkeypatch, search.storage, "set_trial_state_values", LOST)
    trial = search.ask(lease)
    assert trial.user_attrs["baseline"] == "constant"  # the first queued trial, not a new one
    assert search.states() == {"RUNNING": 1, "WAITING": 6}
    assert store.reserved_trial_id(search.engine, lease) == trial_id(trial)


def test_a_lost_reply_when_reserving_keeps_the_reservation(
    make_search: Callable[..., Search], monkeypatch: pytest.MonkeyPatch
) -> None:
    search = make_search(name="reserve", baselines=True, budget={"trials": 9, "epochs": 2})
    lease = search.claim()
    calls = _lose_reply_once(
        monkeypatch, store, "reserve_trial", StoreUnavailable("database: gone")
    )
    trial = search.ask(lease)
    assert len(calls) == 1  # the retry found its reservation and did not reserve again
    assert trial.user_attrs["baseline"] == "constant"
    assert search.states() == {"RUNNING": 1, "WAITING": 6}


def test_workers_never_share_a_queued_trial(make_search: Callable[..., Search]) -> None:
    search = make_search(name="share", baselines=True, budget={"trials": 9, "epochs": 2})
    first, second = search.claim("a"), search.claim("b")
    queued = search.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert store.reserve_trial(search.engine, first, trial_id(queued[0]))
    assert not store.reserve_trial(search.engine, second, trial_id(queued[0]))  # held by a
    trial = search.ask(second)  # b skips the reserved trial and starts the next one
    assert trial_id(trial) == trial_id(queued[1])
    retry = ask(search.study, search.engine, first, retried=True)  # a's retry finds its own
    assert retry == trial_id(queued[0])
    assert search.states() == {"RUNNING": 2, "WAITING": 5}


def test_a_dead_workers_reservation_goes_back_to_the_queue(
    make_search: Callable[..., Search],
) -> None:
    search = make_search(name="dead", baselines=True, budget={"trials": 9, "epochs": 2})
    dead = search.claim("dead")
    queued = search.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert store.reserve_trial(search.engine, dead, trial_id(queued[0]))  # then it died
    _age_lease(search.engine, dead.id)
    assert search.reap() == 1
    assert search.states() == {"WAITING": 7}  # nothing failed, nothing enqueued twice
    trial = search.ask(search.claim("next"))
    assert trial_id(trial) == trial_id(queued[0])
    assert store.get_search(search.engine, "dead").trials_claimed == 1  # the slot came back


def test_a_lease_reaped_while_asking_cannot_start(make_search: Callable[..., Search]) -> None:
    search = make_search(name="late")
    lease = search.claim()
    trial = search.ask(lease)
    _age_lease(search.engine, lease.id)
    assert search.reap() == 1
    assert not store.start_trial(search.engine, lease, trial.number, trial_id(trial))


def test_an_unlinked_trial_is_an_orphan_only_once_its_lease_is_gone(
    make_search: Callable[..., Search],
) -> None:
    search = make_search(name="orphan")
    lease = search.claim()
    trial = search.ask(lease)  # created, not linked yet: its worker is still retrying
    time.sleep(1.2)
    assert store.heartbeat(search.engine, [lease.id]) == set()  # the worker is alive
    search.reap(stale_after_s=1.0)
    assert search.states() == {"RUNNING": 1}  # older than the timeout, but its lease holds it
    assert store.release_trial(search.engine, lease, "interrupted")
    search.reap(stale_after_s=1.0)
    assert search.states() == {"FAIL": 1}
    assert search.storage.get_trial(trial_id(trial)).user_attrs["fail_reason"] == "worker lost"


def _age_lease(engine: sa.Engine, lease_id: int) -> None:
    """The lease's worker last beat a minute ago."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
            {"t": datetime.now(UTC) - timedelta(seconds=60), "i": lease_id},
        )


def test_a_last_attempt_failed_by_one_reaper_is_not_abandoned_by_another(
    make_search: Callable[..., Search],
) -> None:
    """The race a kill storm found: reaper A closes the lease of a last attempt as failed for
    good; before A fails its Optuna trial, reaper B's orphan check sees a RUNNING trial whose
    lease is closed. B must fail it with the lease's reason, not as an abandoned attempt
    ("worker lost"), which would be owed a re-run that nothing queues."""
    search = make_search(name="last")
    lease = search.claim()
    trial = search.ask(lease)
    assert store.start_trial(search.engine, lease, trial.number, trial_id(trial))
    with search.engine.begin() as conn:
        conn.execute(sa.text("UPDATE lr_trials SET attempt = 3 WHERE id = :i"), {"i": lease.id})
    _age_lease(search.engine, lease.id)
    [stale] = store.stale_leases(search.engine, 30)
    reason = "worker lost (3 attempts)"
    assert store.reap_lease(search.engine, stale, 30, outcome=store.Outcome.FAILED, reason=reason)
    assert search.states() == {"RUNNING": 1}  # reaper A stops here, for now
    assert search.reap() == 0  # reaper B: nothing stale, one orphan
    assert search.states() == {"FAIL": 1}  # nothing queued again
    assert search.storage.get_trial(trial_id(trial)).user_attrs["fail_reason"] == reason
    assert store.get_search(search.engine, "last").n_failed == 1
