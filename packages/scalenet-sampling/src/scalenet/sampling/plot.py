"""The Fig. 1-style picture: FLOPs histograms of the samplers overlaid, budgets as lines.

Needs matplotlib (``pip install scalenet-sampling[plot]``); it is imported only here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import numpy.typing as npt

from scalenet.sampling.simulate import SimulationStats
from scalenet.space import Budgets
from scalenet.space.files import atomic_write

__all__ = [
    "FIGURE_SIZE_PX",
    "SAMPLER_COLOURS",
    "draw_histograms",
    "plot_distribution",
    "require_matplotlib",
]

_FIGURE_INCHES = (9.0, 5.4)
_DPI = 120
#: (width, height) of the PNG in pixels.
FIGURE_SIZE_PX = (round(_FIGURE_INCHES[0] * _DPI), round(_FIGURE_INCHES[1] * _DPI))

#: The colour of each sampler in every figure (the report's too).
SAMPLER_COLOURS = {"hss": "tab:blue", "uniform": "tab:orange"}
_COLOURS = SAMPLER_COLOURS
_LABELS = {"hss": "HSS (hierarchical)", "uniform": "uniform"}


def require_matplotlib() -> None:
    """Raise a one-line ValueError if matplotlib is missing (check before long work)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError(
            "matplotlib is needed for the PNG: pip install 'scalenet-sampling[plot]'"
        ) from None


def draw_histograms(
    axes: Any,
    edges: Sequence[float] | npt.NDArray[np.float64],
    counts: Mapping[str, Sequence[float] | npt.NDArray[Any]],
    windows: Sequence[tuple[float, float]],
    *,
    paths: Mapping[str, int] | None = None,
    stage_counts: Mapping[str, Sequence[Sequence[float]]] | None = None,
    labels: Mapping[str, str] | None = None,
) -> None:
    """Draw the samplers' FLOPs histograms on ``axes`` (log x), the budgets f_j +- tol_j shaded.

    The picture of :func:`plot_distribution`, for a figure of the caller's (the report draws it
    beside the share of paths per budget window).

    Args:
        axes: A matplotlib ``Axes``.
        edges: Bin edges (FLOPs, equal in log FLOPs).
        counts: Paths per bin, per sampler (``hss`` filled, the others as lines).
        windows: ``(f_j, tol_j)`` per scaling stage: a dashed line, a shaded window, a label.
        paths: Paths per sampler (the shares' denominator, shown in the legend); None: each
            sampler's total count, not shown.
        stage_counts: Per sampler, paths per bin of each scaling stage, drawn as thin dotted
            lines (HSS's single-modal components of Fig. 1).
        labels: The samplers' legend names (default: ``HSS (hierarchical)``, ``uniform``).
    """
    for name, row in counts.items():
        colour = _COLOURS.get(name)
        total = paths[name] if paths is not None else float(np.sum(row)) or 1.0
        share = np.asarray(row, dtype=float) / total
        label = (labels or _LABELS).get(name, name)
        label += f" ({paths[name]:,} paths)" if paths is not None else ""
        axes.stairs(
            share, edges, fill=name == "hss", alpha=0.35 if name == "hss" else 1.0,
            color=colour, linewidth=1.8, label=label,
        )  # fmt: skip
        for j, stage_row in enumerate((stage_counts or {}).get(name, ())):
            axes.stairs(
                np.asarray(stage_row, dtype=float) / total, edges, color=colour,
                linewidth=0.8, linestyle=":", label="HSS per scaling stage" if j == 0 else None,
            )  # fmt: skip
    top = axes.get_ylim()[1]
    for j, (budget, tolerance) in enumerate(windows):
        axes.axvspan(budget - tolerance, budget + tolerance, color="0.85", zorder=0)
        axes.axvline(budget, color="black", linestyle="--", linewidth=1.0, zorder=1)
        axes.text(budget, top * 0.98, f" f{j}", va="top", ha="left", fontsize=9)
    axes.set_xscale("log")
    # The shared edges span f_0 / 8 .. f_M * 8; show only the populated part (and every budget).
    populated = np.flatnonzero(np.sum([np.asarray(row) for row in counts.values()], axis=0))
    if populated.size and windows:
        low = min(edges[populated[0]], windows[0][0] / 1.5)
        high = max(edges[populated[-1] + 1], windows[-1][0] * 1.5)
        axes.set_xlim(low, high)


def plot_distribution(
    results: Mapping[str, SimulationStats],
    budgets: Budgets,
    path: str | os.PathLike[str],
    *,
    title: str = "",
    per_stage: bool = True,
) -> FilePath:
    """Write a PNG overlaying the samplers' FLOPs histograms (log x axis) with f_j as lines.

    Each histogram is drawn as the share of its paths per bin (bins are equal in log FLOPs), so
    samplers with different path counts compare. The tolerance window f_j +- tol_j is shaded.
    With ``per_stage``, HSS's per-scaling-stage histograms are drawn as thin lines (the
    single-modal components of Fig. 1).

    The legend sits below the axes, outside them, so it never covers a histogram or a budget
    label; the image is always :data:`FIGURE_SIZE_PX` pixels.

    Returns:
        The path written (atomically: temporary file, then rename).
    """
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results: nothing to plot")
    figure, axes = plt.subplots(figsize=_FIGURE_INCHES, dpi=_DPI, layout="constrained")
    edges = np.asarray(next(iter(results.values())).bin_edges)
    draw_histograms(
        axes,
        edges,
        {name: stats.counts for name, stats in results.items()},
        [(budget, budgets.tolerance_at(j)) for j, budget in enumerate(budgets.values)],
        paths={name: stats.paths for name, stats in results.items()},
        stage_counts={"hss": results["hss"].stage_counts}
        if per_stage and "hss" in results
        else None,
    )
    axes.set_xlabel("FLOPs (multiply-accumulates, log scale)")
    axes.set_ylabel("share of paths per bin")
    axes.set_title(title or "Sampling distribution: HSS vs uniform (supplementary Fig. 1)")
    # Outside the axes: inside, any corner covers a budget label or a histogram of some space.
    figure.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)

    try:
        return atomic_write(path, lambda temp: figure.savefig(temp, format="png"), suffix=".png")
    finally:
        plt.close(figure)
