"""Compound scaling (EfficientNet) as a baseline: d = alpha^phi, w = beta^phi, r = gamma^phi.

EfficientNet fixes alpha * beta^2 * gamma^2 ~ 2 so that each unit of phi doubles FLOPs, and picks
(alpha, beta, gamma) = (1.2, 1.1, 1.15) by a small grid search at phi = 1. Supplementary G counts
that grid as every (alpha, beta, gamma) in [1, 2] with step 0.01 and
|alpha * beta^2 * gamma^2 - 2| <= 0.1: :func:`compound_grid` enumerates it (10,285 cases in the
paper) and :func:`grid_search_compound` scores it with any evaluator ``(BaseArch, Scaling) -> acc``.
:func:`solve_phi` finds the phi whose scaled model lands nearest a FLOPs budget, so a compound
family can be built on any base model at our budgets f_j (:func:`scalenet.scaling.compound_family`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalenet.scaling.projection import solve_monotone
from scalenet.space import BaseArch, Cost, Path, Scaling, SearchSpace, count
from scalenet.space.fields import require_number, require_object
from scalenet.space.progress import progress_bar

__all__ = [
    "EFFICIENTNET",
    "CompoundCoefficients",
    "CompoundSearchResult",
    "Evaluator",
    "compound_grid",
    "grid_search_compound",
    "solve_phi",
]

#: An accuracy oracle: (base architecture, scaling strategy) -> accuracy (higher is better).
Evaluator = Callable[[BaseArch, Scaling], float]


@dataclass(frozen=True)
class CompoundCoefficients:
    """Per-unit-phi growth of depth, width and resolution.

    Attributes:
        alpha: Depth base (d = alpha^phi).
        beta: Width base (w = beta^phi).
        gamma: Resolution base (r = gamma^phi).
    """

    alpha: float = 1.2
    beta: float = 1.1
    gamma: float = 1.15

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1:
                raise ValueError(f"compound: {name} must be a number >= 1, got {value!r}")
            object.__setattr__(self, name, float(value))

    @property
    def flops_factor(self) -> float:
        """Alpha * beta^2 * gamma^2: the nominal FLOPs growth per unit of phi (~2)."""
        return self.alpha * self.beta**2 * self.gamma**2

    def scaling(self, phi: float) -> Scaling:
        """The strategy (alpha^phi, beta^phi, gamma^phi)."""
        return Scaling(self.alpha**phi, self.beta**phi, self.gamma**phi)

    def to_json(self) -> dict[str, float]:
        """JSON-ready form."""
        return {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompoundCoefficients:
        """Read :meth:`to_json`'s form back."""
        data = require_object(data, "coefficients")
        try:
            return cls(
                *(require_number(data[k], f"coefficients: {k}") for k in ("alpha", "beta", "gamma"))
            )
        except KeyError as error:
            raise ValueError(f"coefficients: missing key {error}") from None


#: EfficientNet's coefficients (alpha, beta, gamma) = (1.2, 1.1, 1.15).
EFFICIENTNET = CompoundCoefficients(1.2, 1.1, 1.15)


def compound_grid(
    *,
    low: float = 1.0,
    high: float = 2.0,
    step: float = 0.01,
    target: float = 2.0,
    tolerance: float = 0.1,
    exact: bool = True,
) -> list[CompoundCoefficients]:
    """Every (alpha, beta, gamma) on the grid with |alpha * beta^2 * gamma^2 - target| <= tolerance.

    The grid is low, low + step, ..., high in each coordinate (supplementary G: [1, 2], step 0.01,
    target 2, tolerance 0.1).

    Args:
        low: Smallest coefficient.
        high: Largest coefficient.
        step: Grid step (1/n for an integer n).
        target: The FLOPs growth per unit phi (2).
        tolerance: Allowed |product - target|.
        exact: Check the constraint in integer arithmetic on multiples of ``step``: 10,286 cases
            on the default grid. With ``False`` it is checked in float64, which reproduces the
            paper's 10,285: the one difference is (1.9, 1.0, 1.0), whose product is exactly 1.9
            but |1.9 - 2| evaluates to 0.10000000000000009 in floating point.
    """
    if step <= 0 or high < low or low < 1:
        raise ValueError(
            f"compound grid: need 1 <= low <= high and step > 0, got {low}, {high}, {step}"
        )
    scale = round(1.0 / step)
    if abs(scale * step - 1.0) > 1e-9:
        raise ValueError(f"compound grid: step must be 1/n for an integer n, got {step}")
    ticks = np.arange(round(low * scale), round(high * scale) + 1, dtype=np.int64)
    a, b, g = np.meshgrid(ticks, ticks, ticks, indexing="ij")
    product = a * b * b * g * g  # in units of scale^5
    unit = scale**5
    if exact:
        ok = (
            np.abs(product * 10**6 - round(target * 10**6) * unit)
            <= round(tolerance * 10**6) * unit
        )
    else:
        af, bf, gf = a / scale, b / scale, g / scale
        ok = np.abs(af * bf**2 * gf**2 - target) <= tolerance
    return [
        CompoundCoefficients(float(x) / scale, float(y) / scale, float(z) / scale)
        for x, y, z in zip(a[ok], b[ok], g[ok], strict=True)
    ]


