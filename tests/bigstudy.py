"""Build a large finished search quickly: 100,000 trials in 20-30 s, on SQLite or PostgreSQL.

    .venv/bin/python -m tests.bigstudy sqlite:////tmp/big.db big 100000
    .venv/bin/python -m tests.bigstudy postgresql+psycopg://postgres@127.0.0.1/db big 100000

``build_study(url, name, n_trials)`` makes a search named ``name`` that looks as if lrsearch's
workers had run it to the end: ``n_trials`` finished trials (about 70 % COMPLETE, 30 % PRUNED),
consistent on both sides of the database.

- **Optuna's side.** The study is created with Optuna's API (``optuna.create_study``, and its
  ``lrsearch_spec`` user attribute as ``open_search`` sets it). Its trials are then written in
  chunks into Optuna's own tables, through Optuna's own table definitions
  (``optuna.storages._rdb.models.TrialModel.__table__`` and the trial parameter, value,
  intermediate value and user attribute models), so the rows match the installed Optuna schema:
  SQLAlchemy Core ``insert()`` executemany on SQLite; on PostgreSQL the same rows, converted by
  the same column types, go through ``COPY ... FROM STDIN`` (psycopg 3 runs an executemany as
  one INSERT per row: 52 s for 100,000 trials, against 28 s with COPY). Each trial is
  suggested by lrsearch's real ``suggest`` (against a recording stand-in for ``optuna.Trial``):
  ``family``, ``lr``, ``optimizer``, ``warmup_fraction`` and the family's own parameters, with
  Optuna's distribution JSON. It has a value (complete: the final metric; pruned: its last
  intermediate value, as ``study.tell`` records it), one intermediate value per epoch it
  trained, the user attributes ``schedule``, ``optimizer_params`` and ``config`` that
  lrsearch's objective sets, and datetimes. ``number`` runs 0 .. n-1; ``trial_id`` comes from
  the database.
- **lrsearch's side.** ``store.upgrade(url)`` first (both schemas), then ``store.create_search``
  with a real ``SearchSpec`` (digits-mlp, ``budget.trials = n_trials``), its counters and status
  ``done`` in one UPDATE, one ``lr_trials`` lease per trial, one ``lr_epoch_metrics`` row per
  epoch trained, and the ``lr_best`` row of the actual best trial (its value, and its ``config``
  as the trial's user attribute holds it).

Why Optuna's tables are written directly: creating trials through Optuna's API
(``study.add_trials`` / ``storage.create_new_trial``) costs about 6.5 ms per trial, more than
ten minutes for 100,000 trials, and a benchmark of large studies needs several of them. Writing
the rows through Optuna's own table models keeps them in Optuna's schema, and ``verify``
reads them back through Optuna's API (``load_study(...).best_trial``, ``get_all_study_summaries``).
This is a test and benchmark fixture only: the product never writes Optuna's tables itself.
It lives with the tests (``tests/api/test_scale.py``), and ``benchmarks/api_bench.py`` imports
it from here: benchmarks may use the tests' fixtures, tests never import benchmarks.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from optuna.storages._rdb import models as optuna_models
from optuna.trial import TrialState

from lrsearch import store
from lrsearch.space import suggest
from lrsearch.spec import SearchSpec, parse_spec
from lrsearch.store import models as lr_models

EPOCHS = 3  # intermediate values (and lr_epoch_metrics rows) of a complete trial
STEPS_PER_EPOCH = 23  # digits-mlp: 1,438 training images in minibatches of 64
PRUNED_SHARE = 0.3
CHUNK = 5_000  # trials per batch of inserts
WORKERS = ("bench-a:101", "bench-b:102", "bench-c:103", "bench-d:104")
STARTED = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)  # the first trial's start
TRIAL_SECONDS = 2.0  # a trial's length; trials start one after the other

TRIALS = optuna_models.TrialModel.__table__
PARAMS = optuna_models.TrialParamModel.__table__
VALUES = optuna_models.TrialValueModel.__table__
INTERMEDIATE = optuna_models.TrialIntermediateValueModel.__table__
USER_ATTRS = optuna_models.TrialUserAttributeModel.__table__
FINITE_VALUE = optuna_models.TrialValueModel.TrialValueType.FINITE
FINITE_INTERMEDIATE = optuna_models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE


def search_spec(name: str, n_trials: int, seed: int = 0) -> SearchSpec:
    """The spec the search is made of: digits-mlp, six families, SGD, median pruner."""
    return parse_spec(
        {
            "name": name,
            "task": "digits-mlp",
            "task_options": {"hidden": 32},
            "budget": {"trials": n_trials, "epochs": EPOCHS},
            "search": {"sampler": "tpe", "seed": seed, "pruner": "median"},
            "space": {
                "families": ["constant", "step", "multistep", "cosine", "one_cycle", "wsd"],
                "lr": [1e-4, 1.0],
                "optimizers": ["sgd"],
                "warmup": [0.0, 0.1],
            },
        }
    )


@dataclass
class _Recorder:
    """Stands in for ``optuna.Trial`` in ``suggest``: draws values, records Optuna's params."""

    number: int
    rng: random.Random
    params: list[tuple[str, float, str]] = field(default_factory=list)
    _json: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def _record(self, name: str, internal: float, key: tuple[Any, ...], dist: Any) -> None:
        text = self._json.get(key)
        if text is None:
            built: BaseDistribution = dist()
            text = self._json[key] = distribution_to_json(built)
        self.params.append((name, internal, text))

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        options = tuple(choices)
        index = self.rng.randrange(len(options))
        key = ("c", name, options)
        self._record(name, float(index), key, lambda: CategoricalDistribution(options))
        return options[index]

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        if log:
            value = math.exp(self.rng.uniform(math.log(low), math.log(high)))
        else:
            value = self.rng.uniform(low, high)
        value = min(max(value, low), high)
        key = ("f", name, low, high, log)
        self._record(name, value, key, lambda: FloatDistribution(low, high, log=log))
        return value

    def suggest_int(self, name: str, low: int, high: int) -> int:
        value = self.rng.randint(low, high)
        self._record(name, float(value), ("i", name, low, high), lambda: IntDistribution(low, high))
        return value


