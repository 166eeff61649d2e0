from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scalenet.search import average_ranks, kendall_paper, pearson, ranking_coefficients, spearman
from scalenet.search.cli import main


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
    assert report.count == 50 and report.kendall is not None and 0 < report.kendall <= 1
    assert report.notes == {}
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


def test_constant_accuracy_leaves_every_coefficient_undefined_with_a_reason() -> None:
    # a super-supernet at chance: all Q paths get the same (quantized) mini-val top-1
    report = ranking_coefficients([10.0] * 6, [1e6, 2e6, 3e6, 4e6, 5e6, 6e6])
    assert (report.pearson, report.spearman, report.kendall, report.count) == (None, None, None, 6)
    assert kendall_paper([10.0] * 6, range(6)) == 1.0  # what the formula alone would say
    why = "acc is constant (all 6 values are 10)"
    assert report.notes == {
        "pearson": f"undefined: {why}, a zero standard deviation (eq. 1)",
        "spearman": f"undefined: {why}, so are its ranks (eq. 2)",
        "kendall": f"undefined: {why}, every pair is a tie; eqs. 4-6 would give 1 from ties alone",
    }
    data = json.loads(json.dumps(report.to_json()))
    assert data["pearson"] is None and data["kendall"] is None and data["count"] == 6
    assert data["notes"] == report.notes
    both = ranking_coefficients([0.5, 0.5], [3.0, 3.0])
    assert both.notes["pearson"].startswith(
        "undefined: acc is constant (all 2 values are 0.5) and flops is constant "
        "(all 2 values are 3)"
    )


def test_rank_cli_reports_undefined_coefficients(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "acc.txt").write_text("10\n10\n10\n")
    (tmp_path / "flops.txt").write_text("1\n2\n3\n")
    argv = ["rank", "--acc", str(tmp_path / "acc.txt"), "--flops", str(tmp_path / "flops.txt")]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "paths     3"
    assert lines[1] == (
        "pearson   undefined: acc is constant (all 3 values are 10), a zero standard deviation "
        "(eq. 1)"
    )
    assert [line.split()[0] for line in lines[1:]] == ["pearson", "spearman", "kendall"]
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["spearman"] is None and set(data["notes"]) == {"pearson", "spearman", "kendall"}


# -- tau-b and bootstrap intervals ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_kendall_tau_b_matches_scipy_with_ties(seed: int) -> None:
    from scalenet.search.ranking import kendall_tau_b

    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 4, 15), rng.integers(0, 4, 15)
    assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    assert kendall_tau_b(x, -x) == pytest.approx(-1.0)


def test_kendall_tau_b_of_a_constant_vector_is_undefined() -> None:
    from scalenet.search.ranking import kendall_tau_b

    assert kendall_tau_b([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
    with pytest.raises(ValueError, match="same length"):
        kendall_tau_b([1.0, 2.0], [1.0, 2.0, 3.0])


def test_bootstrap_interval_is_seeded_and_brackets_the_value() -> None:
    from scalenet.search.ranking import bootstrap_interval

    values = np.random.default_rng(0).normal(1.0, 1.0, 200)

    def mean(index: np.ndarray) -> float:
        return float(values[index].mean())

    first = bootstrap_interval(mean, 200, resamples=500, seed=3)
    again = bootstrap_interval(mean, 200, resamples=500, seed=3)
    other = bootstrap_interval(mean, 200, resamples=500, seed=4)
    assert first == again and first != other
    assert first.low is not None and first.high is not None
    assert first.low < first.value < first.high
    # the standard error of a mean of 200 unit-variance values is 0.07: the 95 % width ~ 0.28
    assert 0.2 < first.high - first.low < 0.36
    assert first.excludes_zero and first.defined == 500


def test_bootstrap_interval_leaves_out_undefined_resamples() -> None:
    from scalenet.search.ranking import bootstrap_interval

    calls = iter(range(10_000))

    def sometimes(index: np.ndarray) -> float | None:
        return None if next(calls) % 3 == 0 else 1.0

    found = bootstrap_interval(sometimes, 10, resamples=300)
    assert found.defined == 200 and found.low == found.high == 1.0
    never = bootstrap_interval(lambda index: None, 10, resamples=50)
    assert never.value is None and never.low is None and never.high is None
    assert not never.excludes_zero


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 1}, "at least 2 items"),
        ({"resamples": 0}, "resamples must be >= 1"),
        ({"level": 1.0}, r"level must be in \(0, 1\)"),
    ],
)
def test_bootstrap_interval_bad_input(kwargs: dict, message: str) -> None:
    from scalenet.search.ranking import bootstrap_interval

    options = {"size": 10, **kwargs}
    size = options.pop("size")
    with pytest.raises(ValueError, match=message):
        bootstrap_interval(lambda index: 0.0, size, **options)


def test_coefficient_intervals_paired_difference() -> None:
    from scalenet.search.ranking import coefficient_intervals

    acc, flops = _tie_free(1, 40)
    same = coefficient_intervals(acc, flops, other_acc=acc, resamples=200)
    assert all(i.value == 0.0 and i.low == 0.0 and i.high == 0.0 for i in same.values())
    noisy = acc + np.random.default_rng(2).normal(0, 0.3, 40)
    better = coefficient_intervals(acc, flops, other_acc=noisy, resamples=400)
    assert better["kendall"].value is not None and better["kendall"].value > 0
    single = coefficient_intervals(acc, flops, resamples=200)
    assert single["kendall"].value == pytest.approx(ranking_coefficients(acc, flops).kendall)
    assert set(single) == {"pearson", "spearman", "kendall"}
