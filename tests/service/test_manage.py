"""Managing studies through the service: extend a budget, retry failed trials, read a status.

Real searches on both backends: a worker trains them, the service adds trials, and a worker
started afterwards runs exactly what was added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from lrsearch import service, store
from lrsearch.config import Settings
from lrsearch.errors import ConflictError, InvalidInputError, NotFoundError
from lrsearch.search.local import prepare_search
from lrsearch.search.worker import run_worker
from lrsearch.spec import parse_spec

SpecFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def backend(db_url: str) -> Iterator[service.Backend]:
    with service.Backend.from_settings(Settings(storage_url=db_url)) as made:
        yield made


def _trials(backend: service.Backend, name: str) -> list[optuna.trial.FrozenTrial]:
    storage = backend.optuna_storage()
    return list(storage.get_all_trials(storage.get_study_id_from_name(name)))


def _diverging(make_spec: SpecFactory, tmp_path: Path, trials: int) -> dict[str, Any]:
    """A tabular regression at LR 100: every trial fails as "diverged"."""
    rows = ["x1,x2,y"] + [f"{i % 7},{i % 5},{3 * (i % 7) - 2 * (i % 5)}" for i in range(200)]
    (tmp_path / "linear.csv").write_text("\n".join(rows) + "\n")
    return make_spec(
        name="diverges",
        task="tabular",
        task_options={"path": str(tmp_path / "linear.csv"), "target": "y", "kind": "regression"},
        budget={"trials": trials, "epochs": 2},
        space={
            "families": ["constant", "cosine", "linear"],
            "lr": [100.0, 100.0],
            "optimizers": ["sgd"],
            "warmup": [0.0, 0.2],
        },
    )


@pytest.mark.slow
def test_extend_a_finished_search_and_a_worker_runs_the_new_trials(
    db_url: str, backend: service.Backend, make_spec: SpecFactory
) -> None:
    spec = parse_spec(make_spec(budget={"trials": 2, "epochs": 1}))
    prepare_search(db_url, spec)
    run_worker(db_url, spec.name, threads=1)
    assert service.get_study(backend, "t").search.status == "done"

    extended = service.extend_study(backend, "t", 2).search
    assert (extended.status, extended.trial_budget, extended.finished) == ("running", 4, 2)
    assert "t" in store.active_search_names(backend.reader)  # live again: agents find it

    run_worker(db_url, None, threads=1)  # an agent on every active search
    done = service.get_study(backend, "t").search
    assert (done.status, done.n_complete, done.trial_budget) == ("done", 4, 4)
    assert [t.state.name for t in _trials(backend, "t")] == ["COMPLETE"] * 4
    # The spec on file still resumes the same study (its budget is the study's now).
    assert prepare_search(db_url, spec).trial_budget == 4


def test_extend_a_running_search_keeps_it_running(
    backend: service.Backend, db_url: str, make_spec: SpecFactory
) -> None:
    prepare_search(db_url, parse_spec(make_spec(budget={"trials": 1, "epochs": 1})))
    lease = store.claim_trial(backend.writer, "t", "host-a:101")
    assert lease is not None
    extended = service.extend_study(backend, "t", 3).search
    assert (extended.status, extended.trial_budget, extended.running) == ("running", 4, 1)


def test_extend_refuses_bad_counts_unknown_studies_and_a_used_up_grid(
    backend: service.Backend, db_url: str, make_spec: SpecFactory
) -> None:
    prepare_search(db_url, parse_spec(make_spec(budget={"trials": 1, "epochs": 1})))
    for bad in (0, -3, 1_000_001):
        with pytest.raises(InvalidInputError) as refused:
            service.extend_study(backend, "t", bad)
        assert refused.value.field == "trials"
    with pytest.raises(NotFoundError, match="no study named 'nope'"):
        service.extend_study(backend, "nope", 1)
    grid = make_spec(
        name="g",
        budget={"trials": 100, "epochs": 1},
        search={"sampler": "grid", "seed": 0, "pruner": "none"},
        space={"families": ["constant"], "lr": [0.01, 0.1], "optimizers": ["sgd"]},
    )
    prepare_search(db_url, parse_spec(grid))
    points = service.get_study(backend, "g").search.trial_budget
    with pytest.raises(InvalidInputError, match=f"its {points} points once") as refused:
        service.extend_study(backend, "g", 1)
    assert refused.value.field == "trials"


def test_resubmitting_with_a_bigger_budget_points_at_extend(
    sqlite_url: str, make_spec: SpecFactory
) -> None:
    prepare_search(sqlite_url, parse_spec(make_spec(budget={"trials": 4, "epochs": 1})))
    with pytest.raises(ConflictError) as bigger:
        prepare_search(sqlite_url, parse_spec(make_spec(budget={"trials": 10, "epochs": 1})))
    assert "lrsearch extend t --trials 6" in str(bigger.value)
    with pytest.raises(ConflictError) as other:  # anything else differs: another name
        prepare_search(sqlite_url, parse_spec(make_spec(budget={"trials": 4, "epochs": 2})))
    assert "different spec" in str(other.value)


@pytest.mark.slow
def test_retry_failed_queues_the_exact_parameters_once(
    db_url: str, backend: service.Backend, make_spec: SpecFactory, tmp_path: Path
) -> None:
    spec = parse_spec(_diverging(make_spec, tmp_path, trials=2))
    prepare_search(db_url, spec)
    run_worker(db_url, spec.name, threads=1)
    status = service.study_status(backend, "diverges")
    assert status.search.n_failed == 2 and status.search.status == "done"
    assert [(g.reason, g.count, g.trial_numbers) for g in status.failures] == [
        ("diverged", 2, [0, 1])
    ]

    retried = service.retry_failed(backend, "diverges")
    assert (retried.requeued, retried.fresh) == ([0, 1], 0)
    assert (retried.search.trial_budget, retried.search.status) == (4, "running")
    again = service.retry_failed(backend, "diverges")  # queued already: nothing more
    assert (again.added, again.search.trial_budget) == (0, 4)

    run_worker(db_url, None, threads=1)
    first, second, *reruns = _trials(backend, "diverges")
    assert [t.user_attrs["retry_of"] for t in reruns] == [0, 1]
    assert [t.params for t in reruns] == [first.params, second.params]
    assert [t.user_attrs["schedule"] for t in reruns] == [
        first.user_attrs["schedule"],
        second.user_attrs["schedule"],
    ]
    after = service.get_study(backend, "diverges").search
    assert (after.n_failed, after.status) == (4, "done")  # LR 100 still diverges: no fix yet
    assert service.retry_failed(backend, "diverges").requeued == [2, 3]  # the re-runs' turn


def test_retry_of_a_study_without_failures_adds_nothing(
    backend: service.Backend, db_url: str, make_spec: SpecFactory
) -> None:
    prepare_search(db_url, parse_spec(make_spec(budget={"trials": 2, "epochs": 1})))
    retried = service.retry_failed(backend, "t")
    assert (retried.requeued, retried.fresh, retried.search.trial_budget) == ([], 0, 2)
    with pytest.raises(NotFoundError):
        service.retry_failed(backend, "nope")


def test_status_shows_running_trials_with_their_agents(
    backend: service.Backend, db_url: str, make_spec: SpecFactory
) -> None:
    prepare_search(db_url, parse_spec(make_spec(budget={"trials": 3, "epochs": 1})))
    for worker in ("host-a:101", "host-b:202"):
        assert store.claim_trial(backend.writer, "t", worker) is not None
    status = service.study_status(backend, "t")
    assert sorted(lease.worker for lease in status.running) == ["host-a:101", "host-b:202"]
    assert all(lease.status == "claimed" for lease in status.running)
    assert status.failures == [] and status.summary.best_value is None
    with pytest.raises(NotFoundError):
        service.study_status(backend, "no/such")
