from __future__ import annotations

import json
from pathlib import Path as FilePath

import numpy as np
import pytest

from scalenet.sampling import (
    HierarchicalSampler,
    SimulationStats,
    UniformSampler,
    default_bin_edges,
    histogram_json,
    load_budgets,
    run_simulations,
    simulate,
    stats_json,
    write_simulation,
)
from scalenet.sampling.plot import FIGURE_SIZE_PX
from scalenet.space import Budgets, SearchSpace, load_space

PATHS = 100_000


@pytest.fixture(scope="module")
def fmnist_results(fmnist: SearchSpace, fmnist_budgets: Budgets) -> dict[str, SimulationStats]:
    return run_simulations(fmnist, fmnist_budgets, ["hss", "uniform"], PATHS, seed=0)


@pytest.fixture(scope="module")
def imagenet_results(
    imagenet: SearchSpace, imagenet_budgets: Budgets
) -> dict[str, SimulationStats]:
    return run_simulations(imagenet, imagenet_budgets, ["hss", "uniform"], PATHS, seed=0)


@pytest.fixture(params=["fmnist", "imagenet"])
def results(
    request: pytest.FixtureRequest,
    fmnist_results: dict[str, SimulationStats],
    imagenet_results: dict[str, SimulationStats],
) -> dict[str, SimulationStats]:
    return fmnist_results if request.param == "fmnist" else imagenet_results


def test_hss_stage_medians_within_25_percent_of_budgets(
    results: dict[str, SimulationStats],
) -> None:
    # Issue 3: under HSS each scaling stage's FLOPs median lies within 25% of f_j.
    hss = results["hss"]
    assert len(hss.stages) == 4
    for stage in hss.stages:
        assert stage.count > 20_000
        ratio = stage.ratio(stage.median)
        assert ratio is not None and 0.75 <= ratio <= 1.25, (stage.scaling_stage, ratio)
        # Mean and mode are near f_j too (one mode per stage, Fig. 1).
        assert 0.75 <= (stage.ratio(stage.mean) or 0) <= 1.25
        assert 0.75 <= (stage.ratio(stage.mode) or 0) <= 1.25


def test_hss_stage_shares_and_balanced_windows(results: dict[str, SimulationStats]) -> None:
    hss = results["hss"]
    assert np.allclose(hss.stage_share, 0.25, atol=0.01)
    assert hss.no_stage_share == 0.0
    # Every stage's tolerance window gets at least 5% of the paths, within a factor 2 of each other.
    assert min(hss.window_share) > 0.05
    assert max(hss.window_share) < 2 * min(hss.window_share)


def test_uniform_makes_stages_0_and_m_rare(results: dict[str, SimulationStats]) -> None:
    hss, uniform = results["hss"], results["uniform"]
    # By grid: stage 0 is 1 strategy in 17 * 17 * 9 = 2,601, stage M 147 in 2,601 (5.65%),
    # against 25% each under HSS.
    assert uniform.stage_share[0] == pytest.approx(1 / 2601, abs=0.0003)
    assert uniform.stage_share[3] == pytest.approx(147 / 2601, abs=0.003)
    assert uniform.no_stage_share == pytest.approx(1 - 271 / 2601, abs=0.005)
    # By FLOPs: under 1% of uniform paths fit f_0 +- tol_0, at least 10x fewer than under HSS.
    assert uniform.window_share[0] < 0.01
    assert uniform.window_share[0] < hss.window_share[0] / 10
    # The bell peaks at stage 2's window: it gets more than stages 0 and M together.
    assert uniform.window_share[2] > uniform.window_share[0] + uniform.window_share[3]
    assert uniform.window_share[2] > 1.5 * hss.window_share[2]


def test_fmnist_uniform_numbers(fmnist_results: dict[str, SimulationStats]) -> None:
    # The numbers quoted in docs/sampling.md (100,000 paths, seed 0).
    uniform, hss = fmnist_results["uniform"], fmnist_results["hss"]
    assert uniform.window_share[0] == pytest.approx(0.0041, abs=0.001)
    assert uniform.window_share[2] == pytest.approx(0.215, abs=0.01)
    assert uniform.window_share[3] < 0.5 * uniform.window_share[2]
    assert hss.window_share[0] == pytest.approx(0.09, abs=0.01)


def test_histogram_is_complete_and_shared(results: dict[str, SimulationStats]) -> None:
    hss, uniform = results["hss"], results["uniform"]
    assert hss.bin_edges == uniform.bin_edges
    for stats in (hss, uniform):
        assert sum(stats.counts) + stats.underflow + stats.overflow == PATHS
        assert stats.underflow == 0 and stats.overflow == 0
        assert np.array_equal(
            np.sum(stats.stage_counts, axis=0) <= np.asarray(stats.counts),
            [True] * len(stats.counts),
        )
        assert stats.flops_min < stats.flops_median < stats.flops_max
    assert sum(map(sum, hss.stage_counts)) == PATHS


def test_default_bin_edges_hold_every_budget(fmnist_budgets: Budgets) -> None:
    edges = default_bin_edges(fmnist_budgets, per_octave=4)
    assert edges[0] == pytest.approx(fmnist_budgets.f0 / 8)
    assert edges[-1] == pytest.approx(fmnist_budgets.budget(3) * 8)
    assert len(edges) == (3 + 6) * 4 + 1
    for budget in fmnist_budgets.values:
        assert np.any(np.isclose(edges, budget))
    with pytest.raises(ValueError, match="per_octave must be >= 1"):
        default_bin_edges(fmnist_budgets, per_octave=0)


