"""Path samplers of the super-supernet: uniform (the baseline) and hierarchical (HSS).

A path is a base model plus a scaling strategy (d, w, r). Every sampler here draws the base model
uniformly (:class:`BaseSampler`: n uniform per stage, each block's op uniform) and differs only in
how it draws the strategy:

* :class:`UniformSampler` (the paper's baseline): d, w and r each uniform over the union of all
  scaling stages' grids (stage 0's 1.0 included), independently;
* :class:`HierarchicalSampler` (HSS, supplementary D): a scaling stage j ~ Categorical(pi) first,
  then d, w, r uniform inside stage j's grids. pi is uniform over 0..M (the paper, default),
  proportional to the grid sizes (the official code) or given explicitly.

All randomness comes from the ``rng`` argument, never from the sampler, so a sampler holds no state:
it pickles cheaply and a trainer checkpoints only ``rng.bit_generator.state``. The same seed gives
the same paths on any machine (numpy's ``Generator`` streams are platform independent).

Random numbers are consumed in a fixed order per draw: the strategy first (stage, then d, w, r),
then the base model. ``sampler.sample(rng)`` is the first path of ``sampler.sample_batch(1, rng)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from scalenet.space import (
    BaseArch,
    Budgets,
    Path,
    PathBatch,
    ScalingSpace,
    SearchSpace,
    count_batch,
    random_base_batch,
)
from scalenet.space.fields import require_number

__all__ = [
    "NO_STAGE",
    "SAMPLERS",
    "STAGE_WEIGHTS",
    "BaseSampler",
    "HierarchicalSampler",
    "PathSampler",
    "PathSource",
    "SampledBatch",
    "UniformSampler",
    "draw_paths",
    "make_sampler",
    "resolve_stage_weights",
    "stage_of",
    "stage_window",
]

NO_STAGE = -1
"""Scaling stage reported for a uniformly sampled strategy that lies in no stage's grid."""

SAMPLERS = ("hss", "uniform")
STAGE_WEIGHTS = ("uniform", "grid_size")
_DIMENSIONS = ("depth", "width", "resolution")
_GRID_DECIMALS = 6  # grids are stored rounded to 6 decimals (scalenet.space.scaling_space)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
FlopsWindow = tuple[float, float]


@dataclass(frozen=True)
class SampledBatch:
    """A batch of sampled paths and the scaling stage of each.

    Attributes:
        batch: The paths as arrays.
        scaling_stage: ``[B]`` int64: for HSS the stage drawn; for the uniform sampler the stage
            whose grid contains the path's (d, w, r), or :data:`NO_STAGE` (-1) when none does.
    """

    batch: PathBatch
    scaling_stage: IntArray

    def __post_init__(self) -> None:
        if self.scaling_stage.shape != (len(self.batch),):
            raise ValueError(
                f"scaling_stage must be [B] = [{len(self.batch)}], got {self.scaling_stage.shape}"
            )

    def __len__(self) -> int:
        return len(self.batch)

    def paths(self, space: SearchSpace | None = None) -> list[Path]:
        """Unpack every path (see :meth:`PathBatch.paths`)."""
        return self.batch.paths(space)


@runtime_checkable
class PathSource(Protocol):
    """Anything that draws a path from a numpy generator: all the supernet trainer needs.

    The samplers here are :class:`PathSampler` s, which are path sources; a fixed path or a
    recorded sequence is one too.
    """

    def sample(self, rng: np.random.Generator) -> Path:
        """Draw one path."""
        ...


@runtime_checkable
class PathSampler(PathSource, Protocol):
    """What the pipelines need of a sampler: a :class:`PathSource` with name, space, batches.

    ``sample_batch`` draws many paths at once as arrays (the sampling simulation).
    """

    @property
    def name(self) -> str:
        """Short name (``hss`` or ``uniform``)."""
        ...

    @property
    def space(self) -> SearchSpace:
        """The search space sampled."""
        ...

    def sample(self, rng: np.random.Generator) -> Path:
        """Draw one path."""
        ...

    def sample_batch(self, size: int, rng: np.random.Generator) -> SampledBatch:
        """Draw ``size`` paths as arrays, with their scaling stages."""
        ...


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"size must be an integer, got {size!r}")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return int(size)


