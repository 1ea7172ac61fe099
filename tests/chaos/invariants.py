"""The one invariant check every chaos scenario ends with, over the whole database.

What must hold however the agents died, paused or lost their database (README, "Many workers,
many hosts"; lrsearch/store/leases.py, lrsearch/store/recovery.py and
lrsearch/search/ledger/reaping.py for the terms):

- **Exact budget.** A search that ran to the end is ``done`` with ``finished == budget`` and
  no slot in flight. Its counters equal Optuna's trial states: ``n_complete`` the COMPLETE
  trials, ``n_pruned`` the PRUNED ones, ``n_failed`` the FAIL trials that are final (every
  FAIL but an abandoned attempt). They equal the closed lease rows too (``lr_trials.status``
  complete / pruned / failed; stale and released for ``n_retried``).
- **Abandoned attempts run again once.** A FAIL trial whose ``fail_reason`` is exactly
  ``worker lost`` or ``interrupted`` gave its slot back; its parameters were queued again
  exactly once: one trial with ``retry_of`` == its number and the same parameters (a
  baseline, which has none, the same ``baseline`` and ``baseline_config``; a confirmation the
  same ``confirms``, ``confirm_seed`` and ``confirm_config``). A lost re-run is
  abandoned in turn (checked the same way) or, at ``max_attempts``, failed for good (``worker
  lost (N attempts)``, final). Two kinds of abandoned attempt are never configured and so
  have nothing to queue (``enqueue_again``): a trial whose worker died between asking and
  suggesting (neither parameters nor baseline attributes); one killed in the middle of
  suggesting (some parameters, no ``config`` attribute yet) is queued with the parameters it
  has, so its re-run must agree on those.
- **Nothing left behind.** No RUNNING or WAITING Optuna trial, no active lease (``claimed``
  or ``running``), no re-queue still pending on a closed lease row.
- **LR range test.** In a search with one (``lr_range = "auto"``), a lost sweep is queued
  again as the same sweep (its ``lr_sweep`` attribute); once done, ``lr_sweeps`` holds one
  row per sweep that ended for good, and every searched trial's peak LR lies in the range
  chosen for its optimizer: none sampled before the range was known.
- **Per-epoch rows.** Every COMPLETE trial has exactly one ``lr_epoch_metrics`` row per
  epoch of the budget (0 .. epochs-1).
- **Best.** ``lr_best`` holds the value of Optuna's best COMPLETE trial that is not a
  confirmation.
- **Confirmations.** A finished search that opened confirmations holds one
  ``lr_confirmations`` row per confirmation slot, none still queued, each settled with the
  state and value of a trial that confirms the same trial with the same repeat.
- **Agents.** Every agent that was not SIGKILLed exited 0 without a traceback.

A search marked ``failed`` (it could not be loaded) must carry its reason in ``error`` and
hold nothing in flight; its queued baselines stay WAITING (nothing ever runs them), so the
queue and budget checks do not apply to it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.trial import FrozenTrial, TrialState

from lrsearch import store
from lrsearch.space.lr_range import SWEEP_ATTR
from lrsearch.store import Outcome
from lrsearch.store.models import LEASE_ACTIVE, best, epoch_metrics, searches, trials
from lrsearch.store.rows import row_to_search

ABANDONED_REASONS = ("worker lost", "interrupted")
# Closed lease rows of abandoned attempts (their slot went back): "stale" and "released".
ABANDONED_LEASES = tuple(o.lease_status for o in Outcome if not o.final)


@dataclass
class AgentRun:
    """One agent process a scenario started: how it ended and what it printed."""

    pid: int
    returncode: int | None
    output: str
    killed: bool = False


@dataclass
class SearchReport:
    """What the check counted in one search (for the test's log)."""

    name: str
    status: str
    states: dict[str, int]
    abandoned: int
    reruns: int
    retried: int


def check_invariants(
    url: str,
    agents: Sequence[AgentRun] = (),
    *,
    names: Iterable[str] | None = None,
    max_attempts: int = 3,
) -> list[SearchReport]:
    """Check every invariant above on every search of ``url`` (or those in ``names``).

    Collects every broken invariant and fails once, listing them all.
    """
    problems: list[str] = []
    for agent in agents:
        if agent.killed:
            continue
        if agent.returncode != 0:
            problems.append(f"agent {agent.pid} exited {agent.returncode}: {_tail(agent.output)}")
        elif "Traceback" in agent.output:
            problems.append(f"agent {agent.pid} printed a traceback: {_tail(agent.output)}")

    engine = store.make_engine(url)
    storage = store.make_optuna_storage(url)
    reports = []
    try:
        with engine.connect() as conn:
            rows = conn.execute(searches.select().order_by(searches.c.id)).all()
        wanted = None if names is None else set(names)
        for row in rows:
            search = row_to_search(row)
            if wanted is not None and search.name not in wanted:
                continue
            study = optuna.load_study(study_name=search.name, storage=storage)
            frozen = study.get_trials(deepcopy=False)
            report, found = _check_search(engine, search, frozen, max_attempts)
            reports.append(report)
            problems += [f"{search.name}: {problem}" for problem in found]
        if wanted is not None and wanted - {r.name for r in reports}:
            problems.append(f"no such searches: {sorted(wanted - {r.name for r in reports})}")
    finally:
        engine.dispose()
        storage.engine.dispose()
    assert not problems, "invariants broken:\n" + "\n".join(problems)
    return reports


def _check_search(
    engine: sa.Engine, search: store.Search, frozen: list[FrozenTrial], max_attempts: int
) -> tuple[SearchReport, list[str]]:
    problems: list[str] = []
    states = Counter(t.state.name for t in frozen)
    abandoned = [t for t in frozen if _is_abandoned(t)]
    leases = _lease_statuses(engine, search.id)
    active = sum(n for status, n in leases.items() if status in LEASE_ACTIVE)
    if active:
        problems.append(f"{active} active leases left")
    pending = _pending_requeues(engine, search.id)
    if pending:
        problems.append(f"re-queues still pending on leases {pending}")
    if states["RUNNING"]:
        problems.append(f"{states['RUNNING']} RUNNING trials left")
    if search.running != 0:
        problems.append(f"{search.running} slots still in flight (claimed {search.trials_claimed})")

    if search.status == "failed":
        if not search.error:
            problems.append("failed without a reason in error")
    else:
        problems += _check_budget(search, frozen, states, abandoned, leases)
        problems += _check_reruns(frozen, abandoned, max_attempts)
        problems += _check_epochs(engine, search, frozen)
        problems += _check_best(engine, search, frozen)
        problems += _check_range_test(engine, search, frozen)
        problems += _check_confirmations(engine, search, frozen)

    reruns = sum(1 for t in frozen if "retry_of" in t.user_attrs)
    report = SearchReport(
        search.name, search.status, dict(states), len(abandoned), reruns, search.n_retried
    )
    return report, problems


def _is_abandoned(trial: FrozenTrial) -> bool:
    return (
        trial.state == TrialState.FAIL and trial.user_attrs.get("fail_reason") in ABANDONED_REASONS
    )


def _check_budget(
    search: store.Search,
    frozen: list[FrozenTrial],
    states: Counter[str],
    abandoned: list[FrozenTrial],
    leases: dict[str, int],
) -> list[str]:
    problems = []
    if search.status != "done":
        problems.append(f"status {search.status!r}, not done")
    if search.finished != search.trial_budget:
        problems.append(f"finished {search.finished} != budget {search.trial_budget}")
    if states["WAITING"]:
        problems.append(f"{states['WAITING']} WAITING trials left")
    final_failed = states["FAIL"] - len(abandoned)
    in_optuna = {
        Outcome.COMPLETE: states["COMPLETE"],
        Outcome.PRUNED: states["PRUNED"],
        Outcome.FAILED: final_failed,
    }
    for outcome, optuna_count in in_optuna.items():
        kept = getattr(search, outcome.counter)
        lease_rows = leases.get(outcome.lease_status, 0)
        if kept != optuna_count:
            problems.append(f"{outcome.counter} = {kept} but Optuna has {optuna_count}")
        if kept != lease_rows:
            problems.append(f"{outcome.counter} = {kept} but {lease_rows} lease rows")
    closed_abandoned = sum(leases.get(status, 0) for status in ABANDONED_LEASES)
    if search.n_retried != closed_abandoned:
        problems.append(f"n_retried = {search.n_retried} but {closed_abandoned} lease rows")
    if len(abandoned) > search.n_retried:
        problems.append(f"{len(abandoned)} abandoned trials but n_retried {search.n_retried}")
    return problems


def _check_reruns(
    frozen: list[FrozenTrial], abandoned: list[FrozenTrial], max_attempts: int
) -> list[str]:
    problems = []
    by_origin: dict[int, list[FrozenTrial]] = {}
    for trial in frozen:
        origin = trial.user_attrs.get("retry_of")
        if isinstance(origin, int):
            by_origin.setdefault(origin, []).append(trial)
        attempt = int(trial.user_attrs.get("attempt", 1))
        if attempt > max_attempts:
            problems.append(f"trial {trial.number} is attempt {attempt} > {max_attempts}")
    lost_for_good = [
        t
        for t in frozen
        if t.state == TrialState.FAIL
        and str(t.user_attrs.get("fail_reason", "")).startswith("worker lost (")
    ]
    for trial in lost_for_good:
        if int(trial.user_attrs.get("attempt", 1)) < max_attempts:
            problems.append(f"trial {trial.number} failed for good before {max_attempts} attempts")
    for lost in abandoned:
        reruns = by_origin.pop(lost.number, [])
        configured = bool(_params(lost)) or _fixed(lost) is not None
        if not configured:
            if reruns:
                problems.append(f"unconfigured trial {lost.number} was queued again")
            continue
        if len(reruns) != 1:
            problems.append(
                f"abandoned trial {lost.number} ({lost.user_attrs.get('fail_reason')}) "
                f"re-run {len(reruns)} times: {[t.number for t in reruns]}"
            )
            continue
        problems += _same_config(lost, reruns[0])
    for origin, reruns in by_origin.items():
        problems.append(f"trials {[t.number for t in reruns]} re-run {origin}, not abandoned")
    return problems


def _params(trial: FrozenTrial) -> dict[str, Any]:
    """The trial's parameters: suggested, and fixed (a queued re-run lost while suggesting)."""
    return {**(trial.system_attrs.get("fixed_params") or {}), **trial.params}


def _baseline(trial: FrozenTrial) -> tuple[Any, Any] | None:
    if "baseline_config" not in trial.user_attrs:
        return None
    return trial.user_attrs.get("baseline"), trial.user_attrs["baseline_config"]


def _confirmation(trial: FrozenTrial) -> tuple[Any, Any, Any] | None:
    """(trial confirmed, repeat, config) of a confirmation, else None."""
    if "confirm_config" not in trial.user_attrs:
        return None
    attrs = trial.user_attrs
    return attrs.get("confirms"), attrs.get("confirm_seed"), attrs["confirm_config"]


def _fixed(trial: FrozenTrial) -> tuple[str, Any] | None:
    """What a trial outside the space runs with (a baseline's, a confirmation's or an LR
    range test's sweep's), else None."""
    baseline, confirmation = _baseline(trial), _confirmation(trial)
    if baseline is not None:
        return "baseline", baseline
    if SWEEP_ATTR in trial.user_attrs:
        return "sweep", trial.user_attrs[SWEEP_ATTR]
    return ("confirmation", confirmation) if confirmation is not None else None


def _same_config(lost: FrozenTrial, rerun: FrozenTrial) -> list[str]:
    where = f"re-run {rerun.number} of {lost.number}"
    if _fixed(lost) is not None:
        if _fixed(rerun) != _fixed(lost):
            return [f"{where}: {_fixed(rerun)} != {_fixed(lost)}"]
        return []
    lost_params, rerun_params = _params(lost), _params(rerun)
    if "config" in lost.user_attrs:  # fully configured: the very same parameters
        if rerun_params != lost_params:
            return [f"{where}: params {rerun_params} != {lost_params}"]
        return []
    differ = {k: v for k, v in lost_params.items() if rerun_params.get(k) != v}
    if differ:  # lost while suggesting: the parameters it had are kept
        return [f"{where}: params {rerun_params} disagree with {lost_params} on {differ}"]
    return []


def _check_epochs(engine: sa.Engine, search: store.Search, frozen: list[FrozenTrial]) -> list[str]:
    epochs = search.spec.get("budget", {}).get("epochs")
    if not isinstance(epochs, int):
        return []  # a steps budget: not what the chaos specs use
    query = sa.select(epoch_metrics.c.trial_number, epoch_metrics.c.epoch).where(
        epoch_metrics.c.search_id == search.id
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    by_trial: dict[int, list[int]] = {}
    for number, epoch in rows:
        by_trial.setdefault(int(number), []).append(int(epoch))
    problems = []
    for trial in frozen:
        if trial.state != TrialState.COMPLETE:
            continue
        seen = sorted(by_trial.get(trial.number, []))
        if seen != list(range(epochs)):
            problems.append(f"COMPLETE trial {trial.number} has epoch rows {seen}")
    return problems


def _check_best(engine: sa.Engine, search: store.Search, frozen: list[FrozenTrial]) -> list[str]:
    complete = [  # a confirmation's seed was not searched: it never becomes lr_best
        t.value
        for t in frozen
        if t.state == TrialState.COMPLETE and t.value is not None and _confirmation(t) is None
    ]
    with engine.connect() as conn:
        kept = conn.execute(
            sa.select(best.c.value).where(best.c.search_id == search.id)
        ).scalar_one_or_none()
    if not complete:
        return [] if kept is None else [f"lr_best holds {kept} without a COMPLETE trial"]
    target = max(complete) if search.direction == "maximize" else min(complete)
    if kept is None or not math.isclose(kept, target, rel_tol=1e-9, abs_tol=1e-12):
        return [f"lr_best holds {kept}, Optuna's best is {target}"]
    return []


def _check_range_test(
    engine: sa.Engine, search: store.Search, frozen: list[FrozenTrial]
) -> list[str]:
    test = store.range_test(engine, search.id)
    if test is None:
        return []
    if not test.done:
        return [f"its LR range test is still {test.state!r}"]
    sweeps = [t for t in frozen if SWEEP_ATTR in t.user_attrs and not _is_abandoned(t)]
    problems = []
    if len(sweeps) != test.sweeps or len(test.ended) != test.sweeps:
        problems.append(
            f"{test.sweeps} sweeps: {len(sweeps)} ended in Optuna, {len(test.ended)} stored"
        )
    ranges = test.ranges or {}
    for trial in frozen:
        lr, optimizer = trial.params.get("lr"), trial.params.get("optimizer")
        if lr is None or optimizer not in ranges:
            continue
        low, high = ranges[optimizer]["low"], ranges[optimizer]["high"]
        if not low * (1 - 1e-12) <= lr <= high * (1 + 1e-12):
            problems.append(f"trial {trial.number}: lr {lr} outside its range [{low}, {high}]")
    return problems


def _check_confirmations(
    engine: sa.Engine, search: store.Search, frozen: list[FrozenTrial]
) -> list[str]:
    rows = store.confirmation_rows(engine, search.id)
    if len(rows) != search.confirm_trials:
        return [f"{len(rows)} lr_confirmations rows for {search.confirm_trials} slots"]
    by_number = {t.number: t for t in frozen}
    problems = []
    for row in rows:
        trial = by_number.get(row.trial_number) if row.trial_number is not None else None
        if trial is None:
            problems.append(f"confirmation {row.confirms}/{row.seed_index} is {row.state}")
            continue
        found = _confirmation(trial)
        if found is None or found[:2] != (row.confirms, row.seed_index):
            problems.append(f"trial {trial.number} settles confirmation of {row.confirms}")
        if trial.state.name != {"complete": "COMPLETE", "pruned": "PRUNED"}.get(row.state, "FAIL"):
            problems.append(
                f"confirmation trial {trial.number} is {trial.state.name}, row {row.state}"
            )
        if row.state == "complete" and row.value != trial.value:
            problems.append(f"confirmation trial {trial.number}: {row.value} != {trial.value}")
    return problems


def _lease_statuses(engine: sa.Engine, search_id: int) -> dict[str, int]:
    query = (
        sa.select(trials.c.status, sa.func.count())
        .where(trials.c.search_id == search_id)
        .group_by(trials.c.status)
    )
    with engine.connect() as conn:
        return {str(status): int(n) for status, n in conn.execute(query)}


def _pending_requeues(engine: sa.Engine, search_id: int) -> list[int]:
    query = sa.select(trials.c.id).where(
        trials.c.search_id == search_id,
        trials.c.status.in_(ABANDONED_LEASES),
        trials.c.finished_at.is_(None),
        trials.c.optuna_trial_id.is_not(None),
    )
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])
