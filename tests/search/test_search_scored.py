"""ScoredPaths files and the two comparisons of supplementary B built on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from scalenet.search import ScoredPaths, ranking_intervals, standalone_agreement
from scalenet.search.ranking import ranking_coefficients


def _scored(seed: int, size: int = 40, noise: float = 1.0) -> ScoredPaths:
    rng = np.random.default_rng(seed)
    flops = rng.integers(2_000_000, 40_000_000, size)
    accuracy = 70 + 15 * flops / flops.max() + rng.normal(0, noise, size)
    return ScoredPaths.of([f"p{i}" for i in range(size)], flops.tolist(), accuracy.tolist())


def test_write_then_read_round_trips(tmp_path) -> None:
    scored = ScoredPaths.of(["a|b", "c"], [4_000_000, 8_123_456], [88.123456, 12.5])
    file = scored.write(tmp_path / "nested" / "hss.csv")
    assert file.read_text() == "path,flops,accuracy\na|b,4000000,88.1235\nc,8123456,12.5000\n"
    again = ScoredPaths.read(file)
    assert again.paths == ("a|b", "c") and again.flops == (4_000_000.0, 8_123_456.0)
    assert again.accuracy == (88.1235, 12.5) and len(again) == 2


def test_reads_json_lines_and_a_csv_without_header(tmp_path) -> None:
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"path": p, "flops": f, "accuracy": a}) for p, f, a in [("x", 1, 2)])
    )
    assert ScoredPaths.read(jsonl) == ScoredPaths(("x",), (1.0,), (2.0,))
    bare = tmp_path / "bare.csv"
    bare.write_text("x,1,2\n\ny,3,4\n")
    assert ScoredPaths.read(bare).paths == ("x", "y")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("short.csv", "path,flops,accuracy\nx,1\n", r"short\.csv line 2: expected path,flops,acc"),
        ("word.csv", "x,many,2\n", r"word\.csv: bad row \(could not convert"),
        ("key.jsonl", '{"path": "x", "flops": 1}\n', r"key\.jsonl: bad row \(no key 'accuracy'\)"),
        ("cut.jsonl", '{"path": "x", "fl\n', r"cut\.jsonl: line 1 is not valid JSON"),
    ],
)
def test_bad_rows_fail_with_one_line_naming_the_file(tmp_path, name, text, message) -> None:
    file = tmp_path / name
    file.write_text(text)
    with pytest.raises(ValueError, match=message) as raised:
        ScoredPaths.read(file)
    assert "\n" not in str(raised.value)


def test_missing_file_and_unequal_lengths(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"^rank input .*absent\.csv does not exist$"):
        ScoredPaths.read(tmp_path / "absent.csv", what="rank input")
    with pytest.raises(ValueError, match="2 paths, 1 FLOPs and 2 accuracies"):
        ScoredPaths(("a", "b"), (1.0,), (1.0, 2.0))


def test_ranking_intervals_per_sampler_and_paired_difference() -> None:
    hss, uniform = _scored(0, noise=0.5), _scored(0, noise=4.0)
    result = ranking_intervals({"hss": hss, "uniform": uniform}, resamples=300, seed=1)
    for name, rows in (("hss", hss), ("uniform", uniform)):
        found = result["samplers"][name]
        exact = ranking_coefficients(rows.accuracy, rows.flops)
        assert found["pearson"]["value"] == pytest.approx(exact.pearson)
        assert found["spearman"]["low"] < exact.spearman < found["spearman"]["high"]
        assert found["kendall"]["resamples"] == 300
    difference = result["difference"]
    assert difference["of"] == ["hss", "uniform"]
    # the less noisy scores rank the paths better, clearly
    assert difference["spearman"]["low"] > 0
    assert ranking_intervals({"hss": hss, "uniform": uniform}, resamples=300, seed=1) == result


def test_no_paired_difference_for_other_paths_or_one_sampler() -> None:
    other = _scored(1)
    shifted = ScoredPaths(tuple(f"q{i}" for i in range(len(other))), other.flops, other.accuracy)
    assert ranking_intervals({"hss": other, "u": shifted}, resamples=50)["difference"] is None
    assert ranking_intervals({"hss": other}, resamples=50)["difference"] is None


def test_standalone_agreement_is_tau_b_on_the_shared_paths() -> None:
    truth = _scored(2, size=12, noise=0.0)
    good = ScoredPaths.of(
        [*truth.paths, "extra"], [*truth.flops, 1.0], [a + 0.01 for a in truth.accuracy] + [50.0]
    )
    reversed_order = ScoredPaths.of(truth.paths, truth.flops, [-a for a in truth.accuracy])
    alone = ScoredPaths.of(truth.paths[::-1], truth.flops[::-1], truth.accuracy[::-1])
    result = standalone_agreement({"hss": good, "uniform": reversed_order}, alone, resamples=200)
    assert result["paths"] == 12
    assert result["samplers"]["hss"]["value"] == pytest.approx(1.0)
    assert result["samplers"]["uniform"]["value"] == pytest.approx(-1.0)
    assert result["difference"]["of"] == ["hss", "uniform"]
    assert result["difference"]["value"] == pytest.approx(2.0)
    noisy = _scored(3, size=12, noise=5.0)
    half = standalone_agreement({"hss": noisy}, truth, resamples=50)["samplers"]["hss"]
    expected = stats.kendalltau(noisy.accuracy, truth.accuracy)[0]
    assert half["value"] == pytest.approx(expected)


def test_standalone_agreement_rejects_unknown_and_repeated_paths() -> None:
    scored = {"hss": _scored(0, size=5)}
    with pytest.raises(ValueError, match=r"1 stand-alone path\(s\) not scored by hss, e.g. zz"):
        standalone_agreement(scored, ScoredPaths.of(["p0", "zz"], [1, 2], [3, 4]))
    with pytest.raises(ValueError, match="a path appears twice in the stand-alone paths"):
        standalone_agreement(scored, ScoredPaths.of(["p0", "p0"], [1, 1], [3, 4]))