@dataclass(frozen=True)
class CompoundSearchResult:
    """Outcome of the compound-coefficient grid search.

    Attributes:
        best: The coefficients with the highest accuracy (first found wins ties).
        accuracy: Its accuracy.
        evaluated: Number of candidates evaluated.
        top: Up to ten best (coefficients, accuracy), best first.
    """

    best: CompoundCoefficients
    accuracy: float
    evaluated: int
    top: tuple[tuple[CompoundCoefficients, float], ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "best": self.best.to_json(),
            "accuracy": self.accuracy,
            "evaluated": self.evaluated,
            "top": [{**c.to_json(), "accuracy": acc} for c, acc in self.top],
        }


def grid_search_compound(
    base: BaseArch,
    evaluator: Evaluator,
    candidates: Iterable[CompoundCoefficients] | None = None,
    *,
    progress: bool = False,
) -> CompoundSearchResult:
    """Score every candidate at phi = 1 (the base scaled by (alpha, beta, gamma)); keep the best.

    Args:
        base: The base model to scale.
        evaluator: ``(base, Scaling(alpha, beta, gamma)) -> accuracy``.
        candidates: Coefficients to try (default: :func:`compound_grid`, 10,285 cases).
        progress: Show a tqdm progress bar (when tqdm is installed).
    """
    pool: Sequence[CompoundCoefficients] = list(
        compound_grid() if candidates is None else candidates
    )
    if not pool:
        raise ValueError("compound grid search: no candidates")
    iterator: Iterable[CompoundCoefficients] = pool
    if progress:
        iterator = progress_bar(pool, desc="compound grid", unit="model")
    scored = [(coeffs, float(evaluator(base, coeffs.scaling(1.0)))) for coeffs in iterator]
    ranked = sorted(enumerate(scored), key=lambda item: (-item[1][1], item[0]))
    best, accuracy = ranked[0][1]
    return CompoundSearchResult(
        best=best,
        accuracy=accuracy,
        evaluated=len(scored),
        top=tuple(pair for _, pair in ranked[:10]),
    )


def solve_phi(
    space: SearchSpace,
    base: BaseArch,
    target_flops: int,
    coeffs: CompoundCoefficients = EFFICIENTNET,
    *,
    start: float = 1.0,
) -> tuple[float, Cost]:
    """The phi >= 0 whose compound-scaled model has FLOPs nearest ``target_flops`` (bisection).

    Returns:
        (phi, cost of the scaled path).

    Raises:
        ValueError: If ``target_flops`` is below the base model's FLOPs (compound scaling only
            grows a model: phi < 0 would shrink it below stage 0), or the coefficients do not
            grow FLOPs.
    """
    space.check_shape(base)
    if coeffs.flops_factor <= 1.0:
        raise ValueError("compound: alpha * beta^2 * gamma^2 must be > 1 to grow FLOPs")
    base_flops = count(space, Path(base)).flops
    if target_flops < base_flops:
        raise ValueError(
            f"compound: budget {target_flops:,} FLOPs is below the base model's "
            f"{base_flops:,} FLOPs (phi would be < 0); use a larger f0 or a smaller base model"
        )

    def flops_of(phi: float) -> int:
        return count(space, Path(base, coeffs.scaling(phi))).flops

    phi = solve_monotone(flops_of, target_flops, max(start, 1e-3))
    # bisection only tries phi > 0, and any phi > 0 rounds every dimension up (eqs. 14-16)
    if target_flops - base_flops <= abs(flops_of(phi) - target_flops):
        phi = 0.0
    return phi, count(space, Path(base, coeffs.scaling(phi)))
