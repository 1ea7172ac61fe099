"""Moved to :mod:`lrsearch.service.notes`; re-exported here for the agents (objective.py)."""

from lrsearch.service.notes import baseline_note, save, study_note

__all__ = ["baseline_note", "save", "study_note"]
