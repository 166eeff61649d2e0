from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scalenet.search import average_ranks, kendall_paper, pearson, ranking_coefficients, spearman


def _tie_free(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flops = rng.permutation(size).astype(float) * 1e6 + rng.random(size)
    acc = 0.5 + 0.3 * flops / flops.max() + rng.normal(0, 0.05, size)
    return acc, flops


@pytest.mark.parametrize("seed", range(5))
def test_matches_scipy_without_ties(seed: int) -> None:
    acc, flops = _tie_free(seed, 300)
    assert pearson(acc, flops) == pytest.approx(stats.pearsonr(acc, flops)[0], abs=1e-12)
    assert spearman(acc, flops) == pytest.approx(stats.spearmanr(acc, flops)[0], abs=1e-12)
    assert spearman(acc, flops, method="eq3") == pytest.approx(
        stats.spearmanr(acc, flops)[0], abs=1e-12
    )
    assert kendall_paper(acc, flops) == pytest.approx(
        abs(stats.kendalltau(acc, flops)[0]), abs=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=40, unique=True),
    st.randoms(),
)
def test_kendall_equals_abs_tau_b_on_tie_free_data(values: list[float], random) -> None:  # type: ignore[no-untyped-def]
    other = list(values)
    random.shuffle(other)
    assert kendall_paper(values, other) == pytest.approx(
        abs(stats.kendalltau(values, other)[0]), abs=1e-12
    )


def test_kendall_counts_ties_as_discordant() -> None:
    acc = [0.1, 0.2, 0.2, 0.4]
    flops = [1.0, 2.0, 3.0, 4.0]
    # 6 pairs; (2, 3) is tied in acc -> discordant; the other 5 concordant: (5 - 1) / 6.
    assert kendall_paper(acc, flops) == pytest.approx(4 / 6)
    # scipy's tau-b drops the tied pair and rescales: 5 / sqrt(5 * 6).
    assert stats.kendalltau(acc, flops)[0] == pytest.approx(5 / np.sqrt(30))
    assert kendall_paper([1, 1, 1], [1, 2, 3]) == pytest.approx(1.0)  # |0 - 3| / 3: absolute value
    assert kendall_paper([3, 2, 1], [1, 2, 3]) == pytest.approx(1.0)


def test_spearman_with_ties() -> None:
    acc = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0]
    flops = [2.0, 1.0, 3.0, 4.0, 6.0, 5.0]
    assert average_ranks(acc).tolist() == [1.0, 2.5, 2.5, 4.0, 5.5, 5.5]
    assert spearman(acc, flops) == pytest.approx(stats.spearmanr(acc, flops)[0], abs=1e-12)
    # eq. 3 assumes distinct ranks: with ties it is only an approximation.
    assert spearman(acc, flops, method="eq3") != pytest.approx(spearman(acc, flops), abs=1e-6)


def test_report_and_errors() -> None:
    acc, flops = _tie_free(0, 50)
    report = ranking_coefficients(acc, flops)
    assert report.count == 50 and 0 < report.kendall <= 1
    assert set(report.to_json()) == {"pearson", "spearman", "kendall", "count"}
    with pytest.raises(ValueError, match="same length"):
        pearson([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="constant"):
        pearson([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match=r"method 'x' not in \{ranks, eq3\}"):
        spearman([1, 2], [1, 2], method="x")


def test_kendall_scales_to_paper_size() -> None:
    acc, flops = _tie_free(1, 6000)
    assert kendall_paper(acc, flops) == pytest.approx(
        abs(stats.kendalltau(acc, flops)[0]), abs=1e-12
    )
