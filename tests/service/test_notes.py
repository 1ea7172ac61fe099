"""The study's dashboard note says what runs besides the searched trials, and when."""

from __future__ import annotations

from lrsearch.service.notes import study_note
from lrsearch.spec import parse_spec


def _note(**search: object) -> str:
    spec = parse_spec(
        {"name": "n", "task": "digits-mlp", "budget": {"trials": 8, "epochs": 2}, "search": search}
    )
    return study_note(spec, "val_accuracy", "maximize")


def test_baselines_are_said_to_run_after_the_search_without_trial_numbers() -> None:
    note = _note()
    assert "Baselines: after the search's own trials, the classic schedules (constant," in note
    assert "trials 0 to" not in note  # they are not the first trials any more
    assert "LR range test" not in note and "Confirmations" not in note


def test_sweeps_and_confirmations_are_named_when_the_spec_asks_for_them() -> None:
    note = _note(lr_range="auto", lr_range_seeds=3, confirm=True)
    # digits-mlp's default space has two optimizers: 2 x 3 sweeps, queued first
    assert "LR range test: trials 0 to 5 are LR sweeps (3 per optimizer" in note
    assert "Confirmations: after the search, its 3 best configs run again on 3 fresh" in note