@dataclass(frozen=True)
class _Trial:
    """One generated trial, before its ``trial_id`` is known."""

    number: int
    complete: bool
    value: float  # complete: the final metric; pruned: the last intermediate value
    intermediate: tuple[float, ...]
    params: Sequence[tuple[str, float, str]]
    attrs: Mapping[str, str]  # user attribute -> its JSON
    config: Mapping[str, Any]  # TrialConfig.to_dict(), as the "config" attribute holds it
    lr: float
    start: datetime  # aware UTC
    end: datetime


def _trials(spec: SearchSpec, first: int, count: int, rng: random.Random) -> Iterator[_Trial]:
    recorder = _Recorder(0, rng)
    for number in range(first, first + count):
        recorder.number, recorder.params = number, []
        config = suggest(recorder, spec).to_dict()
        complete = number == 0 or rng.random() >= PRUNED_SHARE  # trial 0: a best exists
        final = 0.55 + 0.44 * rng.random() ** 0.5  # val_accuracy-like, most of them good
        if complete:
            trained = EPOCHS
        else:  # pruned: stopped early, and worse than it would have ended
            trained = rng.randint(1, EPOCHS - 1)
            final *= 0.9
        intermediate = tuple(final * (0.8 + 0.2 * (e + 1) / EPOCHS) for e in range(trained))
        start = STARTED + timedelta(seconds=number * TRIAL_SECONDS)
        yield _Trial(
            number=number,
            complete=complete,
            value=intermediate[-1],
            intermediate=intermediate,
            params=recorder.params,
            attrs={
                "schedule": json.dumps(config["schedule"]),
                "optimizer_params": json.dumps(config["optimizer_params"]),
                "config": json.dumps(config),
            },
            config=config,
            lr=float(config["schedule"]["lr"]),
            start=start,
            end=start + timedelta(seconds=TRIAL_SECONDS * trained / EPOCHS),
        )


