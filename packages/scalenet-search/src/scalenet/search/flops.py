"""FLOPs of many paths at once, memoized by path string (the search asks for the same ones)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from scalenet.space import Path, PathBatch, SearchSpace, count_batch

__all__ = ["FlopsCounter"]


class FlopsCounter:
    """Vectorized, memoized analytic FLOPs of paths of one space."""

    def __init__(self, space: SearchSpace) -> None:
        """Count FLOPs of paths of ``space``."""
        self.space = space
        self._memo: dict[str, int] = {}

    def __call__(self, paths: Sequence[Path]) -> npt.NDArray[np.int64]:
        """FLOPs of every path, in order."""
        keys = [path.encode() for path in paths]
        missing = {
            key: path for key, path in zip(keys, paths, strict=True) if key not in self._memo
        }
        if missing:
            batch = PathBatch.from_paths(self.space, list(missing.values()))
            for key, flops in zip(missing, count_batch(self.space, batch).flops, strict=True):
                self._memo[key] = int(flops)
        return np.asarray([self._memo[key] for key in keys], dtype=np.int64)

    def one(self, path: Path) -> int:
        """FLOPs of one path."""
        return int(self([path])[0])
