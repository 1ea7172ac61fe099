"""The paired comparison the quality report makes between an arm and the defaults."""

from __future__ import annotations

import statistics

import pytest

from benchmarks.quality.report import _difference
from benchmarks.quality.scoring import paired_difference


def test_the_interval_holds_the_mean_and_is_the_same_each_time() -> None:
    differences = [0.02, -0.01, 0.0, 0.0, 0.03, -0.02, 0.01, 0.0]
    found = paired_difference(differences)
    assert found is not None
    assert found["mean"] == pytest.approx(statistics.fmean(differences))
    assert found["low"] < found["mean"] < found["high"]
    assert found["low"] < 0.0 < found["high"]  # 2 wins, 3 losses: not told apart
    assert paired_difference(differences) == found  # a fixed resampling seed
    assert found["seeds"] == 8 and found["level"] == 0.95


def test_a_consistent_gain_excludes_zero_and_ties_give_a_point() -> None:
    better = paired_difference([-0.03, -0.01, -0.02, -0.04, -0.02, -0.01])
    assert better is not None and better["high"] < 0.0
    ties = paired_difference([0.0] * 5)
    assert ties is not None and ties["low"] == ties["mean"] == ties["high"] == 0.0
    assert paired_difference([0.1]) is None and paired_difference([]) is None


def test_a_wider_level_gives_a_wider_interval() -> None:
    differences = [0.05, -0.02, 0.01, 0.03, -0.04, 0.0, 0.02]
    narrow = paired_difference(differences, level=0.5)
    wide = paired_difference(differences, level=0.99)
    assert narrow is not None and wide is not None
    assert wide["low"] < narrow["low"] < narrow["high"] < wide["high"]


def test_the_report_says_whether_the_interval_tells_them_apart() -> None:
    apart = _difference(paired_difference([-0.03, -0.01, -0.02, -0.04, -0.02, -0.01]))
    assert "excludes 0" in apart and "over 6 seeds" in apart and "mean -0.0217" in apart
    assert "not told apart" in _difference(paired_difference([0.02, -0.01, 0.01, -0.02]))
    assert _difference(None) == ""
