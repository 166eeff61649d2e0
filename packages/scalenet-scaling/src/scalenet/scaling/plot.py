"""The fit plot: each dimension vs scaling stage j, searched points and fitted curves.

Needs matplotlib (the ``plot`` extra). Uses :class:`matplotlib.figure.Figure` directly (no
pyplot, no global backend state).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path as FilePath

import numpy as np

from scalenet.scaling.family import Family
from scalenet.scaling.fit import DIMENSIONS, StrategyFit
from scalenet.space import Scaling
from scalenet.space.files import atomic_write

__all__ = ["plot_fit"]


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
        for fit in fits:
            dim_fit = fit.dimensions[index]
            axis.plot(grid, dim_fit.predict(grid), label=fit.function, linewidth=1.4)
        searched = [1.0] + [getattr(s, dim) for s in strategies]
        axis.plot(searched_j, searched, "o", color="black", label="searched", zorder=5)
        if family is not None:
            gen = [(m.stage, getattr(m.path.scaling, dim)) for m in family.members if m.projection]
            if gen:
                xs, ys = zip(*gen, strict=True)
                axis.plot(
                    xs, ys, "x", color="crimson", markersize=9, mew=2, label="projected", zorder=6
                )
        if reference:
            xs, ys = zip(*((j, getattr(s, dim)) for j, s in reference), strict=True)
            axis.plot(
                xs,
                ys,
                "s",
                mfc="none",
                color="tab:gray",
                markersize=9,
                label=reference_label,
                zorder=4,
            )
        axis.axvline(len(strategies) + 0.5, color="gray", linestyle=":", linewidth=1)
        axis.set_xlabel("scaling stage j")
        axis.set_ylabel(dim)
        axis.set_title(dim)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return atomic_write(target, lambda temp: figure.savefig(temp, dpi=110), suffix=target.suffix)
