"""Figures of the `report` stage (matplotlib, Agg): each takes plain values read from outputs.

Every function writes one PNG atomically (temporary file, then rename) without the "Software"
metadata matplotlib embeds by default, so re-drawing the same inputs gives identical bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from _report.model import FAMILY_NAMES, SAMPLER_NAMES  # the one label table
from scalenet.sampling.plot import SAMPLER_COLOURS, draw_histograms
from scalenet.scaling.plot import draw_dimension
from scalenet.space.files import atomic_write

FAMILY_COLOURS = {"scalenet": "tab:red", "compound": "tab:blue", "random": "tab:gray"}
_OTHER_COLOURS = ("tab:green", "tab:purple", "tab:brown", "tab:olive", "tab:cyan", "tab:pink")


def save(figure: Figure, target: Path) -> Path:
    """Write ``figure`` as a PNG at ``target`` atomically, with no version/date metadata."""
    return atomic_write(
        target,
        lambda temp: figure.savefig(temp, format="png", dpi=110, metadata={"Software": None}),
        suffix=".png",
    )


def family_colour(name: str, others: Sequence[str]) -> str:
    """Fixed colour of a family (ScaleNet red, compound blue, random grey, others cycled)."""
    if name in FAMILY_COLOURS:
        return FAMILY_COLOURS[name]
    return _OTHER_COLOURS[sorted(others).index(name) % len(_OTHER_COLOURS)]


def plot_sampling(
    edges: Sequence[float],
    counts: Mapping[str, Sequence[float]],
    budgets: Sequence[tuple[float, float]],
    window_share: Mapping[str, Sequence[float]],
    target: Path,
    *,
    title: str,
) -> Path:
    """FLOPs histograms per sampler (left) and the share of paths in each budget window (right).

    Args:
        edges: Histogram bin edges (FLOPs, log-spaced).
        counts: Paths per bin, per sampler.
        budgets: (f_j, tol_j) per scaling stage.
        window_share: Share of all paths with FLOPs in f_j +- tol_j, per sampler and stage
            (empty: the right panel is left out).
        target: PNG to write.
        title: Figure title.
    """
    panels = 2 if window_share else 1
    figure = Figure(figsize=(6.5 * panels, 4.2), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    left = axes[0]
    draw_histograms(
        left, edges, {name: counts[name] for name in sorted(counts)}, budgets, labels=SAMPLER_NAMES
    )
    if budgets:  # ticks at the budgets, in MFLOPs: log ticks like 3x10^6 crowd each other
        left.set_xticks([budget for budget, _ in budgets], [f"{b / 1e6:g}" for b, _ in budgets])
        left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("MFLOPs (multiply-accumulates, log scale; ticks at the budgets f_j)")
    left.set_ylabel("share of paths per bin")
    left.set_title("FLOPs of sampled paths")
    left.legend(fontsize=8)
    if window_share:
        right = axes[1]
        names = sorted(window_share)
        width = 0.8 / len(names)
        for offset, name in enumerate(names):
            shares = [100.0 * value for value in window_share[name]]
            xs = [j + (offset - (len(names) - 1) / 2) * width for j in range(len(shares))]
            right.bar(
                xs,
                shares,
                width,
                color=SAMPLER_COLOURS.get(name),
                label=SAMPLER_NAMES.get(name, name),
            )
        right.set_xticks(range(len(budgets)), [f"f{j}" for j in range(len(budgets))])
        right.set_xlabel("budget window f_j +- tol_j")
        right.set_ylabel("paths in the window (%)")
        right.set_title("Paths that fit a FLOPs budget")
        right.legend(fontsize=8)
    figure.suptitle(title)
    return save(figure, target)


def plot_loss(curves: Mapping[str, Sequence[tuple[float, float]]], target: Path) -> Path:
    """Training loss vs iteration, one line per sampler."""
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    for name in sorted(curves):
        xs = [x for x, _ in curves[name]]
        ys = [y for _, y in curves[name]]
        axes.plot(
            xs,
            ys,
            marker=".",
            color=SAMPLER_COLOURS.get(name),
            label=SAMPLER_NAMES.get(name, name),
        )
    axes.set_xlabel("iteration")
    axes.set_ylabel("training loss (mean over the logging window)")
    axes.set_title("Super-supernet training loss")
    axes.grid(alpha=0.3)
    axes.legend()
    return save(figure, target)


def plot_arch(
    stages: Sequence[Sequence[tuple[int, int, bool]]],
    row_labels: Sequence[str],
    target: Path,
    *,
    title: str,
) -> Path:
    """Per-stage block diagram: one row per stage, one box per block.

    Box width grows with the kernel, colour with the expand rate; SE blocks are hatched with a
    thick border.

    Args:
        stages: Per stage, its blocks as (kernel, expand, se).
        row_labels: One label per stage (drawn left of the row).
        target: PNG to write.
        title: Figure title.
    """
    unit, gap = 0.16, 0.12
    expands = sorted({expand for blocks in stages for _, expand, _ in blocks})
    palette = matplotlib.colormaps["YlGnBu"]
    colours = {
        expand: palette(0.25 + 0.6 * index / max(1, len(expands) - 1))
        for index, expand in enumerate(expands)
    }
    widest = max(sum(unit * kernel + gap for kernel, _, _ in blocks) for blocks in stages)
    figure = Figure(figsize=(2.0 + 1.6 * widest, 0.62 * len(stages) + 1.3), layout="constrained")
    axes = figure.subplots()
    for row, blocks in enumerate(stages):
        y = len(stages) - 1 - row
        x = 0.0
        for kernel, expand, se in blocks:
            width = unit * kernel
            axes.add_patch(
                Rectangle(
                    (x, y - 0.35),
                    width,
                    0.7,
                    facecolor=colours[expand],
                    edgecolor="black",
                    linewidth=2.2 if se else 0.8,
                    hatch="///" if se else None,
                )
            )
            dark = expands.index(expand) > (len(expands) - 1) / 2
            axes.text(
                x + width / 2,
                y,
                f"k{kernel} e{expand}{' SE' if se else ''}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
                bbox={"facecolor": colours[expand], "edgecolor": "none", "pad": 1.0},
            )
            x += width + gap
    axes.set_xlim(-gap, widest)
    axes.set_ylim(-0.6, len(stages) - 0.4)
    axes.set_yticks(range(len(stages)), list(reversed(row_labels)))
    axes.set_xticks([])
    for side in ("top", "right", "bottom"):
        axes.spines[side].set_visible(False)
    handles = [
        Patch(facecolor=colours[expand], edgecolor="black", label=f"expand {expand}")
        for expand in expands
    ]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="SE"))
    axes.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=4)
    axes.set_title(title + "\n(box width ~ kernel size)", fontsize=10)
    return save(figure, target)


def plot_fit(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    searched: Mapping[str, Sequence[tuple[int, float]]],
    projected: Mapping[str, Sequence[tuple[int, float]]],
    fitted: Mapping[str, Sequence[tuple[int, float]]],
    target: Path,
    *,
    label: str,
    last_searched: int,
) -> Path:
    """Depth, width and resolution coefficients against the scaling stage j.

    Args:
        curves: Per dimension, (j grid, f(j)) of the fitted function.
        searched: Per dimension, (j, value) of the base model and the searched stages.
        projected: Per dimension, (j, value) of the generalized members after projection.
        fitted: Per dimension, (j, value) of the generalized members before projection.
        target: PNG to write.
        label: Legend label of the curve (the function and its formula).
        last_searched: M, the last searched scaling stage (a dotted line after it).
    """
    dimensions = list(curves)
    figure = Figure(figsize=(4.2 * len(dimensions), 3.8), layout="constrained")
    axes = figure.subplots(1, len(dimensions), squeeze=False)[0]
    for axis, dim in zip(axes, dimensions, strict=True):
        grid, values = curves[dim]
        draw_dimension(
            axis,
            dim,
            curves=[(label, grid, values)],
            searched=searched.get(dim, ()),
            before_projection=fitted.get(dim, ()),
            projected=projected.get(dim, ()),
            last_searched=last_searched,
        )
    axes[0].legend(fontsize=8)
    return save(figure, target)


def plot_accuracy(
    families: Mapping[str, Sequence[tuple[int, float, float]]],
    target: Path,
    *,
    xlabel: str,
    title: str,
) -> Path:
    """Top-1 against a log-scaled cost, one line per family, points labelled S<j>.

    Args:
        families: Per family (in legend order), its members as (scaling stage j, x, top-1 %).
        target: PNG to write.
        xlabel: Label of the x axis.
        title: Figure title.
    """
    figure = Figure(figsize=(7, 4.6), layout="constrained")
    axes = figure.subplots()
    names = list(families)  # legend order: the caller's (ScaleNet first)
    for name in names:
        points = sorted(families[name])
        colour = family_colour(name, names)
        xs = [x for _, x, _ in points]
        ys = [y for _, _, y in points]
        axes.plot(
            xs, ys, marker="o", color=colour, label=FAMILY_NAMES.get(name, name), linewidth=1.6
        )
        for stage, x, y in points:
            axes.annotate(
                f"S{stage}",
                (x, y),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color=colour,
            )
    axes.set_xscale("log")
    # Plain numbers at 1, 2, 3, 5 x 10^k: the default "4 x 10^0" labels read badly over one decade.
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(xlabel)
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_title(title)
    axes.grid(alpha=0.3, which="both")
    axes.legend()
    return save(figure, target)