def _naive(moment: datetime) -> datetime:
    """Optuna's RDBStorage stores naive UTC datetimes."""
    return moment.replace(tzinfo=None)


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``: Core ``insert()`` executemany; ``COPY`` on PostgreSQL.

    psycopg 3 executes an executemany as one INSERT per row, about 30 us each on the server
    (1.7 million rows for 100,000 trials: 50 s); ``COPY ... FROM STDIN`` takes the same rows,
    converted by the columns' own types (an Optuna ``Enum`` column gets the member's name, as
    SQLAlchemy writes it), in one stream, in the same transaction.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    convert = [
        table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        for name in columns
    ]
    names = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in columns)
    target = conn.dialect.identifier_preparer.format_table(table)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [
                        value if fn is None or value is None else fn(value)
                        for fn, value in zip(convert, row.values(), strict=True)
                    ]
                )
    finally:
        cursor.close()


def _write_chunk(
    conn: sa.Connection, study_id: int, search_id: int, chunk: list[_Trial], after_id: int
) -> int:
    """Insert one chunk of trials on both sides; returns the largest trial_id so far."""
    _insert(
        conn,
        TRIALS,
        [
            {
                "number": t.number,
                "study_id": study_id,
                "state": TrialState.COMPLETE if t.complete else TrialState.PRUNED,
                "datetime_start": _naive(t.start),
                "datetime_complete": _naive(t.end),
            }
            for t in chunk
        ],
    )
    ids: dict[int, int] = dict(
        conn.execute(
            sa.select(TRIALS.c.number, TRIALS.c.trial_id).where(
                TRIALS.c.study_id == study_id, TRIALS.c.trial_id > after_id
            )
        ).all()
    )
    if len(ids) != len(chunk):
        raise RuntimeError(
            f"expected {len(chunk)} new trials in study {study_id}, found {len(ids)}"
        )
    params: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    intermediate: list[dict[str, Any]] = []
    attrs: list[dict[str, Any]] = []
    leases: list[dict[str, Any]] = []
    epochs: list[dict[str, Any]] = []
    for t in chunk:
        trial_id = ids[t.number]
        params += [
            {"trial_id": trial_id, "param_name": n, "param_value": v, "distribution_json": d}
            for n, v, d in t.params
        ]
        values.append(
            {"trial_id": trial_id, "objective": 0, "value": t.value, "value_type": FINITE_VALUE}
        )
        intermediate += [
            {
                "trial_id": trial_id,
                "step": step,
                "intermediate_value": v,
                "intermediate_value_type": FINITE_INTERMEDIATE,
            }
            for step, v in enumerate(t.intermediate)
        ]
        attrs += [{"trial_id": trial_id, "key": k, "value_json": v} for k, v in t.attrs.items()]
        leases.append(
            {
                "search_id": search_id,
                "trial_number": t.number,
                "optuna_trial_id": trial_id,
                "worker": WORKERS[t.number % len(WORKERS)],
                "status": "complete" if t.complete else "pruned",
                "attempt": 1,
                "reason": None,  # the worker records no reason for a complete or pruned trial
                "claimed_at": t.start,
                "heartbeat_at": t.end,
                "finished_at": t.end,
            }
        )
        seconds = TRIAL_SECONDS / EPOCHS
        epochs += [
            {
                "search_id": search_id,
                "trial_number": t.number,
                "epoch": epoch,
                "step": STEPS_PER_EPOCH * (epoch + 1),
                "train_loss": 2.3 * (1.0 - v),
                "value": v,
                "lr": t.lr,
                "seconds": seconds,
            }
            for epoch, v in enumerate(t.intermediate)
        ]
    for table, rows in (
        (PARAMS, params),
        (VALUES, values),
        (INTERMEDIATE, intermediate),
        (USER_ATTRS, attrs),
        (lr_models.trials, leases),
        (lr_models.epoch_metrics, epochs),
    ):
        _insert(conn, table, rows)
    return int(max(ids.values()))


