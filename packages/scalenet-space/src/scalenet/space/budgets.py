"""FLOPs budgets of the scaling stages (supplementary A).

f0 is the mean FLOPs of uniformly sampled base models (Monte Carlo, >= 100,000 samples), rounded
to a multiple of ``budget_unit`` (50 M for ImageNet); f_j = 2**j * f0; a path fits scaling stage j
when |FLOPs - f_j| <= tolerance * 2**j.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scalenet.space.batch import random_base_batch
from scalenet.space.fields import require_int, require_number, require_object
from scalenet.space.flops import count_batch
from scalenet.space.space import SearchSpace

__all__ = ["Budgets", "compute_budgets", "mean_base_flops"]

MIN_SAMPLES = 100_000


@dataclass(frozen=True)
class Budgets:
    """FLOPs budgets f_0..f_M and the tolerance around each.

    Attributes:
        f0: Budget of the base model.
        max_stage: M.
        tolerance: Tolerance at scaling stage 0 (doubles with every stage).
        mean_flops: The Monte Carlo mean f0 was rounded from (0 if f0 was given).
        unit: The rounding unit of f0.
        samples: Monte Carlo sample count (0 if f0 was given).
        seed: Monte Carlo seed (None if f0 was given).
    """

    f0: int
    max_stage: int
    tolerance: int
    mean_flops: float = 0.0
    unit: int = 1
    samples: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.f0 <= 0:
            raise ValueError(f"f0 must be > 0, got {self.f0}")
        if self.max_stage < 0:
            raise ValueError(f"max_stage must be >= 0, got {self.max_stage}")
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")

    def budget(self, scaling_stage: int) -> int:
        """f_j = 2**j * f0 (any j >= 0, also beyond M for generalization)."""
        if scaling_stage < 0:
            raise ValueError(f"scaling_stage must be >= 0, got {scaling_stage}")
        return (2**scaling_stage) * self.f0

    def tolerance_at(self, scaling_stage: int) -> int:
        """Tolerance * 2**j."""
        return (2**scaling_stage) * self.tolerance if scaling_stage >= 0 else 0

    @property
    def values(self) -> list[int]:
        """[f_0, ..., f_M]."""
        return [self.budget(j) for j in range(self.max_stage + 1)]

    def fits(self, flops: int | npt.NDArray[np.int64], scaling_stage: int) -> Any:
        """Whether FLOPs lie within f_j +- tolerance * 2**j (elementwise for arrays)."""
        return np.abs(np.asarray(flops) - self.budget(scaling_stage)) <= self.tolerance_at(
            scaling_stage
        )

    def nearest_stage(self, flops: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The scaling stage whose budget is nearest in log2 (clipped to 0..M)."""
        ratio = np.log2(np.maximum(np.asarray(flops, dtype=np.float64), 1.0) / self.f0)
        return np.clip(np.rint(ratio), 0, self.max_stage).astype(np.int64)

    def to_json(self) -> dict[str, Any]:
        """JSON form (the DVC metric of the ``budgets`` stage)."""
        return {
            "mean_flops": self.mean_flops,
            "f0": self.f0,
            "unit": self.unit,
            "tolerance": self.tolerance,
            "max_stage": self.max_stage,
            "samples": self.samples,
            "seed": self.seed,
            "budgets": {str(j): value for j, value in enumerate(self.values)},
            "tolerances": {str(j): self.tolerance_at(j) for j in range(self.max_stage + 1)},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Budgets:
        """Build from :meth:`to_json` output.

        Raises:
            ValueError: If a key is missing or has the wrong type (ints for ``f0``,
                ``max_stage``, ``tolerance``, ``unit``, ``samples``; a number for ``mean_flops``;
                an int or null for ``seed``), naming the key, e.g. ``budgets: f0 must be an int,
                got '3e8'``.
        """
        require_object(data, "budgets")
        for key in ("f0", "max_stage", "tolerance"):
            if key not in data:
                raise ValueError(f"budgets JSON is missing key {key!r}")
        seed = data.get("seed")
        return cls(
            f0=require_int(data["f0"], "budgets: f0"),
            max_stage=require_int(data["max_stage"], "budgets: max_stage"),
            tolerance=require_int(data["tolerance"], "budgets: tolerance"),
            mean_flops=require_number(data.get("mean_flops", 0.0), "budgets: mean_flops"),
            unit=require_int(data.get("unit", 1), "budgets: unit"),
            samples=require_int(data.get("samples", 0), "budgets: samples"),
            seed=None if seed is None else require_int(seed, "budgets: seed"),
        )


def mean_base_flops(space: SearchSpace, samples: int, rng: np.random.Generator) -> float:
    """Mean FLOPs of ``samples`` uniformly drawn base models (chunked to bound memory)."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    total, remaining = 0.0, samples
    while remaining > 0:
        chunk = min(remaining, 250_000)
        total += float(count_batch(space, random_base_batch(space, chunk, rng)).flops.sum())
        remaining -= chunk
    return total / samples


def compute_budgets(
    space: SearchSpace,
    *,
    samples: int = MIN_SAMPLES,
    seed: int = 0,
    unit: int | None = None,
    tolerance: int | None = None,
    max_stage: int | None = None,
) -> Budgets:
    """f0 by Monte Carlo (rounded to the nearest positive multiple of ``unit``) and f_j = 2**j f0.

    Args:
        space: The search space.
        samples: Base models to draw (the paper uses about 100,000; fewer is refused).
        seed: Seed of the generator.
        unit: Rounding unit (default: the space's ``budget_unit``).
        tolerance: Tolerance at stage 0 (default: the space's ``budget_tolerance``).
        max_stage: M (default: the space's scaling space).
    """
    if samples < MIN_SAMPLES:
        raise ValueError(f"samples must be >= {MIN_SAMPLES:,} (supplementary A), got {samples:,}")
    unit = space.budget_unit if unit is None else unit
    if unit < 1:
        raise ValueError(f"unit must be >= 1, got {unit}")
    mean = mean_base_flops(space, samples, np.random.default_rng(seed))
    f0 = max(unit, round(mean / unit) * unit)
    return Budgets(
        f0=f0,
        max_stage=space.scaling.max_stage if max_stage is None else max_stage,
        tolerance=space.budget_tolerance if tolerance is None else tolerance,
        mean_flops=mean,
        unit=unit,
        samples=samples,
        seed=seed,
    )
