"""FLOPs budgets of the scaling stages (supplementary A).

f0 is the mean FLOPs of uniformly sampled base models (Monte Carlo, >= 100,000 samples), rounded
to a multiple of ``budget_unit`` (50 M for ImageNet); f_j = 2**j * f0; a path fits scaling stage j
when |FLOPs - f_j| <= tolerance * 2**j.

Explicit budgets replace the 2**j rule with a list f_0, f_1, ..., f_L (positive, increasing):
the paper's ImageNet-1k models use 350, 800, 1,500, 3,000, 6,000 and 10,000 MFLOPs (supplementary
G), not 2**j * 300 M. Then f0 = f_0, the tolerance grows in proportion to the budget
(tolerance * f_j / f0, which is tolerance * 2**j under the rule), and stages beyond the list
double its last budget.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scalenet.space.arch import BaseArch
from scalenet.space.batch import random_base_batch
from scalenet.space.fields import require_int, require_list, require_number, require_object
from scalenet.space.files import read_json
from scalenet.space.flops import count_batch
from scalenet.space.rules import DEFAULT_CONVENTION, check_convention
from scalenet.space.space import SearchSpace

__all__ = [
    "PAPER_IMAGENET_BUDGETS",
    "Budgets",
    "check_explicit_budgets",
    "compute_budgets",
    "feasible_bases",
    "load_budgets",
    "mean_base_flops",
]

MIN_SAMPLES = 100_000

#: The budgets of ScaleNet-S0..S5 on ImageNet-1k (supplementary G), in FLOPs (MACs).
PAPER_IMAGENET_BUDGETS: tuple[int, ...] = (
    350_000_000,
    800_000_000,
    1_500_000_000,
    3_000_000_000,
    6_000_000_000,
    10_000_000_000,
)


def check_explicit_budgets(values: Any, where: str = "budgets: explicit") -> tuple[int, ...]:
    """Return an explicit budget list as a tuple of ints if it is valid.

    Args:
        values: The list f_0, f_1, ... in FLOPs.
        where: The field, as messages name it.

    Raises:
        ValueError: Unless ``values`` is a non-empty list of positive ints, each larger than the
            one before, e.g. ``budgets: explicit must increase, got 800,000,000 then 700,000,000
            at [1], [2]``.
    """
    items = require_list(values, where)
    if not items:
        raise ValueError(f"{where} must list at least one budget (f_0), got []")
    budgets = tuple(require_int(value, f"{where}[{index}]") for index, value in enumerate(items))
    for index, value in enumerate(budgets):
        if value <= 0:
            raise ValueError(f"{where}[{index}] must be > 0, got {value}")
        if index and value <= budgets[index - 1]:
            raise ValueError(
                f"{where} must increase, got {budgets[index - 1]:,} then {value:,} "
                f"at [{index - 1}], [{index}]"
            )
    return budgets


@dataclass(frozen=True)
class Budgets:
    """FLOPs budgets f_0..f_M and the tolerance around each.

    Attributes:
        f0: Budget of the base model (``explicit[0]`` when the list is given).
        max_stage: M.
        tolerance: Tolerance at scaling stage 0 (grows with the budget: doubles with every stage
            under the 2**j rule).
        mean_flops: The Monte Carlo mean (f0 was rounded from it unless explicit; 0 if f0 was
            given).
        unit: The rounding unit of f0.
        samples: Monte Carlo sample count (0 if f0 was given).
        seed: Monte Carlo seed (None if f0 was given).
        explicit: Explicit budgets f_0..f_L (L >= M), or ``()`` for f_j = 2**j * f0.
        convention: FLOPs convention the Monte Carlo mean was counted with (``torch`` or
            ``official``, :mod:`scalenet.space.rules`).
    """

    f0: int
    max_stage: int
    tolerance: int
    mean_flops: float = 0.0
    unit: int = 1
    samples: int = 0
    seed: int | None = None
    explicit: tuple[int, ...] = ()
    convention: str = DEFAULT_CONVENTION

    def __post_init__(self) -> None:
        if self.f0 <= 0:
            raise ValueError(f"f0 must be > 0, got {self.f0}")
        if self.max_stage < 0:
            raise ValueError(f"max_stage must be >= 0, got {self.max_stage}")
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")
        check_convention(self.convention)
        if len(self.explicit) == 0:
            object.__setattr__(self, "explicit", ())
            return
        explicit = check_explicit_budgets(self.explicit)
        object.__setattr__(self, "explicit", explicit)
        if len(explicit) < self.max_stage + 1:
            raise ValueError(
                f"budgets: explicit lists {len(explicit)} budget(s), scaling stages "
                f"0..{self.max_stage} need at least {self.max_stage + 1}"
            )
        if self.f0 != explicit[0]:
            raise ValueError(f"budgets: f0 {self.f0:,} must equal explicit[0] = {explicit[0]:,}")

    def budget(self, scaling_stage: int) -> int:
        """f_j (any j >= 0, also beyond M for generalization).

        2**j * f0, or the explicit list's f_j; beyond the list, its last budget doubles per stage.
        """
        if scaling_stage < 0:
            raise ValueError(f"scaling_stage must be >= 0, got {scaling_stage}")
        if not self.explicit:
            return (2**scaling_stage) * self.f0
        if scaling_stage < len(self.explicit):
            return self.explicit[scaling_stage]
        return self.explicit[-1] * 2 ** (scaling_stage - len(self.explicit) + 1)

    def tolerance_at(self, scaling_stage: int) -> int:
        """Tolerance * f_j / f0 (= tolerance * 2**j under the 2**j rule), rounded down."""
        if scaling_stage < 0:
            return 0
        return self.tolerance * self.budget(scaling_stage) // self.f0

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
        positive = np.maximum(np.asarray(flops, dtype=np.float64), 1.0)
        if self.explicit:
            targets = np.log2(np.asarray(self.values, dtype=np.float64))
            distance = np.abs(np.log2(positive)[..., None] - targets)
            return np.argmin(distance, axis=-1).astype(np.int64)
        ratio = np.log2(positive / self.f0)
        return np.clip(np.rint(ratio), 0, self.max_stage).astype(np.int64)

    def to_json(self) -> dict[str, Any]:
        """JSON form (the DVC metric of the ``budgets`` stage).

        ``explicit`` and ``convention`` appear only when set (an explicit list, ``official``), so
        the default budgets write the same JSON as before they existed.
        """
        data: dict[str, Any] = {
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
        if self.explicit:
            data["explicit"] = list(self.explicit)
        if self.convention != DEFAULT_CONVENTION:
            data["convention"] = self.convention
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Budgets:
        """Build from :meth:`to_json` output.

        Raises:
            ValueError: If a key is missing or has the wrong type (ints for ``f0``,
                ``max_stage``, ``tolerance``, ``unit``, ``samples``; a number for ``mean_flops``;
                an int or null for ``seed``; null or a list of increasing positive ints for
                ``explicit``; ``torch`` or ``official`` for ``convention``), naming the key, e.g.
                ``budgets: f0 must be an int, got '3e8'``. Both of the last two are optional.
        """
        require_object(data, "budgets")
        for key in ("f0", "max_stage", "tolerance"):
            if key not in data:
                raise ValueError(f"budgets JSON is missing key {key!r}")
        seed = data.get("seed")
        explicit = data.get("explicit")
        convention = data.get("convention", DEFAULT_CONVENTION)
        if not isinstance(convention, str):
            raise ValueError(f"budgets: convention must be a string, got {convention!r}")
        return cls(
            f0=require_int(data["f0"], "budgets: f0"),
            max_stage=require_int(data["max_stage"], "budgets: max_stage"),
            tolerance=require_int(data["tolerance"], "budgets: tolerance"),
            mean_flops=require_number(data.get("mean_flops", 0.0), "budgets: mean_flops"),
            unit=require_int(data.get("unit", 1), "budgets: unit"),
            samples=require_int(data.get("samples", 0), "budgets: samples"),
            seed=None if seed is None else require_int(seed, "budgets: seed"),
            explicit=() if explicit is None else check_explicit_budgets(explicit),
            convention=convention,
        )


def mean_base_flops(
    space: SearchSpace,
    samples: int,
    rng: np.random.Generator,
    *,
    convention: str = DEFAULT_CONVENTION,
) -> float:
    """Mean FLOPs of ``samples`` uniformly drawn base models (chunked to bound memory).

    ``convention`` is the FLOPs convention (``torch`` or ``official``, :mod:`scalenet.space.rules`).
    """
    check_convention(convention)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    total, remaining = 0.0, samples
    while remaining > 0:
        chunk = min(remaining, 250_000)
        batch = random_base_batch(space, chunk, rng)
        total += float(count_batch(space, batch, convention=convention).flops.sum())
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
    explicit: Sequence[int] | None = None,
    convention: str = DEFAULT_CONVENTION,
) -> Budgets:
    """f0 by Monte Carlo (rounded to the nearest positive multiple of ``unit``) and f_j = 2**j f0.

    With ``explicit``, the budgets are that list (f0 = its first value) and the Monte Carlo mean
    is still computed and recorded (``mean_flops``), to compare the two.

    Args:
        space: The search space.
        samples: Base models to draw (the paper uses about 100,000; fewer is refused).
        seed: Seed of the generator.
        unit: Rounding unit (default: the space's ``budget_unit``).
        tolerance: Tolerance at stage 0 (default: the space's ``budget_tolerance``).
        max_stage: M (default: the space's scaling space).
        explicit: Budgets f_0, f_1, ... in FLOPs (positive, increasing, at least M + 1 of them),
            e.g. :data:`PAPER_IMAGENET_BUDGETS`; None for the 2**j rule.
        convention: FLOPs convention of the Monte Carlo mean (``torch`` or ``official``).

    Raises:
        ValueError: On too few samples, a unit < 1, a malformed explicit list or an unknown
            convention, naming the argument.
    """
    check_convention(convention)
    values = None if explicit is None else check_explicit_budgets(explicit, "explicit")
    if samples < MIN_SAMPLES:
        raise ValueError(f"samples must be >= {MIN_SAMPLES:,} (supplementary A), got {samples:,}")
    unit = space.budget_unit if unit is None else unit
    if unit < 1:
        raise ValueError(f"unit must be >= 1, got {unit}")
    mean = mean_base_flops(space, samples, np.random.default_rng(seed), convention=convention)
    f0 = max(unit, round(mean / unit) * unit) if values is None else values[0]
    return Budgets(
        f0=f0,
        max_stage=space.scaling.max_stage if max_stage is None else max_stage,
        tolerance=space.budget_tolerance if tolerance is None else tolerance,
        mean_flops=mean,
        unit=unit,
        samples=samples,
        seed=seed,
        explicit=() if values is None else values,
        convention=convention,
    )


def load_budgets(path: str | os.PathLike[str], space: SearchSpace | None = None) -> Budgets:
    """Read a budgets file: :meth:`Budgets.to_json` plus the ``space`` it was computed for.

    This is the budgets stage's ``outputs/budgets.json``, read by every later stage and CLI.

    Args:
        path: The file.
        space: When given, the file must name this space (or none) and have its M.

    Raises:
        ValueError: The file is missing, not JSON, not an object, malformed (the key named, see
            :meth:`Budgets.from_json`), for another space, or its M differs from the space's.
    """
    file = Path(path)
    data = read_json(file, "budgets file", hint=" (run the budgets stage)")
    budgets = Budgets.from_json(data)
    if space is not None:
        named = data.get("space")
        if named is not None and named != space.name:
            raise ValueError(f"budgets file {file} is for space {named!r}, not {space.name!r}")
        if budgets.max_stage != space.scaling.max_stage:
            raise ValueError(
                f"budgets file {file}: max_stage {budgets.max_stage} differs from the space's "
                f"M = {space.scaling.max_stage}"
            )
    return budgets


def feasible_bases(
    space: SearchSpace,
    budgets: Budgets,
    count: int,
    rng: np.random.Generator,
    *,
    chunk: int | None = None,
    max_tries: int = 1000,
) -> list[BaseArch]:
    """Draw ``count`` uniform base models whose FLOPs fit f0 +- tol (rejection sampling).

    Batches of ``chunk`` base models (default ``max(64, 4 * count)``) are drawn from ``rng`` and
    the fitting ones kept in order, so a seed gives the same models on every machine.

    Raises:
        ValueError: If ``max_tries`` batches do not yield enough fitting models.
    """
    chunk = max(64, 4 * count) if chunk is None else chunk
    found: list[BaseArch] = []
    for _ in range(max_tries):
        batch = random_base_batch(space, chunk, rng)
        keep = np.flatnonzero(budgets.fits(count_batch(space, batch).flops, 0))
        found.extend(batch.path(int(index), space).base for index in keep[: count - len(found)])
        if len(found) == count:
            return found
    raise ValueError(
        f"found {len(found)} of {count} base models within f0 = {budgets.f0:,} +- "
        f"{budgets.tolerance_at(0):,} in {max_tries} batches of {chunk}; widen the tolerance"
    )
