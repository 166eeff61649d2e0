"""Simulation of a sampler's FLOPs distribution (supplementary Fig. 1: 750,000 paths each).

:func:`simulate` draws paths in chunks, counts their FLOPs analytically and summarizes them: a
histogram on log-spaced FLOPs bins shared by all samplers (so they overlay), the share of paths per
scaling stage, the share of paths whose FLOPs fit each stage's window f_j +- tol_j, and for every
scaling stage the median, mean and mode of its paths' FLOPs against its budget f_j.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scalenet.sampling.samplers import NO_STAGE, PathSampler, make_sampler
from scalenet.space import Budgets, SearchSpace, count_batch
from scalenet.space.progress import progress_bar

__all__ = [
    "PER_OCTAVE",
    "SimulationStats",
    "StageFlops",
    "default_bin_edges",
    "histogram_json",
    "run_simulations",
    "simulate",
    "stats_json",
]

PER_OCTAVE = 16
"""Default histogram resolution: bins per doubling of FLOPs."""

_CHUNK = 250_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class StageFlops:
    """FLOPs of the paths of one scaling stage against its budget.

    Attributes:
        scaling_stage: j.
        count: Paths of the stage (drawn stage for HSS, grid stage for the uniform sampler).
        budget: f_j.
        median: Median FLOPs (None when the stage has no path).
        mean: Mean FLOPs (None when empty).
        mode: Centre (geometric) of the most populated histogram bin (None when empty).
        fit_share: Share of the stage's paths whose FLOPs lie in f_j +- tol_j (None when empty).
    """

    scaling_stage: int
    count: int
    budget: int
    median: float | None
    mean: float | None
    mode: float | None
    fit_share: float | None

    def ratio(self, value: float | None) -> float | None:
        """``value / f_j`` (None passes through)."""
        return None if value is None else value / self.budget

    def to_json(self) -> dict[str, Any]:
        """JSON form, with each statistic also as a ratio to f_j."""
        return {
            "count": self.count,
            "budget": self.budget,
            "median": self.median,
            "mean": self.mean,
            "mode": self.mode,
            "median_ratio": self.ratio(self.median),
            "mean_ratio": self.ratio(self.mean),
            "mode_ratio": self.ratio(self.mode),
            "fit_share": self.fit_share,
        }


@dataclass(frozen=True)
class SimulationStats:
    """What one sampler's simulation gives.

    Attributes:
        sampler: The sampler's name (``hss`` or ``uniform``).
        description: The sampler with its options, e.g. ``hss(stage_weights=uniform)``.
        paths: Paths drawn.
        bin_edges: Log-spaced FLOPs bin edges (len = bins + 1).
        counts: Paths per bin.
        underflow: Paths below the first edge.
        overflow: Paths above the last edge.
        stage_counts: Per-stage paths per bin (``[M + 1][bins]``), for per-stage curves.
        stage_share: Share of paths per scaling stage 0..M.
        no_stage_share: Share of paths in no stage's grid (uniform sampler; 0 for HSS).
        window_share: Share of all paths whose FLOPs lie in f_j +- tol_j, per stage j.
        stages: Per-stage FLOPs statistics.
        flops_mean: Mean FLOPs of all paths.
        flops_median: Median FLOPs of all paths.
        flops_min: Smallest FLOPs.
        flops_max: Largest FLOPs.
    """

    sampler: str
    description: str
    paths: int
    bin_edges: tuple[float, ...]
    counts: tuple[int, ...]
    underflow: int
    overflow: int
    stage_counts: tuple[tuple[int, ...], ...]
    stage_share: tuple[float, ...]
    no_stage_share: float
    window_share: tuple[float, ...]
    stages: tuple[StageFlops, ...]
    flops_mean: float
    flops_median: float
    flops_min: int
    flops_max: int

    def to_json(self) -> dict[str, Any]:
        """Summary JSON (numbers in objects keyed by stage; no histogram)."""
        return {
            "sampler": self.sampler,
            "description": self.description,
            "paths": self.paths,
            "stage_share": {str(j): share for j, share in enumerate(self.stage_share)},
            "no_stage_share": self.no_stage_share,
            "window_share": {str(j): share for j, share in enumerate(self.window_share)},
            "window_share_total": float(sum(self.window_share)),
            "stages": {str(stage.scaling_stage): stage.to_json() for stage in self.stages},
            "flops": {
                "mean": self.flops_mean,
                "median": self.flops_median,
                "min": self.flops_min,
                "max": self.flops_max,
            },
        }

    def histogram_json(self) -> dict[str, Any]:
        """Histogram JSON: counts (total and per stage), under/overflow."""
        return {
            "counts": list(self.counts),
            "stage_counts": {str(j): list(row) for j, row in enumerate(self.stage_counts)},
            "underflow": self.underflow,
            "overflow": self.overflow,
        }


def default_bin_edges(budgets: Budgets, per_octave: int = PER_OCTAVE) -> FloatArray:
    """Log-spaced edges from f_0 / 8 to f_M * 8, ``per_octave`` bins per doubling.

    The edges sit on powers of 2 ** (1 / per_octave) times f_0, so every budget f_j is an edge;
    they depend only on the budgets, so histograms of different samplers share them.
    """
    if per_octave < 1:
        raise ValueError(f"per_octave must be >= 1, got {per_octave}")
    steps = np.arange(-3 * per_octave, (budgets.max_stage + 3) * per_octave + 1)
    return budgets.f0 * np.power(2.0, steps / per_octave)


def _progress(total: int, label: str, enabled: bool) -> Any:
    if not enabled:
        return None
    return progress_bar(total=total, desc=label, unit="path", unit_scale=True, leave=False)


def _describe(sampler: PathSampler) -> str:
    options = []
    for key in ("stage_weights", "scaling_stage", "flops_window"):
        value = getattr(sampler, key, None)
        if value is not None:
            options.append(f"{key}={list(value) if isinstance(value, tuple) else value}")
    return f"{sampler.name}({', '.join(options)})"


def simulate(
    sampler: PathSampler,
    space: SearchSpace,
    budgets: Budgets,
    paths: int,
    rng: np.random.Generator,
    *,
    bin_edges: Sequence[float] | FloatArray | None = None,
    chunk: int = _CHUNK,
    progress: bool = False,
) -> SimulationStats:
    """Draw ``paths`` paths from ``sampler``, count their FLOPs and summarize the distribution.

    Args:
        sampler: The sampler (its space must be ``space``).
        space: The search space.
        budgets: f_0..f_M and their tolerances.
        paths: Number of paths (>= 1; the paper uses 750,000).
        rng: The seeded generator.
        bin_edges: Increasing FLOPs bin edges (default :func:`default_bin_edges`).
        chunk: Paths drawn per round (bounds memory).
        progress: Show a tqdm bar (if tqdm is installed).

    Raises:
        ValueError: If ``paths`` < 1, the spaces differ, the budgets' M differs from the scaling
            space's, or the edges are not increasing and positive.
    """
    if isinstance(paths, bool) or not isinstance(paths, (int, np.integer)) or paths < 1:
        raise ValueError(f"paths must be an integer >= 1, got {paths!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if sampler.space is not space and sampler.space != space:
        raise ValueError(f"sampler space {sampler.space.name!r} is not space {space.name!r}")
    max_stage = space.scaling.max_stage
    if budgets.max_stage != max_stage:
        raise ValueError(
            f"budgets have max_stage {budgets.max_stage}, the scaling space has M = {max_stage}"
        )
    edges = default_bin_edges(budgets) if bin_edges is None else np.asarray(bin_edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or edges[0] <= 0 or np.any(np.diff(edges) <= 0):
        raise ValueError("bin_edges must be at least 2 positive, strictly increasing values")

    flops_parts: list[IntArray] = []
    stage_parts: list[IntArray] = []
    bar = _progress(int(paths), sampler.name, progress)
    remaining = int(paths)
    while remaining > 0:
        size = min(remaining, chunk)
        sampled = sampler.sample_batch(size, rng)
        flops_parts.append(count_batch(space, sampled.batch).flops)
        stage_parts.append(sampled.scaling_stage)
        remaining -= size
        if bar is not None:
            bar.update(size)
    if bar is not None:
        bar.close()
    flops = np.concatenate(flops_parts)
    stage = np.concatenate(stage_parts)
    return _summarize(sampler, budgets, flops, stage, edges)


def _summarize(
    sampler: PathSampler, budgets: Budgets, flops: IntArray, stage: IntArray, edges: FloatArray
) -> SimulationStats:
    total = flops.size
    max_stage = budgets.max_stage
    counts, _ = np.histogram(flops, bins=edges)
    centres = np.sqrt(edges[:-1] * edges[1:])  # geometric: the bins are log-spaced
    stage_counts, stages, stage_share = [], [], []
    for j in range(max_stage + 1):
        mine = flops[stage == j]
        hist, _ = np.histogram(mine, bins=edges)
        stage_counts.append(tuple(int(c) for c in hist))
        stage_share.append(mine.size / total)
        empty = mine.size == 0
        stages.append(
            StageFlops(
                scaling_stage=j,
                count=int(mine.size),
                budget=budgets.budget(j),
                median=None if empty else float(np.median(mine)),
                mean=None if empty else float(mine.mean()),
                mode=None if empty or hist.sum() == 0 else float(centres[int(np.argmax(hist))]),
                fit_share=None if empty else float(np.mean(budgets.fits(mine, j))),
            )
        )
    return SimulationStats(
        sampler=sampler.name,
        description=_describe(sampler),
        paths=int(total),
        bin_edges=tuple(float(edge) for edge in edges),
        counts=tuple(int(c) for c in counts),
        underflow=int(np.sum(flops < edges[0])),
        overflow=int(np.sum(flops > edges[-1])),
        stage_counts=tuple(stage_counts),
        stage_share=tuple(float(share) for share in stage_share),
        no_stage_share=float(np.mean(stage == NO_STAGE)),
        window_share=tuple(float(np.mean(budgets.fits(flops, j))) for j in range(max_stage + 1)),
        stages=tuple(stages),
        flops_mean=float(flops.mean()),
        flops_median=float(np.median(flops)),
        flops_min=int(flops.min()),
        flops_max=int(flops.max()),
    )


def run_simulations(
    space: SearchSpace,
    budgets: Budgets,
    samplers: Sequence[str],
    paths: int,
    seed: int,
    *,
    stage_weights: str | Sequence[float] = "uniform",
    progress: bool = False,
) -> dict[str, SimulationStats]:
    """Simulate several samplers by name, each from its own ``default_rng(seed)``.

    Every sampler starts from the same seed, so ``--sampler hss`` and ``--sampler both`` give the
    same HSS numbers.
    """
    results = {}
    for name in samplers:
        options: dict[str, Any] = {"stage_weights": stage_weights} if name == "hss" else {}
        sampler = make_sampler(name, space, **options)
        results[name] = simulate(
            sampler, space, budgets, paths, np.random.default_rng(seed), progress=progress
        )
    return results


def stats_json(
    space: SearchSpace, budgets: Budgets, results: Mapping[str, SimulationStats], seed: int
) -> dict[str, Any]:
    """The statistics JSON (a DVC metric): budgets plus each sampler's summary."""
    return {
        "space": space.name,
        "seed": seed,
        "budgets": {str(j): budgets.budget(j) for j in range(budgets.max_stage + 1)},
        "tolerances": {str(j): budgets.tolerance_at(j) for j in range(budgets.max_stage + 1)},
        "samplers": {name: stats.to_json() for name, stats in results.items()},
    }


def histogram_json(
    space: SearchSpace, budgets: Budgets, results: Mapping[str, SimulationStats]
) -> dict[str, Any]:
    """The histogram JSON: shared bin edges plus each sampler's counts."""
    edges = next(iter(results.values())).bin_edges if results else ()
    return {
        "space": space.name,
        "bin_edges": list(edges),
        "per_octave": PER_OCTAVE,
        "budgets": budgets.values,
        "samplers": {name: stats.histogram_json() for name, stats in results.items()},
    }
