"""A batch of paths as numpy arrays, for vectorized FLOPs and sampling.

Shapes, with B paths, S stages and N = the space's largest n_max:

* ``depths``  ``[B, S]``  int64: base blocks per stage (before depth scaling);
* ``kernels`` ``[B, S, N]`` int64, ``expands`` ``[B, S, N]`` int64, ``se`` ``[B, S, N]`` bool:
  block choices; entries at positions >= ``depths`` are padding and never read;
* ``out_chs`` ``[B, S]`` int64: base output channels per stage (the space's, or a preset's);
* ``depth``, ``width``, ``resolution`` ``[B]`` float64: the scaling coefficients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scalenet.space.arch import BaseArch, BlockSpec, Path, Scaling, StageSpec
from scalenet.space.space import SearchSpace

__all__ = ["PathBatch", "random_base_batch"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PathBatch:
    """B paths of one search space as arrays (see the module docstring for shapes)."""

    depths: IntArray
    kernels: IntArray
    expands: IntArray
    se: BoolArray
    out_chs: IntArray
    depth: FloatArray
    width: FloatArray
    resolution: FloatArray

    def __post_init__(self) -> None:
        size = self.depths.shape[0]
        if self.depths.ndim != 2:
            raise ValueError(f"depths must be [B, S], got shape {self.depths.shape}")
        for name in ("kernels", "expands", "se"):
            array = getattr(self, name)
            if array.ndim != 3 or array.shape[:2] != self.depths.shape:
                raise ValueError(f"{name} must be [B, S, N] matching depths, got {array.shape}")
        if self.out_chs.shape != self.depths.shape:
            raise ValueError(f"out_chs must be [B, S], got {self.out_chs.shape}")
        for name in ("depth", "width", "resolution"):
            if getattr(self, name).shape != (size,):
                raise ValueError(f"{name} must be [B] = [{size}], got {getattr(self, name).shape}")
        if np.any(self.depths < 1) or np.any(self.depths > self.kernels.shape[2]):
            raise ValueError(f"depths must lie in 1..{self.kernels.shape[2]}")

    def __len__(self) -> int:
        return int(self.depths.shape[0])

    @classmethod
    def from_paths(cls, space: SearchSpace, paths: Sequence[Path]) -> PathBatch:
        """Pack paths of ``space`` into arrays (each base must have the space's stage count)."""
        size, stages = len(paths), space.num_stages
        width = max([space.max_blocks] + [max(p.base.depths) for p in paths])
        kernels = np.ones((size, stages, width), dtype=np.int64)
        expands = np.ones((size, stages, width), dtype=np.int64)
        se = np.zeros((size, stages, width), dtype=bool)
        depths = np.zeros((size, stages), dtype=np.int64)
        out_chs = np.zeros((size, stages), dtype=np.int64)
        for row, path in enumerate(paths):
            space.check_shape(path.base)
            out_chs[row] = space.stage_out_chs(path.base)
            for col, stage in enumerate(path.base.stages):
                depths[row, col] = stage.depth
                for slot, block in enumerate(stage.blocks):
                    kernels[row, col, slot] = block.kernel
                    expands[row, col, slot] = block.expand
                    se[row, col, slot] = block.se
        scalings = np.array(
            [(p.scaling.depth, p.scaling.width, p.scaling.resolution) for p in paths],
            dtype=np.float64,
        ).reshape(size, 3)
        return cls(
            depths, kernels, expands, se, out_chs, *(scalings[:, i].copy() for i in range(3))
        )

    def path(self, index: int, space: SearchSpace | None = None) -> Path:
        """Unpack path ``index``; with ``space``, overrides equal to its defaults are dropped."""
        stages = []
        for col in range(self.depths.shape[1]):
            blocks = tuple(
                BlockSpec(
                    int(self.kernels[index, col, slot]),
                    int(self.expands[index, col, slot]),
                    bool(self.se[index, col, slot]),
                )
                for slot in range(int(self.depths[index, col]))
            )
            out_chs: int | None = int(self.out_chs[index, col])
            if space is not None and out_chs == space.stages[col].out_chs:
                out_chs = None
            stages.append(StageSpec(blocks, out_chs))
        scaling = Scaling(
            float(self.depth[index]), float(self.width[index]), float(self.resolution[index])
        )
        return Path(BaseArch(tuple(stages)), scaling)

    def paths(self, space: SearchSpace | None = None) -> list[Path]:
        """Unpack every path."""
        return [self.path(index, space) for index in range(len(self))]

    def with_scaling(
        self, depth: FloatArray | float, width: FloatArray | float, resolution: FloatArray | float
    ) -> PathBatch:
        """The same base models with other scaling coefficients (scalars broadcast)."""
        size = len(self)

        def column(value: FloatArray | float) -> FloatArray:
            return np.broadcast_to(np.asarray(value, dtype=np.float64), (size,)).copy()

        return PathBatch(
            self.depths, self.kernels, self.expands, self.se, self.out_chs,
            column(depth), column(width), column(resolution),
        )  # fmt: skip


def random_base_batch(space: SearchSpace, size: int, rng: np.random.Generator) -> PathBatch:
    """Draw ``size`` base models uniformly: n uniform per stage, each block's op uniform.

    This is the uniform base-model distribution used for the FLOPs budget (supplementary A) and
    by the samplers. The scaling of every path is (1, 1, 1).

    Args:
        space: The search space.
        size: Number of base models (>= 0).
        rng: The seeded generator; the same seed gives the same batch on any machine.
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    stages, width = space.num_stages, space.max_blocks
    depths = np.empty((size, stages), dtype=np.int64)
    kernels = np.empty((size, stages, width), dtype=np.int64)
    expands = np.empty((size, stages, width), dtype=np.int64)
    se = np.empty((size, stages, width), dtype=bool)
    for col, choices in enumerate(space.stages):
        depths[:, col] = rng.integers(choices.min_depth, choices.max_depth + 1, size=size)
        kernels[:, col] = rng.choice(np.asarray(choices.kernels), size=(size, width))
        expands[:, col] = rng.choice(np.asarray(choices.expands), size=(size, width))
        se[:, col] = rng.choice(np.asarray(choices.se), size=(size, width))
    out_chs = np.broadcast_to(
        np.asarray([c.out_chs for c in space.stages], dtype=np.int64), (size, stages)
    ).copy()
    ones = np.ones(size, dtype=np.float64)
    return PathBatch(depths, kernels, expands, se, out_chs, ones, ones.copy(), ones.copy())
