"""The space of scaling strategies (Table 2): one grid of (d, w, r) per scaling stage.

Scaling stage 0 is the base model, (1, 1, 1). Stages 1..M each hold a grid generated from
``(min, step, max)`` per dimension, or given as an explicit list of values (``{values: [...]}``);
the ImageNet grids of Table 2 give 4/5/7 depth and width values and 3 resolution values for stages
1/2/3. The official configuration's resolution lists are not evenly spaced (1.21, 1.285, 1.355;
1.425, 1.5, 1.58), hence the explicit form.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scalenet.space.arch import Scaling
from scalenet.space.fields import require_list, require_number

__all__ = ["ScalingSpace", "ScalingStageGrid", "grid_from_range", "grid_from_values"]

_GRID_DECIMALS = 6

#: One scaling stage's values of one dimension: ``[min, step, max]`` or ``{"values": [...]}``.
GridSpec = Sequence[float] | Mapping[str, Sequence[float]]
_DIMENSIONS = ("depth", "width", "resolution")


def grid_from_range(
    minimum: float, step: float, maximum: float, *, where: str = "grid"
) -> tuple[float, ...]:
    """Return ``minimum, minimum + step, ..., maximum`` (both ends included).

    Values are rounded to 6 decimals so that 1.04 + 3 * 0.04 is exactly 1.16.

    Raises:
        ValueError: If the range is empty, the step is not positive where needed, or
            ``maximum - minimum`` is not a whole number of steps.
    """
    if minimum <= 0:
        raise ValueError(f"{where}: min must be > 0, got {minimum}")
    if maximum < minimum:
        raise ValueError(f"{where}: max {maximum} is below min {minimum}")
    if maximum == minimum:
        return (round(float(minimum), _GRID_DECIMALS),)
    if step <= 0:
        raise ValueError(f"{where}: step must be > 0 when max > min, got {step}")
    count = (maximum - minimum) / step
    if abs(count - round(count)) > 1e-6:
        raise ValueError(
            f"{where}: (max - min) / step = ({maximum} - {minimum}) / {step} is not a whole number"
        )
    return tuple(round(minimum + index * step, _GRID_DECIMALS) for index in range(round(count) + 1))


def grid_from_values(values: Any, *, where: str = "grid") -> tuple[float, ...]:
    """Return an explicit list of coefficients as a tuple (rounded to 6 decimals).

    Raises:
        ValueError: Unless ``values`` is a non-empty list of positive numbers, each larger than
            the one before, naming ``where``.
    """
    items = require_list(values, f"{where} values")
    if not items:
        raise ValueError(f"{where}: values must list at least one coefficient")
    grid = tuple(
        round(require_number(value, f"{where} values[{index}]"), _GRID_DECIMALS)
        for index, value in enumerate(items)
    )
    for index, value in enumerate(grid):
        if value <= 0:
            raise ValueError(f"{where}: values[{index}] must be > 0, got {value}")
        if index and value <= grid[index - 1]:
            raise ValueError(
                f"{where}: values must increase, got {grid[index - 1]} then {value} "
                f"at [{index - 1}], [{index}]"
            )
    return grid


@dataclass(frozen=True)
class ScalingStageGrid:
    """The candidate coefficients of one scaling stage.

    Attributes:
        depth: Depth coefficients d.
        width: Width coefficients w.
        resolution: Resolution coefficients r.
    """

    depth: tuple[float, ...]
    width: tuple[float, ...]
    resolution: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in _DIMENSIONS:
            values = tuple(float(value) for value in getattr(self, name))
            if not values:
                raise ValueError(f"scaling grid: {name} has no values")
            if any(value <= 0 for value in values):
                raise ValueError(f"scaling grid: {name} values must be > 0, got {values}")
            object.__setattr__(self, name, values)

    @property
    def size(self) -> int:
        """Number of strategies (|d| * |w| * |r|)."""
        return len(self.depth) * len(self.width) * len(self.resolution)

    def strategies(self) -> list[Scaling]:
        """Every (d, w, r) of the grid, depth-major."""
        return [
            Scaling(depth, width, resolution)
            for depth, width, resolution in itertools.product(
                self.depth, self.width, self.resolution
            )
        ]

    def contains(self, scaling: Scaling) -> bool:
        """Whether ``scaling`` is a point of this grid (to 6 decimals)."""
        return (
            round(scaling.depth, _GRID_DECIMALS) in self.depth
            and round(scaling.width, _GRID_DECIMALS) in self.width
            and round(scaling.resolution, _GRID_DECIMALS) in self.resolution
        )


@dataclass(frozen=True)
class ScalingSpace:
    """Grids of scaling strategies for scaling stages 0..M (stage 0 is the identity).

    Attributes:
        stages: One grid per scaling stage, stage 0 first.
    """

    stages: tuple[ScalingStageGrid, ...]

    def __post_init__(self) -> None:
        if len(self.stages) < 1:
            raise ValueError("scaling space: needs at least scaling stage 0")
        identity = self.stages[0]
        if identity.size != 1 or not identity.contains(Scaling()):
            raise ValueError("scaling space: scaling stage 0 must be exactly (1, 1, 1)")

    @property
    def max_stage(self) -> int:
        """M, the largest scaling stage searched."""
        return len(self.stages) - 1

    @classmethod
    def from_ranges(
        cls,
        depth: Sequence[GridSpec],
        width: Sequence[GridSpec],
        resolution: Sequence[GridSpec],
    ) -> ScalingSpace:
        """Build stages 1..M from one ``(min, step, max)`` per stage and dimension.

        Any entry may instead be a mapping ``{"values": [v1, v2, ...]}``: that stage's explicit
        values of that dimension (positive, increasing).

        Args:
            depth: ``[(min, step, max), ...]`` for scaling stages 1..M.
            width: Same for width (Table 2 uses the depth grids).
            resolution: Same for resolution.

        Raises:
            ValueError: If the three lists differ in length or a range is malformed (naming the
                scaling stage, the dimension and the bound, e.g.
                ``scaling stage 2 width step must be a number, got 'x'``).
        """
        for name, ranges in zip(_DIMENSIONS, (depth, width, resolution), strict=True):
            require_list(ranges, f"scaling space: {name} (one [min, step, max] per scaling stage)")
        lengths = {len(depth), len(width), len(resolution)}
        if len(lengths) != 1:
            raise ValueError(
                "scaling space: depth, width and resolution need one range per scaling stage each, "
                f"got {len(depth)}, {len(width)} and {len(resolution)}"
            )
        grids = [ScalingStageGrid((1.0,), (1.0,), (1.0,))]
        for stage, ranges in enumerate(zip(depth, width, resolution, strict=True), start=1):
            values = []
            for name, spec in zip(_DIMENSIONS, ranges, strict=True):
                where = f"scaling stage {stage} {name}"
                if isinstance(spec, dict):
                    if set(spec) != {"values"}:
                        raise ValueError(
                            f"{where}: expected [min, step, max] or {{values: [...]}}, "
                            f"got keys {', '.join(sorted(map(str, spec)))}"
                        )
                    values.append(grid_from_values(spec["values"], where=where))
                    continue
                spec = require_list(spec, f"{where} [min, step, max]")
                if len(spec) != 3:
                    raise ValueError(f"{where}: expected [min, step, max], got {spec}")
                bounds = (
                    require_number(value, f"{where} {part}")
                    for value, part in zip(spec, ("min", "step", "max"), strict=True)
                )
                values.append(grid_from_range(*bounds, where=where))
            grids.append(ScalingStageGrid(*values))
        return cls(tuple(grids))

    def grid(self, scaling_stage: int) -> ScalingStageGrid:
        """The grid of one scaling stage.

        Raises:
            ValueError: If ``scaling_stage`` is outside 0..M.
        """
        if not 0 <= scaling_stage <= self.max_stage:
            raise ValueError(f"scaling_stage {scaling_stage} not in 0..{self.max_stage}")
        return self.stages[scaling_stage]

    def strategies(self, scaling_stage: int) -> list[Scaling]:
        """Every strategy of one scaling stage."""
        return self.grid(scaling_stage).strategies()

    @property
    def num_strategies(self) -> int:
        """Number of scaling strategies over all scaling stages, stage 0 included."""
        return sum(grid.size for grid in self.stages)

    def union(self, dimension: str) -> tuple[float, ...]:
        """Sorted union over all scaling stages of one dimension's values."""
        if dimension not in _DIMENSIONS:
            raise ValueError(f"dimension {dimension!r} not in {{{', '.join(_DIMENSIONS)}}}")
        return tuple(sorted({value for grid in self.stages for value in getattr(grid, dimension)}))

    def to_json(self) -> dict[str, Any]:
        """JSON form: the explicit grid of every scaling stage."""
        return {
            "max_stage": self.max_stage,
            "stages": [
                {"depth": list(g.depth), "width": list(g.width), "resolution": list(g.resolution)}
                for g in self.stages
            ],
        }
