"""Confirmations: the top configs re-run on fresh seeds after the search, unpruned, outside the
space, on slots of their own; the best is then the best mean, with its uncertainty."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
import pytest
import sqlalchemy as sa

from lrsearch import store
from lrsearch.config import Settings
from lrsearch.errors import InvalidInputError
from lrsearch.schedules import ScheduleSpec
from lrsearch.search.ledger import TrialLedger
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.service import Backend
from lrsearch.service.confirmed import t975
from lrsearch.service.export import best_config, best_summary_line
from lrsearch.space.confirm import fresh_seed
from lrsearch.spec import parse_spec
from lrsearch.store import Outcome
from tests.search.searchutil import read_search

SpecFactory = Callable[..., dict[str, Any]]


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=store.make_optuna_storage(url))


def _config(lr: float, seed: int) -> dict[str, Any]:
    return {
        "schedule": ScheduleSpec.create("cosine", lr).to_dict(),
        "optimizer": "sgd",
        "optimizer_params": {"momentum": 0.9},
        "seed": seed,
    }


@pytest.mark.parametrize(
    ("confirm", "field", "words"),
    [
        ({"top_k": -1}, "search.confirm.top_k", "must be >= 0"),
        ({"top_k": 21}, "search.confirm.top_k", "must be <= 20"),
        ({"seeds": 1}, "search.confirm.seeds", "must be >= 2"),
        ({"seeds": 51}, "search.confirm.seeds", "must be <= 50"),
        ({"seeds": "3"}, "search.confirm.seeds", "valid integer"),
        ({"topk": 3}, "search.confirm.topk", "unknown field"),
        ("yes", "search.confirm", "must be true, false or a table"),
        (3, "search.confirm", "must be true, false or a table"),
    ],
)
def test_bad_confirm_settings_name_the_field(
    make_spec: SpecFactory, confirm: Any, field: str, words: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_spec(make_spec(search={"confirm": confirm}))
    assert caught.value.field == field
    assert words in str(caught.value)


def test_confirm_is_off_by_default_and_true_means_three_by_three(make_spec: SpecFactory) -> None:
    assert parse_spec(make_spec()).search.confirm.trials == 0
    on = parse_spec(make_spec(search={"confirm": True})).search.confirm
    assert (on.top_k, on.seeds, on.trials) == (3, 3, 9)
    assert parse_spec(make_spec(search={"confirm": False})).search.confirm.trials == 0
    custom = parse_spec(make_spec(search={"confirm": {"top_k": 2, "seeds": 4}}))
    assert custom.search.confirm.trials == 8
    # The stored spec (JSON) parses back to the same setting.
    again = parse_spec(custom.to_json_dict()).search.confirm
    assert (again.top_k, again.seeds) == (2, 4)


def test_t_quantiles_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in [1, 2, 3, 5, 10, 29, 30, 31, 45, 100, 10_000]:
        assert t975(df) == pytest.approx(float(stats.t.ppf(0.975, df)), abs=2e-6)


def _run(ledger: TrialLedger, url: str, name: str, worker: str = "w") -> Any:
    search = ledger.find(name)
    assert search is not None
    study = _study(url, name)
    lease = ledger.claim(search, worker)
    assert lease is not None
    run = ledger.start(search, study, lease, ledger.ask(study, lease))
    assert run is not None
    return run


def _finish(ledger: TrialLedger, url: str, name: str, value: float, lr: float) -> int:
    """Claim, ask, start and complete one trial through the ledger; its number."""
    run = _run(ledger, url, name)
    config = _config(lr, 100 + run.number)
    assert ledger.finish(run, Outcome.COMPLETE, value=value, config=config)
    return int(run.number)


def test_confirmations_open_once_after_the_searched_trials(
    db_url: str, make_spec: SpecFactory
) -> None:
    data = make_spec(
        name="conf",
        baselines=True,
        budget={"trials": 4, "epochs": 2},
        search={"sampler": "random", "seed": 0, "pruner": "none", "confirm": {"top_k": 2}},
    )
    prepare_search(db_url, parse_spec(data))
    ledger = TrialLedger(Settings(storage_url=db_url))
    try:
        values = [0.5, 0.9, 0.7, 0.8]  # maximize (accuracy): trials 1 and 3 lead
        for i, value in enumerate(values[:3]):
            _finish(ledger, db_url, "conf", value, lr=0.01 * (i + 1))
            search = read_search(db_url, "conf")
            assert (search.confirm_trials, search.trial_budget) == (0, 4)  # not before the end
            assert not [t for t in _study(db_url, "conf").trials if "confirms" in t.user_attrs]
        _finish(ledger, db_url, "conf", values[3], lr=0.04)
        search = read_search(db_url, "conf")
        # Baselines (7) and confirmations (2 configs x 3 seeds) opened in one transaction.
        assert (search.baseline_trials, search.confirm_trials) == (7, 6)
        assert (search.trial_budget, search.search_trials, search.status) == (17, 4, "running")
        waiting = [t for t in _study(db_url, "conf").trials if t.state.name == "WAITING"]
        confirming = [t for t in waiting if "confirms" in t.user_attrs]
        assert len(waiting) == 13 and len(confirming) == 6
        keys = sorted((t.user_attrs["confirms"], t.user_attrs["confirm_seed"]) for t in confirming)
        assert keys == [(1, 0), (1, 1), (1, 2), (3, 0), (3, 1), (3, 2)]
        for trial in confirming:
            searched = _config(
                0.01 * (trial.user_attrs["confirms"] + 1), 100 + trial.user_attrs["confirms"]
            )
            config = trial.user_attrs["confirm_config"]
            assert config["schedule"] == searched["schedule"]  # the same config ...
            assert config["seed"] == fresh_seed(searched["seed"], trial.user_attrs["confirm_seed"])
            assert trial.params == {}  # ... outside the space
        # They are recorded as confirmations, never reopen, and never become lr_best.
        for _ in range(13):
            run = _run(ledger, db_url, "conf")
            config = run.user_attrs.get("confirm_config") or run.user_attrs["baseline_config"]
            assert not run.prunes
            assert ledger.finish(run, Outcome.COMPLETE, value=0.95, config=config)
        search = read_search(db_url, "conf")
        assert (search.status, search.finished, search.trial_budget) == ("done", 17, 17)
        assert search.confirm_trials == 6
    finally:
        ledger.close()
    with Backend.from_settings(Settings(storage_url=db_url)) as backend:
        best = best_config(backend, "conf")
    # Baselines may become lr_best (0.95 beats 0.9); confirmations never do: the confirmed
    # best replaces it, with every confirmation at 0.95 (std 0).
    assert best["single_best"]["value"] == 0.95
    assert best["confirmation"]["done"] is True
    assert best["confirmed"]["n"] == 3 and best["confirmed"]["mean"] == pytest.approx(0.95)
    assert best["trial_number"] in (1, 3) and best["baseline"] is None


def test_agents_finishing_the_last_trials_together_open_the_confirmations_once(
    db_url: str, make_spec: SpecFactory
) -> None:
    spec = parse_spec(
        make_spec(
            name="race",
            budget={"trials": 2, "epochs": 2},
            search={"sampler": "random", "seed": 0, "pruner": "none", "confirm": {"top_k": 2}},
        )
    )
    prepare_search(db_url, spec)
    ledgers = [TrialLedger(Settings(storage_url=db_url, db_retry_s=30)) for _ in range(2)]
    try:
        runs = [_run(ledger, db_url, "race", f"w{i}") for i, ledger in enumerate(ledgers)]
        barrier = threading.Barrier(2)

        def finish(i: int) -> bool:
            barrier.wait()
            config = _config(0.05, i)
            return ledgers[i].finish(runs[i], Outcome.COMPLETE, value=0.5 + i, config=config)

        with ThreadPoolExecutor(2) as pool:
            assert list(pool.map(finish, range(2))) == [True, True]
        search = read_search(db_url, "race")
        assert (search.trial_budget, search.confirm_trials, search.status) == (8, 6, "running")
        waiting = [t for t in _study(db_url, "race").get_trials() if t.state.name == "WAITING"]
        assert len(waiting) == 6 and all("confirm_config" in t.user_attrs for t in waiting)
        # Exactly the confirmations' slots are left to claim.
        claims = [ledgers[0].claim(search, "w") for _ in range(7)]
        assert sum(c is not None for c in claims) == 6
    finally:
        for ledger in ledgers:
            ledger.close()


def test_a_lost_confirmation_runs_again_with_the_same_config(
    db_url: str, make_spec: SpecFactory
) -> None:
    spec = make_spec(
        name="lost",
        budget={"trials": 1, "epochs": 2},
        search={"sampler": "random", "seed": 0, "pruner": "none", "confirm": {"top_k": 1}},
    )
    prepare_search(db_url, parse_spec(spec))
    ledger = TrialLedger(Settings(storage_url=db_url, stale_after_s=30))
    try:
        _finish(ledger, db_url, "lost", 0.9, lr=0.05)  # the search's one trial: confirmations open
        run = _run(ledger, db_url, "lost", "dead")
        assert run.confirmation and not run.prunes
        assert (run.user_attrs["confirms"], run.user_attrs["confirm_seed"]) == (0, 0)
        with ledger.engine.begin() as conn:  # its worker died a minute ago
            conn.execute(
                sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
                {"t": datetime.now(UTC) - timedelta(seconds=60), "i": run.lease.id},
            )
        assert ledger.reap() == 1
        trials = _study(db_url, "lost").get_trials()
        lost = next(t for t in trials if t.number == run.number)
        assert lost.state.name == "FAIL" and lost.user_attrs["fail_reason"] == "worker lost"
        again = next(t for t in trials if t.user_attrs.get("retry_of") == run.number)
        assert again.state.name == "WAITING" and again.user_attrs["attempt"] == 2
        for key in ("confirms", "confirm_seed", "confirm_config"):
            assert again.user_attrs[key] == lost.user_attrs[key]
        # Until every confirmation has ended, the best stays the best single trial.
        with Backend.from_settings(Settings(storage_url=db_url)) as backend:
            best = best_config(backend, "lost")
        assert (best["trial_number"], best["confirmed"]) == (0, None)
        assert best["confirmation"]["done"] is False
        assert [c["queued"] for c in best["confirmation"]["configs"]] == [3]
        # The re-run (queued after the other repeats) settles the confirmation; the budget
        # stays exact.
        for value in (0.7, 0.75, 0.8):
            rerun = _run(ledger, db_url, "lost")
            assert rerun.confirmation
            config = rerun.user_attrs["confirm_config"]
            assert ledger.finish(rerun, Outcome.COMPLETE, value=value, config=config)
        search = read_search(db_url, "lost")
        assert (search.status, search.finished, search.trial_budget) == ("done", 4, 4)
        assert search.n_retried == 1
        rows = store.confirmation_rows(ledger.engine, search.id)
        assert [(r.seed_index, r.state, r.trial_number, r.value) for r in rows] == [
            (0, "complete", again.number, 0.8),
            (1, "complete", 2, 0.7),
            (2, "complete", 3, 0.75),
        ]
    finally:
        ledger.close()


@pytest.mark.slow
def test_a_small_search_confirms_its_best(sqlite_url: str, make_spec: SpecFactory) -> None:
    data = make_spec(
        name="digits",
        budget={"trials": 4, "epochs": 2},
        search={"sampler": "random", "seed": 1, "pruner": "median", "confirm": {"top_k": 2}},
    )
    prepare_search(sqlite_url, parse_spec(data))
    run_worker(sqlite_url, "digits", threads=1)
    search = read_search(sqlite_url, "digits")
    assert (search.status, search.trial_budget, search.confirm_trials) == ("done", 10, 6)
    trials = sorted(_study(sqlite_url, "digits").trials, key=lambda t: t.number)
    searched, confirming = trials[:4], trials[4:]
    top = sorted(
        (t for t in searched if t.state.name == "COMPLETE"), key=lambda t: -(t.value or 0.0)
    )[:2]
    assert {t.user_attrs["confirms"] for t in confirming} == {t.number for t in top}
    for trial in confirming:
        assert trial.state.name == "COMPLETE"  # never pruned
        assert len(trial.intermediate_values) == 2
        original = next(t for t in top if t.number == trial.user_attrs["confirms"])
        assert trial.user_attrs["schedule"] == original.user_attrs["schedule"]
        assert trial.user_attrs["config"]["seed"] != original.user_attrs["config"]["seed"]
    with Backend.from_settings(Settings(storage_url=sqlite_url)) as backend:
        best = best_config(backend, "digits")
    by_trial: dict[int, list[float]] = {}
    for trial in confirming:
        by_trial.setdefault(trial.user_attrs["confirms"], []).append(float(trial.value or 0.0))
    means = {number: sum(v) / len(v) for number, v in by_trial.items()}
    winner = max(means, key=lambda n: means[n])
    assert best["trial_number"] == winner
    values = sorted(by_trial[winner])
    mean, std = means[winner], statistics_std(values)
    half = t975(2) * std / math.sqrt(3)
    confirmed = best["confirmed"]
    assert (confirmed["n"], sorted(confirmed["values"])) == (3, values)
    assert confirmed["mean"] == pytest.approx(mean)
    assert confirmed["std"] == pytest.approx(std)
    assert confirmed["interval"] == pytest.approx([mean - half, mean + half])
    p = [c["p_best"] for c in best["confirmation"]["configs"]]
    assert sum(p) == pytest.approx(1.0) and p[0] == max(p)
    assert best["schedule"] == next(t for t in top if t.number == winner).user_attrs["schedule"]
    line = best_summary_line(best)
    assert "over 3 fresh seeds" in line and f"config of trial {winner}" in line


def statistics_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_a_confirmation_lost_for_good_is_settled_as_failed(
    sqlite_url: str, make_spec: SpecFactory
) -> None:
    spec = make_spec(
        name="gone",
        budget={"trials": 1, "epochs": 2},
        search={"sampler": "random", "seed": 0, "pruner": "none", "confirm": {"top_k": 1}},
    )
    prepare_search(sqlite_url, parse_spec(spec))
    ledger = TrialLedger(Settings(storage_url=sqlite_url, stale_after_s=30, max_attempts=1))
    try:
        _finish(ledger, sqlite_url, "gone", 0.9, lr=0.05)
        run = _run(ledger, sqlite_url, "gone", "dead")
        with ledger.engine.begin() as conn:  # its worker died, on its last attempt
            conn.execute(
                sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
                {"t": datetime.now(UTC) - timedelta(seconds=60), "i": run.lease.id},
            )
        assert ledger.reap() == 1
        search = read_search(sqlite_url, "gone")
        rows = store.confirmation_rows(ledger.engine, search.id)
        assert [(r.seed_index, r.state, r.trial_number) for r in rows] == [
            (0, "failed", run.number),
            (1, "queued", None),
            (2, "queued", None),
        ]
        assert search.n_failed == 1 and search.remaining == 2  # counted: no re-run
    finally:
        ledger.close()


@pytest.mark.parametrize("told", [True, False])
def test_the_reaper_counting_the_last_searched_trial_opens_what_follows(
    db_url: str, make_spec: SpecFactory, told: bool
) -> None:
    """The worker of the search's last own trial died after telling Optuna (or on its last
    attempt): the reaper counts it, and the baselines and confirmations open all the same."""
    spec = make_spec(
        name="late",
        baselines=True,
        budget={"trials": 2, "epochs": 2},
        search={"sampler": "random", "seed": 0, "pruner": "none", "confirm": {"top_k": 1}},
    )
    prepare_search(db_url, parse_spec(spec))
    ledger = TrialLedger(Settings(storage_url=db_url, stale_after_s=30, max_attempts=1))
    try:
        _finish(ledger, db_url, "late", 0.9, lr=0.05)
        run = _run(ledger, db_url, "late", "dead")
        config = _config(0.07, 100 + run.number)
        ledger.set_attrs(run, {"config": config, "schedule": config["schedule"]})
        if told:  # told Optuna, died before counting it
            run.study.tell(run.trial, 0.95)
        with ledger.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE lr_trials SET heartbeat_at = :t WHERE id = :i"),
                {"t": datetime.now(UTC) - timedelta(seconds=60), "i": run.lease.id},
            )
        assert ledger.reap() == 1
        search = read_search(db_url, "late")
        assert (search.baseline_trials, search.confirm_trials) == (7, 3)
        assert (search.trial_budget, search.status) == (12, "running")
        waiting = [t for t in _study(db_url, "late").trials if t.state.name == "WAITING"]
        confirming = {t.user_attrs.get("confirms") for t in waiting} - {None}
        assert len(waiting) == 10
        # The reaped trial leads when it completed (0.95 > 0.9); failed, trial 0 does.
        assert confirming == ({run.number} if told else {0})
        rows = store.confirmation_rows(ledger.engine, search.id)
        assert [r.confirmed_value for r in rows] == [0.95 if told else 0.9] * 3
    finally:
        ledger.close()