@dataclass(frozen=True)
class BaseSampler:
    """Uniform base models: n uniform per stage, each block's op uniform (Table 1).

    A search can reuse it alone; the path samplers use it for their base-model part.

    Attributes:
        space: The search space.
    """

    space: SearchSpace

    def sample(self, rng: np.random.Generator) -> BaseArch:
        """Draw one base model (the first of ``sample_batch(1, rng)``)."""
        return self.sample_batch(1, rng).path(0, self.space).base

    def sample_batch(self, size: int, rng: np.random.Generator) -> PathBatch:
        """Draw ``size`` base models as a :class:`PathBatch` with scaling (1, 1, 1)."""
        return random_base_batch(self.space, _check_size(size), rng)


def stage_of(
    scaling: ScalingSpace, depth: FloatArray, width: FloatArray, resolution: FloatArray
) -> IntArray:
    """The scaling stage whose grid holds each (d, w, r), or :data:`NO_STAGE` (vectorized).

    Table 2's grids are disjoint in depth (and width), so at most one stage matches; if a custom
    scaling space had overlapping grids, the lowest stage wins.
    """
    values = [
        np.round(np.asarray(v, dtype=np.float64), _GRID_DECIMALS)
        for v in (depth, width, resolution)
    ]
    stage = np.full(values[0].shape, NO_STAGE, dtype=np.int64)
    for index in range(scaling.max_stage, -1, -1):
        grid = scaling.grid(index)
        inside = np.ones(values[0].shape, dtype=bool)
        for value, name in zip(values, _DIMENSIONS, strict=True):
            inside &= np.isin(value, np.asarray(getattr(grid, name)))
        stage[inside] = index
    return stage


def stage_window(budgets: Budgets, scaling_stage: int) -> FlopsWindow:
    """The FLOPs window f_j +- tolerance * 2**j of one scaling stage (for ``flops_window``)."""
    budget, tolerance = budgets.budget(scaling_stage), budgets.tolerance_at(scaling_stage)
    return (float(budget - tolerance), float(budget + tolerance))


def resolve_stage_weights(
    scaling: ScalingSpace, stage_weights: str | Sequence[float] | npt.NDArray[Any]
) -> FloatArray:
    """The stage probabilities pi_0..pi_M of HSS.

    Args:
        scaling: The scaling space (M + 1 stages).
        stage_weights: ``"uniform"`` (the paper), ``"grid_size"`` (the official code: pi_j
            proportional to |grid_j|) or M + 1 non-negative weights with a positive sum (a
            sequence or a 1-D numpy array of real numbers; bools and strings are refused).

    Raises:
        ValueError: Naming the allowed values, the expected length or the offending weight, e.g.
            ``stage_weights[1] must be a number, got 'a'``.
    """
    count = scaling.max_stage + 1
    if isinstance(stage_weights, str):
        if stage_weights == "uniform":
            weights = np.ones(count, dtype=np.float64)
        elif stage_weights == "grid_size":
            weights = np.asarray([grid.size for grid in scaling.stages], dtype=np.float64)
        else:
            raise ValueError(
                f"stage_weights {stage_weights!r} not in {{{', '.join(STAGE_WEIGHTS)}}} "
                "or a sequence of weights"
            )
    else:
        weights = np.asarray(_weight_values(stage_weights), dtype=np.float64)
        if weights.shape != (count,):
            raise ValueError(
                f"stage_weights needs {count} weights (scaling stages 0..{count - 1}), "
                f"got {weights.size}"
            )
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"stage_weights must be finite and >= 0, got {weights.tolist()}")
        if not weights.sum() > 0:
            raise ValueError(f"stage_weights must sum to a positive value, got {weights.tolist()}")
    return weights / weights.sum()