def test_simulate_is_deterministic_and_chunk_independent(
    fmnist: SearchSpace, fmnist_budgets: Budgets
) -> None:
    sampler = HierarchicalSampler(fmnist)
    one = simulate(sampler, fmnist, fmnist_budgets, 3_000, np.random.default_rng(3))
    two = simulate(sampler, fmnist, fmnist_budgets, 3_000, np.random.default_rng(3))
    assert one == two
    chunked = simulate(
        sampler, fmnist, fmnist_budgets, 3_000, np.random.default_rng(3), chunk=3_000
    )
    assert chunked.counts == one.counts


def test_simulate_errors(fmnist: SearchSpace, fmnist_budgets: Budgets) -> None:
    sampler = UniformSampler(fmnist)
    generator = np.random.default_rng(0)
    with pytest.raises(ValueError, match="paths must be an integer >= 1, got -5"):
        simulate(sampler, fmnist, fmnist_budgets, -5, generator)
    with pytest.raises(ValueError, match="sampler space 'fmnist' is not space 'imagenet'"):
        simulate(sampler, load_space("imagenet"), fmnist_budgets, 10, generator)
    other = Budgets(f0=4_000_000, max_stage=2, tolerance=1)
    with pytest.raises(ValueError, match="budgets have max_stage 2"):
        simulate(sampler, fmnist, other, 10, generator)
    with pytest.raises(ValueError, match="bin_edges must be"):
        simulate(sampler, fmnist, fmnist_budgets, 10, generator, bin_edges=[3.0, 2.0])


def test_empty_stage_reports_none(fmnist: SearchSpace, fmnist_budgets: Budgets) -> None:
    stats = simulate(
        HierarchicalSampler(fmnist, stage_weights=[0, 1, 0, 0]), fmnist, fmnist_budgets, 500,
        np.random.default_rng(0),
    )  # fmt: skip
    assert stats.stage_share == (0.0, 1.0, 0.0, 0.0)
    assert stats.stages[0].median is None and stats.stages[0].to_json()["median_ratio"] is None
    assert stats.stages[1].median is not None
    assert stats.description == "hss(stage_weights=[0.0, 1.0, 0.0, 0.0])"


def test_json_and_png_outputs(
    tmp_path: FilePath,
    fmnist: SearchSpace,
    fmnist_budgets: Budgets,
    fmnist_results: dict[str, SimulationStats],
) -> None:
    written = write_simulation(tmp_path / "out", fmnist, fmnist_budgets, fmnist_results, seed=0)
    assert set(written) == {"stats", "histogram", "plot"}
    stats = json.loads(written["stats"].read_text())
    assert stats == json.loads(json.dumps(stats_json(fmnist, fmnist_budgets, fmnist_results, 0)))
    assert stats["budgets"] == {"0": 4_000_000, "1": 8_000_000, "2": 16_000_000, "3": 32_000_000}
    hss = stats["samplers"]["hss"]
    assert set(hss["stages"]) == {"0", "1", "2", "3"}
    assert 0.75 <= hss["stages"]["3"]["median_ratio"] <= 1.25
    assert stats["samplers"]["uniform"]["window_share"]["0"] < 0.01
    histogram = json.loads(written["histogram"].read_text())
    assert histogram == json.loads(
        json.dumps(histogram_json(fmnist, fmnist_budgets, fmnist_results))
    )
    assert len(histogram["bin_edges"]) == len(histogram["samplers"]["uniform"]["counts"]) + 1
    png = written["plot"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # IHDR: width and height are the first two big-endian uint32 after the chunk header.
    assert png[12:16] == b"IHDR"
    size = (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
    assert size == FIGURE_SIZE_PX == (1080, 648)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "distribution.png",
        "histogram.json",
        "stats.json",
    ]


def test_load_budgets(tmp_path: FilePath, fmnist: SearchSpace, fmnist_budgets: Budgets) -> None:
    file = tmp_path / "budgets.json"
    file.write_text(json.dumps({"space": "fmnist", **fmnist_budgets.to_json()}))
    assert load_budgets(file, fmnist) == fmnist_budgets
    with pytest.raises(ValueError, match="is for space 'fmnist', not 'imagenet'"):
        load_budgets(file, load_space("imagenet"))
    with pytest.raises(ValueError, match="does not exist"):
        load_budgets(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_budgets(tmp_path / "bad.json")


def test_png_legend_sits_below_the_axes(
    tmp_path: FilePath, fmnist_budgets: Budgets, fmnist_results: dict[str, SimulationStats]
) -> None:
    import matplotlib.image

    from scalenet.sampling.plot import plot_distribution

    path = plot_distribution(fmnist_results, fmnist_budgets, tmp_path / "fig.png")
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (648, 1080)
    # The uniform histogram is tab:orange; below the x-axis label only its legend entry is.
    orange = np.all(np.abs(image[..., :3] - np.array([1.0, 0.498, 0.055])) < 0.03, axis=-1)
    legend_rows = np.flatnonzero(orange[600:].any(axis=1))
    assert legend_rows.size > 0
    # ... and no legend covers the top right of the axes, where the f3 label is: only that
    # label and the dashed budget lines are dark there (about 200 pixels; the old legend's text
    # in that corner made it over 1,000).
    top_right = image[40:110, 700:1060, :3]
    assert np.all(top_right < 0.3, axis=-1).sum() < 400