def build_study(url: str, name: str, n_trials: int, *, seed: int = 0) -> None:
    """Create a finished search ``name`` with ``n_trials`` trials in Optuna's and lrsearch's tables.

    The database is brought to the current schema first; the name must be free on both sides.
    """
    if n_trials < 1:
        raise ValueError("n_trials must be >= 1")
    spec = search_spec(name, n_trials, seed)
    metric, direction = spec.resolved_metric()
    if direction != "maximize":
        raise RuntimeError(f"{spec.task}'s default metric is no longer maximized")
    store.upgrade(url)
    storage = store.make_optuna_storage(url)
    engine = store.make_engine(url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(storage=storage, direction="maximize", study_name=name)
        study.set_user_attr("lrsearch_spec", spec.to_json_dict())
        study_id = storage.get_study_id_from_name(name)
        search = store.create_search(
            engine,
            name=name,
            spec=spec.to_json_dict(),
            task=spec.task,
            metric=metric,
            direction=direction,
            trial_budget=n_trials,
        )
        rng = random.Random(seed)
        best: _Trial | None = None
        n_complete = 0
        firsts = range(0, n_trials, CHUNK)

        def generate(first: int) -> list[_Trial]:
            return list(_trials(spec, first, min(CHUNK, n_trials - first), rng))

        # The next chunk is generated (pure Python) while the database takes this one.
        with ThreadPoolExecutor(max_workers=1) as pool, engine.begin() as conn:
            after_id = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(TRIALS.c.trial_id), 0))
            ).scalar_one()
            upcoming = pool.submit(generate, firsts[0])
            for index in range(len(firsts)):
                chunk = upcoming.result()
                if index + 1 < len(firsts):
                    upcoming = pool.submit(generate, firsts[index + 1])
                for t in chunk:
                    if t.complete:
                        n_complete += 1
                        if best is None or t.value > best.value:
                            best = t
                after_id = _write_chunk(conn, study_id, search.id, chunk, after_id)
            assert best is not None  # trial 0 is complete
            now = datetime.now(UTC)
            conn.execute(
                lr_models.searches.update()
                .where(lr_models.searches.c.id == search.id)
                .values(
                    status="done",
                    trials_claimed=n_trials,
                    n_complete=n_complete,
                    n_pruned=n_trials - n_complete,
                    updated_at=now,
                )
            )
            conn.execute(
                lr_models.best.insert().values(
                    search_id=search.id,
                    trial_number=best.number,
                    value=best.value,
                    config_json=json.dumps(best.config, sort_keys=True),
                    updated_at=best.end,
                )
            )
    finally:
        engine.dispose()
        storage.engine.dispose()


@dataclass(frozen=True)
class Check:
    """What Optuna's API reads back from a built study."""

    n_trials: int  # from get_all_study_summaries
    best_number: int  # load_study(...).best_trial
    best_value: float
    load_best_s: float
    summaries_s: float


def verify(url: str, name: str) -> Check:
    """Read the study back through Optuna's API; raise if it disagrees with lrsearch's tables."""
    storage = store.make_optuna_storage(url)
    engine = store.make_engine(url, reader=True)
    try:
        started = time.perf_counter()
        best_trial = optuna.load_study(study_name=name, storage=storage).best_trial
        load_best_s = time.perf_counter() - started
        started = time.perf_counter()
        summaries = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
        summaries_s = time.perf_counter() - started
        search = store.get_search(engine, name)
        ours = store.get_best(engine, name)
    finally:
        engine.dispose()
        storage.engine.dispose()
    summary = summaries[name]
    problems = []
    if summary.n_trials != search.trials_claimed:
        problems.append(f"Optuna has {summary.n_trials} trials, lrsearch {search.trials_claimed}")
    if ours is None or (ours.trial_number, ours.value) != (best_trial.number, best_trial.value):
        problems.append(f"lr_best {ours} is not Optuna's best trial {best_trial.number}")
    elif dict(ours.config) != best_trial.user_attrs["config"]:
        problems.append("lr_best's config is not the best trial's")
    if problems:
        raise RuntimeError(f"study {name!r}: " + "; ".join(problems))
    assert best_trial.value is not None
    return Check(summary.n_trials, best_trial.number, best_trial.value, load_best_s, summaries_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("url", help="SQLAlchemy URL of the database")
    parser.add_argument("name", help="the search's name (must be free)")
    parser.add_argument("trials", type=int, help="how many finished trials")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    build_study(args.url, args.name, args.trials, seed=args.seed)
    built = time.perf_counter() - started
    check = verify(args.url, args.name)
    print(
        f"built {args.trials} trials in {built:.1f} s; Optuna reads back {check.n_trials} trials, "
        f"best trial {check.best_number} = {check.best_value:.6f} "
        f"(load_study + best_trial {check.load_best_s:.3f} s, "
        f"get_all_study_summaries {check.summaries_s:.2f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
