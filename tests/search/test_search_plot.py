"""scalenet.search.plot: the ranking scatter of the rank stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalenet.search.plot import plot_ranking


def test_one_panel_per_sampler(tmp_path: Path) -> None:
    import matplotlib.image

    data = {"hss": ([4e6, 8e6, 16e6], [60.0, 70.0, 75.0]), "uniform": ([5e6, 9e6], [55.0, 66.0])}
    target = plot_ranking(data, tmp_path / "rank" / "scatter.png")
    assert target == tmp_path / "rank" / "scatter.png"
    height, width, _ = matplotlib.image.imread(target).shape
    assert (width, height) == (1200, 480)  # two 5 x 4 inch panels at 120 dpi
    assert sorted(p.name for p in target.parent.iterdir()) == ["scatter.png"]  # no temp left


def test_nothing_to_plot_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_ranking({}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