def _weight_values(stage_weights: Any) -> tuple[float, ...]:
    """Explicit stage weights as floats, each checked to be a real number (naming its index)."""
    if isinstance(stage_weights, np.ndarray):
        if stage_weights.ndim != 1:
            raise ValueError(
                "stage_weights must be one weight per scaling stage, "
                f"got an array of shape {stage_weights.shape}"
            )
        values = stage_weights.tolist()
    elif isinstance(stage_weights, Sequence) and not isinstance(stage_weights, (str, bytes)):
        values = list(stage_weights)
    else:
        raise ValueError(
            f"stage_weights must be one of {{{', '.join(STAGE_WEIGHTS)}}} or a sequence of "
            f"numbers, got {stage_weights!r}"
        )
    return tuple(
        require_number(value, f"stage_weights[{index}]") for index, value in enumerate(values)
    )


def _check_restrictions(
    scaling: ScalingSpace,
    scaling_stage: int | None,
    flops_window: FlopsWindow | None,
    max_tries: int,
) -> None:
    if scaling_stage is not None:
        if isinstance(scaling_stage, bool) or not isinstance(scaling_stage, (int, np.integer)):
            raise ValueError(f"scaling_stage must be an integer, got {scaling_stage!r}")
        if not 0 <= scaling_stage <= scaling.max_stage:
            raise ValueError(f"scaling_stage {scaling_stage} not in 0..{scaling.max_stage}")
    if flops_window is not None:
        if len(flops_window) != 2:
            raise ValueError(f"flops_window must be (low, high), got {flops_window!r}")
        low, high = flops_window
        if not (np.isfinite(low) and np.isfinite(high)) or low > high or high <= 0:
            raise ValueError(
                f"flops_window must be finite with 0 < high and low <= high, got {flops_window!r}"
            )
    if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
        raise ValueError(f"max_tries must be an integer >= 1, got {max_tries!r}")


