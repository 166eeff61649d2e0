"""The fit plot: each dimension vs scaling stage j, searched points and fitted curves.

Needs matplotlib (the ``plot`` extra). Uses :class:`matplotlib.figure.Figure` directly (no
pyplot, no global backend state).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path as FilePath
from typing import Any

import numpy as np

from scalenet.scaling.family import Family
from scalenet.scaling.fit import DIMENSIONS, StrategyFit
from scalenet.space import Scaling
from scalenet.space.files import atomic_write

__all__ = ["draw_dimension", "plot_fit"]


def draw_dimension(
    axis: Any,
    dimension: str,
    *,
    curves: Sequence[tuple[str, Any, Any]] = (),
    searched: Sequence[tuple[int, float]] = (),
    before_projection: Sequence[tuple[int, float]] = (),
    projected: Sequence[tuple[int, float]] = (),
    reference: Sequence[tuple[int, float]] = (),
    reference_label: str = "reference",
    last_searched: int,
) -> None:
    """Draw one dimension's coefficient against the scaling stage j on ``axis``.

    The panel of :func:`plot_fit`, for a figure of the caller's (the report's). Empty point
    lists are left out.

    Args:
        axis: A matplotlib ``Axes``.
        dimension: ``depth``, ``width`` or ``resolution`` (the title and the y label).
        curves: ``(label, j grid, f(j))`` of each fitted function.
        searched: ``(j, value)`` of the base model and the searched stages (black dots).
        before_projection: ``(j, value)`` of generalized members before projection (hollow).
        projected: ``(j, value)`` of generalized members after projection (crosses).
        reference: Extra ``(j, value)`` points to compare with (hollow squares).
        reference_label: Legend label of ``reference``.
        last_searched: M: a dotted line after the last searched stage.
    """
    for label, xs, ys in curves:
        axis.plot(xs, ys, label=label, linewidth=1.4)
    if searched:
        xs, ys = zip(*searched, strict=True)
        axis.plot(xs, ys, "o", color="black", label="searched", zorder=5)
    if before_projection:
        xs, ys = zip(*before_projection, strict=True)
        axis.plot(
            xs, ys, "o", mfc="none", color="tab:blue", markersize=8, mew=2,
            label="fit (before projection)", zorder=5,
        )  # fmt: skip
    if projected:
        xs, ys = zip(*projected, strict=True)
        axis.plot(xs, ys, "x", color="crimson", markersize=9, mew=2, label="projected", zorder=6)
    if reference:
        xs, ys = zip(*reference, strict=True)
        axis.plot(
            xs, ys, "s", mfc="none", color="tab:gray", markersize=9, label=reference_label,
            zorder=4,
        )  # fmt: skip
    axis.axvline(last_searched + 0.5, color="gray", linestyle=":", linewidth=1)
    axis.set_xlabel("scaling stage j")
    axis.set_ylabel(dimension)
    axis.set_title(dimension)
    axis.grid(alpha=0.3)


def plot_fit(
    strategies: Sequence[Scaling],
    fits: Sequence[StrategyFit],
    max_stage: int,
    out: str | FilePath,
    *,
    family: Family | None = None,
    reference: Sequence[tuple[int, Scaling]] = (),
    reference_label: str = "reference",
    title: str | None = None,
) -> FilePath:
    """Save a PNG (or any matplotlib format, by suffix) of d, w, r against j.

    Args:
        strategies: The searched S_1..S_M (drawn as filled dots, with S_0 = (1, 1, 1)).
        fits: Fitted functions to draw as curves over 0..K.
        max_stage: K, the last stage drawn.
        out: Output file.
        family: If given, its generalized (projected) members are drawn as crosses.
        reference: Extra (j, strategy) points to compare with (hollow squares), e.g. Table 3's
            S4-S5.
        reference_label: Legend label of ``reference``.
        title: Figure title.

    Raises:
        ValueError: If matplotlib is not installed (install ``scalenet-scaling[plot]``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError(
            "plotting needs matplotlib: pip install 'scalenet-scaling[plot]'"
        ) from None
    target = FilePath(out)
    figure = Figure(figsize=(12, 3.8), layout="constrained")
    axes = figure.subplots(1, 3)
    grid = np.linspace(0.0, float(max_stage), 200)
    searched_j = np.arange(0, len(strategies) + 1)
    for axis, dim in zip(axes, DIMENSIONS, strict=True):
        index = DIMENSIONS.index(dim)
        projected = (
            [(m.stage, getattr(m.path.scaling, dim)) for m in family.members if m.projection]
            if family is not None
            else []
        )
        draw_dimension(
            axis,
            dim,
            curves=[(fit.function, grid, fit.dimensions[index].predict(grid)) for fit in fits],
            searched=list(
                zip(searched_j, [1.0] + [getattr(s, dim) for s in strategies], strict=True)
            ),
            projected=projected,
            reference=[(j, getattr(s, dim)) for j, s in reference],
            reference_label=reference_label,
            last_searched=len(strategies),
        )
    axes[0].legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return atomic_write(target, lambda temp: figure.savefig(temp, dpi=110), suffix=target.suffix)
