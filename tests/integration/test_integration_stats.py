"""The report's intervals (pipelines/_stats.py): Wilson for one top-1, paired for two models."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pipelines"))

from _stats import accuracy_interval, paired_difference


def test_wilson_interval_known_values() -> None:
    low, high = accuracy_interval(50, 100)
    assert (round(low, 2), round(high, 2)) == (40.38, 59.62)
    low, high = accuracy_interval(100, 100)  # never past 100 %, never zero width
    assert high == pytest.approx(100.0) and 95 < low < 97


@pytest.mark.parametrize(("correct", "total"), [(1, 0), (-1, 10), (11, 10)])
def test_wilson_bad_input(correct: int, total: int) -> None:
    with pytest.raises(ValueError, match="0 <= correct <= total"):
        accuracy_interval(correct, total)


def test_identical_models_differ_by_nothing() -> None:
    right = np.random.default_rng(0).random(500) < 0.8
    found = paired_difference(right, right)
    assert (found.difference, found.low, found.high, found.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert not found.significant
    assert found.verdict("A", "B") == "no significant difference"


def test_a_model_right_on_a_superset_is_significantly_better() -> None:
    rng = np.random.default_rng(1)
    order = rng.permutation(2000)
    a, b = np.zeros(2000, bool), np.zeros(2000, bool)
    a[order[:1700]] = True
    b[order[:1650]] = True
    found = paired_difference(a, b)
    assert found.difference == pytest.approx(2.5)
    assert (found.only_a, found.only_b) == (50, 0)
    assert found.significant and found.low > 0 and found.p_value < 1e-10
    assert found.verdict("A", "B") == "A better"
    assert found.interval().startswith("+2.50 [")


def test_the_paired_interval_is_narrower_than_two_separate_ones() -> None:
    # Two models that share most of their mistakes: the difference is resolved although each
    # top-1's own interval overlaps the other's.
    rng = np.random.default_rng(2)
    base = rng.random(1000) < 0.85
    a, b = base.copy(), base.copy()
    wrong = np.flatnonzero(~base)
    a[wrong[:25]] = True  # A also gets 25 of B's mistakes right
    found = paired_difference(a, b)
    low_a, _ = accuracy_interval(int(a.sum()), 1000)
    _, high_b = accuracy_interval(int(b.sum()), 1000)
    assert low_a < high_b  # separate intervals overlap
    assert found.significant  # the paired one does not include 0


def test_paired_difference_is_seeded_and_checks_its_input() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(300) < 0.7, rng.random(300) < 0.6
    assert paired_difference(a, b, seed=5) == paired_difference(a, b, seed=5)
    assert paired_difference(a, b, seed=5) != paired_difference(a, b, seed=6)
    with pytest.raises(ValueError, match="two equal, non-empty vectors"):
        paired_difference(a, b[:10])
    with pytest.raises(ValueError, match="two equal, non-empty vectors"):
        paired_difference([], [])