def _draw_from_grids(
    scaling: ScalingSpace, stages: IntArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """d, w, r uniform inside the grid of each row's scaling stage (vectorized)."""
    drawn = []
    for name in _DIMENSIONS:
        grids = [getattr(scaling.grid(j), name) for j in range(scaling.max_stage + 1)]
        sizes = np.asarray([len(grid) for grid in grids], dtype=np.int64)
        table = np.zeros((len(grids), int(sizes.max())), dtype=np.float64)
        for row, grid in enumerate(grids):
            table[row, : len(grid)] = grid
        index = rng.integers(0, sizes[stages]) if stages.size else np.zeros(0, dtype=np.int64)
        drawn.append(table[stages, index])
    return drawn[0], drawn[1], drawn[2]


class _Rejection:
    """Mixin: FLOPs-window restriction by rejection, with a bounded number of candidates."""

    space: SearchSpace
    flops_window: FlopsWindow | None
    max_tries: int

    @property
    def name(self) -> str:
        """Short name of the sampler."""
        raise NotImplementedError

    def _draw(self, size: int, rng: np.random.Generator) -> SampledBatch:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> Path:
        """Draw one path (the first of ``sample_batch(1, rng)``)."""
        return self.sample_batch(1, rng).batch.path(0, self.space)

    def sample_batch(self, size: int, rng: np.random.Generator) -> SampledBatch:
        """Draw ``size`` paths and their scaling stages.

        With a ``flops_window``, candidates are drawn in rounds and those outside the window
        rejected; at most ``max_tries * size`` candidates are drawn.

        Raises:
            ValueError: If ``size`` is negative, or the window accepted too few candidates.
        """
        size = _check_size(size)
        if self.flops_window is None or size == 0:
            return self._draw(size, rng)
        low, high = self.flops_window
        budget = self.max_tries * size
        kept: list[SampledBatch] = []
        accepted = drawn = 0
        while accepted < size and drawn < budget:
            # Oversample by the acceptance seen so far (at least 1/64) to need few rounds.
            rate = max(accepted / drawn, 1 / 64) if drawn else 1.0
            want = int(np.ceil((size - accepted) / rate * 1.2)) + 16
            chunk = min(budget - drawn, max(want, 1024), 1 << 18)
            candidates = self._draw(chunk, rng)
            flops = count_batch(self.space, candidates.batch).flops
            keep = np.flatnonzero((flops >= low) & (flops <= high))[: size - accepted]
            drawn += chunk
            accepted += keep.size
            if keep.size:
                kept.append(_take(candidates, keep))
        if accepted < size:
            raise ValueError(
                f"{self.name} sampler: flops_window [{low:,.0f}, {high:,.0f}] accepted {accepted} "
                f"of {drawn:,} candidates, {size} needed (max_tries={self.max_tries}); "
                "widen the window, change scaling_stage or raise max_tries"
            )
        return _concat(kept)


def _take(sampled: SampledBatch, rows: IntArray) -> SampledBatch:
    batch = sampled.batch
    return SampledBatch(
        PathBatch(*(getattr(batch, field.name)[rows] for field in fields(PathBatch))),
        sampled.scaling_stage[rows],
    )


def _concat(parts: list[SampledBatch]) -> SampledBatch:
    if len(parts) == 1:
        return parts[0]
    batch = PathBatch(
        *(
            np.concatenate([getattr(part.batch, field.name) for part in parts])
            for field in fields(PathBatch)
        )
    )
    return SampledBatch(batch, np.concatenate([part.scaling_stage for part in parts]))


@dataclass(frozen=True)
class UniformSampler(_Rejection):
    """The baseline: base model uniform; d, w, r each uniform over the union of all grids.

    The scaling stage reported for a path is the one whose grid contains its (d, w, r), or
    :data:`NO_STAGE` (-1): with Table 2's grids only about 10% of the strategies lie in a grid
    (1 in 2,601 is stage 0's (1, 1, 1)).

    Attributes:
        space: The search space (its ``scaling`` gives the grids).
        scaling_stage: If set, draw only strategies of this stage's grid. The uniform sampler's
            conditional distribution given stage j is uniform over grid j, so this is drawn
            exactly (no rejection) and equals HSS restricted to j.
        flops_window: If set, ``(low, high)``: keep only paths whose FLOPs lie in it (inclusive),
            by rejection.
        max_tries: The rejection draws at most ``max_tries * size`` candidates, then fails.
    """

    space: SearchSpace
    scaling_stage: int | None = None
    flops_window: FlopsWindow | None = None
    max_tries: int = 1000

    def __post_init__(self) -> None:
        _check_restrictions(
            self.space.scaling, self.scaling_stage, self.flops_window, self.max_tries
        )

    @property
    def name(self) -> str:
        """``uniform``."""
        return "uniform"

    def _draw(self, size: int, rng: np.random.Generator) -> SampledBatch:
        scaling = self.space.scaling
        if self.scaling_stage is not None:
            stages = np.full(size, self.scaling_stage, dtype=np.int64)
            depth, width, resolution = _draw_from_grids(scaling, stages, rng)
        else:
            depth, width, resolution = (
                rng.choice(np.asarray(scaling.union(name), dtype=np.float64), size=size)
                for name in _DIMENSIONS
            )
            stages = stage_of(scaling, depth, width, resolution)
        base = random_base_batch(self.space, size, rng)
        return SampledBatch(base.with_scaling(depth, width, resolution), stages)


@dataclass(frozen=True)
class HierarchicalSampler(_Rejection):
    """HSS: scaling stage j ~ Categorical(pi), then d, w, r uniform in stage j's grids.

    Attributes:
        space: The search space (its ``scaling`` gives the grids).
        stage_weights: ``"uniform"`` (paper, default), ``"grid_size"`` (official code) or M + 1
            explicit non-negative weights (normalized; their sum must be positive).
        scaling_stage: If set, always draw this stage (pi is one-hot; ``stage_weights`` ignored).
        flops_window: If set, ``(low, high)``: keep only paths whose FLOPs lie in it (inclusive),
            by rejection.
        max_tries: The rejection draws at most ``max_tries * size`` candidates, then fails.
    """

    space: SearchSpace
    stage_weights: str | Sequence[float] = "uniform"
    scaling_stage: int | None = None
    flops_window: FlopsWindow | None = None
    max_tries: int = 1000

    def __post_init__(self) -> None:
        if not isinstance(self.stage_weights, str):
            # A tuple of floats: hashable and comparable, also when given a numpy array.
            object.__setattr__(self, "stage_weights", _weight_values(self.stage_weights))
        resolve_stage_weights(self.space.scaling, self.stage_weights)
        _check_restrictions(
            self.space.scaling, self.scaling_stage, self.flops_window, self.max_tries
        )

    @property
    def name(self) -> str:
        """``hss``."""
        return "hss"

    @property
    def probabilities(self) -> FloatArray:
        """pi_0..pi_M actually used (one-hot when restricted to a scaling stage)."""
        if self.scaling_stage is not None:
            one_hot = np.zeros(self.space.scaling.max_stage + 1, dtype=np.float64)
            one_hot[self.scaling_stage] = 1.0
            return one_hot
        return resolve_stage_weights(self.space.scaling, self.stage_weights)

    def _draw(self, size: int, rng: np.random.Generator) -> SampledBatch:
        scaling = self.space.scaling
        if self.scaling_stage is not None:
            stages = np.full(size, self.scaling_stage, dtype=np.int64)
        else:
            stages = rng.choice(scaling.max_stage + 1, size=size, p=self.probabilities).astype(
                np.int64
            )
        depth, width, resolution = _draw_from_grids(scaling, stages, rng)
        base = random_base_batch(self.space, size, rng)
        return SampledBatch(base.with_scaling(depth, width, resolution), stages)


_OPTIONS = {
    "hss": ("stage_weights", "scaling_stage", "flops_window", "max_tries"),
    "uniform": ("scaling_stage", "flops_window", "max_tries"),
}


def make_sampler(
    name: str, space: SearchSpace, **options: Any
) -> HierarchicalSampler | UniformSampler:
    """Build a sampler by name (for the supernet trainer and the pipelines).

    Args:
        name: ``hss`` or ``uniform``.
        space: The search space.
        **options: ``stage_weights`` (hss only), ``scaling_stage``, ``flops_window``, ``max_tries``.

    Raises:
        ValueError: If the name or an option is unknown, or an option's value is invalid.
    """
    if name not in _OPTIONS:
        raise ValueError(f"sampler {name!r} not in {{{', '.join(SAMPLERS)}}}")
    unknown = sorted(set(options) - set(_OPTIONS[name]))
    if unknown:
        raise ValueError(
            f"{name} sampler: unknown option(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(_OPTIONS[name])}"
        )
    if name == "hss":
        return HierarchicalSampler(space, **options)
    return UniformSampler(space, **options)


def draw_paths(
    name: str, space: SearchSpace, count: int, seed: int, **options: Any
) -> tuple[list[Path], list[int]]:
    """``count`` paths of sampler ``name`` from ``default_rng(seed)``, with the FLOPs of each.

    One seeded draw that several consumers repeat exactly: the pipeline's ranking paths are
    scored on each super-supernet and, the first few, trained stand-alone. ``options`` go to
    :func:`make_sampler`.
    """
    sampled = make_sampler(name, space, **options).sample_batch(count, np.random.default_rng(seed))
    flops = count_batch(space, sampled.batch).flops
    return sampled.paths(space), [int(value) for value in flops]
