"""Constrained least-squares fits of the searched strategies (supplementary C, eq. 13).

For each dimension (depth d, width w, resolution r) and a function f from
:mod:`scalenet.scaling.functions`, solve

    argmin_a  sum_{j=1..M} (y_j - f(j; a))^2   s.t.  a0 > 0                      (eq. 13)

with :func:`scipy.optimize.least_squares` (trust-region reflective, box bounds), started from a
few deterministic guesses; the best solution wins. Leave-one-stage-out (LOSO) refits on all but
one searched stage and predicts the held-out one: the model-selection error of each function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from scalenet.scaling.functions import (
    FUNCTION_NAMES,
    FloatArray,
    GeneralizationFunction,
    get_function,
)
from scalenet.space import Scaling
from scalenet.space.fields import require_int, require_list, require_number, require_object

__all__ = [
    "DEFAULT_FUNCTION",
    "DIMENSIONS",
    "DimensionFit",
    "LosoReport",
    "StrategyFit",
    "compare_functions",
    "fit_dimension",
    "fit_strategies",
    "leave_one_stage_out",
]

#: Dimensions of a scaling strategy, in Scaling's field order.
DIMENSIONS: tuple[str, ...] = ("depth", "width", "resolution")

#: The default generalization function (docs/scaling.md, "Model selection"): geometric growth
#: (1 + a0)^j has the lowest leave-one-stage-out error on Table 3's searched stages (0.062 vs
#: 0.072 linear, 0.135-0.193 for the two-parameter forms, which overfit three points), and it is
#: the law the budgets imply: f_j = 2^j f0 doubles FLOPs per stage, so each coefficient grows by
#: a constant factor per stage, as in compound scaling (d = alpha^phi).
DEFAULT_FUNCTION = "geometric"

# A parameter within this relative distance of a finite bound counts as "at the bound".
_BOUND_RTOL = 1e-6


@dataclass(frozen=True)
class DimensionFit:
    """The fit of one dimension.

    Attributes:
        dimension: ``depth``, ``width`` or ``resolution``.
        function: The function's name.
        params: Fitted parameters, ``a0`` first.
        stages: The scaling stages j fitted.
        values: The searched values y_j.
        residuals: y_j - f(j) at each fitted stage.
        active: Names of the parameters sitting on a bound (``a0`` here means the data would
            rather decrease: the a0 > 0 constraint is active).
    """

    dimension: str
    function: str
    params: tuple[float, ...]
    stages: tuple[int, ...]
    values: tuple[float, ...]
    residuals: tuple[float, ...]
    active: tuple[str, ...]

    @property
    def sse(self) -> float:
        """Sum of squared residuals (the objective of eq. 13)."""
        return float(np.sum(np.square(self.residuals)))

    @property
    def rmse(self) -> float:
        """Root mean squared residual."""
        return float(np.sqrt(np.mean(np.square(self.residuals)))) if self.residuals else 0.0

    def predict(self, scaling_stage: float | Sequence[float] | FloatArray) -> FloatArray:
        """f(j) with the fitted parameters (vectorized)."""
        return get_function(self.function)(scaling_stage, self.params)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        fn = get_function(self.function)
        return {
            "dimension": self.dimension,
            "function": self.function,
            "formula": fn.formula,
            "params": dict(zip(fn.param_names, self.params, strict=True)),
            "stages": list(self.stages),
            "values": list(self.values),
            "residuals": list(self.residuals),
            "rmse": self.rmse,
            "active_bounds": list(self.active),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DimensionFit:
        """Read :meth:`to_json`'s form back (``rmse`` and ``formula`` are recomputed).

        Raises:
            ValueError: A key is missing or has the wrong type, the function is unknown, or its
                parameters are not the function's (the message names the field).
        """
        data = require_object(data, "dimension fit")
        where = f"fit of {data.get('dimension', '?')}"
        try:
            function = get_function(str(data["function"]))
            params = require_object(data["params"], f"{where}: params")
            if sorted(params) != sorted(function.param_names):
                raise ValueError(
                    f"{where}: params {sorted(params)} are not {function.name}'s "
                    f"{list(function.param_names)}"
                )
            return cls(
                dimension=str(data["dimension"]),
                function=function.name,
                params=tuple(
                    require_number(params[n], f"{where}: {n}") for n in function.param_names
                ),
                stages=tuple(
                    require_int(j, f"{where}: stage")
                    for j in require_list(data["stages"], f"{where}: stages")
                ),
                values=tuple(
                    require_number(v, f"{where}: value")
                    for v in require_list(data["values"], f"{where}: values")
                ),
                residuals=tuple(
                    require_number(v, f"{where}: residual")
                    for v in require_list(data["residuals"], f"{where}: residuals")
                ),
                active=tuple(
                    str(a) for a in require_list(data["active_bounds"], f"{where}: active_bounds")
                ),
            )
        except KeyError as error:
            raise ValueError(f"{where}: missing key {error}") from None


@dataclass(frozen=True)
class StrategyFit:
    """The fits of the three dimensions with one function.

    Attributes:
        function: The function's name.
        depth: Fit of d.
        width: Fit of w.
        resolution: Fit of r.
    """

    function: str
    depth: DimensionFit
    width: DimensionFit
    resolution: DimensionFit

    @property
    def dimensions(self) -> tuple[DimensionFit, DimensionFit, DimensionFit]:
        """(depth, width, resolution) fits."""
        return (self.depth, self.width, self.resolution)

    @property
    def rmse(self) -> float:
        """RMSE of the residuals over all dimensions and stages."""
        residuals = np.concatenate([np.asarray(fit.residuals) for fit in self.dimensions])
        return float(np.sqrt(np.mean(np.square(residuals)))) if residuals.size else 0.0

    def predict(self, scaling_stage: float) -> Scaling:
        """The generalized strategy (d, w, r) at scaling stage j (before any projection)."""
        return Scaling(*(float(fit.predict(scaling_stage)) for fit in self.dimensions))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "function": self.function,
            "formula": get_function(self.function).formula,
            "rmse": self.rmse,
            **{fit.dimension: fit.to_json() for fit in self.dimensions},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StrategyFit:
        """Read :meth:`to_json`'s form back (``family.json``'s ``fit``, ``fit.json``'s fits)."""
        data = require_object(data, "strategy fit")
        try:
            dims = [DimensionFit.from_json(data[dim]) for dim in DIMENSIONS]
            return cls(str(data["function"]), *dims)
        except KeyError as error:
            raise ValueError(f"strategy fit: missing key {error}") from None


@dataclass(frozen=True)
class LosoReport:
    """Leave-one-stage-out errors of one function.

    Attributes:
        function: The function's name.
        stages: The held-out scaling stages (1..M).
        errors: ``errors[dim][i]`` = prediction - searched value at ``stages[i]`` when that stage
            is left out of the fit, for dim in (depth, width, resolution).
    """

    function: str
    stages: tuple[int, ...]
    errors: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]

    def rmse_of(self, dimension: str) -> float:
        """LOSO RMSE of one dimension."""
        values = np.asarray(self.errors[DIMENSIONS.index(dimension)])
        return float(np.sqrt(np.mean(np.square(values))))

    @property
    def rmse(self) -> float:
        """LOSO RMSE over all dimensions and held-out stages (the model-selection score)."""
        return float(np.sqrt(np.mean(np.square(np.asarray(self.errors)))))

    @property
    def last_stage_rmse(self) -> float:
        """RMSE over dimensions when stage M is held out (pure extrapolation by one stage)."""
        return float(np.sqrt(np.mean(np.square(np.asarray(self.errors)[:, -1]))))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "function": self.function,
            "stages": list(self.stages),
            "errors": {dim: list(err) for dim, err in zip(DIMENSIONS, self.errors, strict=True)},
            "rmse": self.rmse,
            "rmse_per_dimension": {dim: self.rmse_of(dim) for dim in DIMENSIONS},
            "last_stage_rmse": self.last_stage_rmse,
        }


def _active_bounds(fn: GeneralizationFunction, params: FloatArray) -> tuple[str, ...]:
    active = []
    for name, value, low, high in zip(fn.param_names, params, fn.lower, fn.upper, strict=True):
        for bound in (low, high):
            if np.isfinite(bound) and abs(value - bound) <= _BOUND_RTOL * max(1.0, abs(bound)):
                active.append(name)
                break
    return tuple(active)


def fit_dimension(
    stages: Sequence[int],
    values: Sequence[float],
    function: str | GeneralizationFunction,
    *,
    dimension: str = "value",
) -> DimensionFit:
    """Fit f(j) to (stage, value) pairs by constrained least squares (eq. 13).

    Args:
        stages: Scaling stages j (>= 1); stage 0 is implied by f(0) = 1.
        values: Searched values y_j (> 0).
        function: A name from :data:`scalenet.scaling.functions.FUNCTIONS` or the function.
        dimension: Label stored in the result.

    Returns:
        The fit. With fewer points than parameters the solution is one of many (still returned).

    Raises:
        ValueError: On empty or mismatched input, a stage below 1 or a non-positive value.
    """
    fn = get_function(function) if isinstance(function, str) else function
    j = np.asarray(stages, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if j.ndim != 1 or j.shape != y.shape:
        raise ValueError(f"{dimension}: stages and values must be 1-D of one length")
    if j.size == 0:
        raise ValueError(f"{dimension}: needs at least one searched stage to fit")
    if np.any(j < 1) or np.any(j != np.round(j)):
        raise ValueError(f"{dimension}: stages must be integers >= 1, got {j.tolist()}")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError(f"{dimension}: values must be finite and > 0, got {y.tolist()}")

    lower = np.asarray(fn.lower, dtype=np.float64)
    upper = np.asarray(fn.upper, dtype=np.float64)

    def residual(params: FloatArray) -> FloatArray:
        return np.asarray(fn.evaluate(j, params) - y, dtype=np.float64)

    best: FloatArray | None = None
    best_cost = np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        for start in fn.starts(j, y):
            x0 = np.clip(np.asarray(start, dtype=np.float64), lower, upper)
            # least_squares needs a strictly feasible start.
            x0 = np.where(x0 <= lower, lower + 1e-6 * np.maximum(1.0, np.abs(lower)), x0)
            x0 = np.where(x0 >= upper, upper - 1e-6 * np.maximum(1.0, np.abs(upper)), x0)
            if not np.all(np.isfinite(residual(x0))):
                continue
            result = least_squares(
                residual,
                x0,
                bounds=(lower, upper),
                method="trf",
                xtol=1e-15,
                ftol=1e-15,
                gtol=1e-15,
            )
            cost = float(np.sum(np.square(result.fun)))
            if np.isfinite(cost) and cost < best_cost:
                best, best_cost = np.asarray(result.x, dtype=np.float64), cost
    if best is None:
        raise ValueError(f"{dimension}: the {fn.name} fit did not converge")
    return DimensionFit(
        dimension=dimension,
        function=fn.name,
        params=tuple(float(p) for p in best),
        stages=tuple(int(s) for s in j),
        values=tuple(float(v) for v in y),
        residuals=tuple(float(r) for r in y - fn.evaluate(j, best)),
        active=_active_bounds(fn, best),
    )


def _columns(strategies: Sequence[Scaling]) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(getattr(s, dim) for s in strategies) for dim in DIMENSIONS)


def fit_strategies(strategies: Sequence[Scaling], function: str = DEFAULT_FUNCTION) -> StrategyFit:
    """Fit d, w and r of the searched strategies S_1..S_M (index i is scaling stage i + 1).

    Args:
        strategies: The searched strategies of scaling stages 1..M.
        function: The generalization function's name.
    """
    stages = tuple(range(1, len(strategies) + 1))
    depth, width, resolution = (
        fit_dimension(stages, column, function, dimension=dim)
        for dim, column in zip(DIMENSIONS, _columns(strategies), strict=True)
    )
    return StrategyFit(
        function=get_function(function).name, depth=depth, width=width, resolution=resolution
    )


def leave_one_stage_out(
    strategies: Sequence[Scaling], function: str = DEFAULT_FUNCTION
) -> LosoReport:
    """Leave-one-stage-out errors: refit without stage j, predict it, for j = 1..M.

    Raises:
        ValueError: If fewer than two stages are given.
    """
    if len(strategies) < 2:
        raise ValueError(
            f"leave-one-stage-out needs at least 2 searched stages, got {len(strategies)}"
        )
    stages = list(range(1, len(strategies) + 1))
    errors: list[tuple[float, ...]] = []
    for dim, column in zip(DIMENSIONS, _columns(strategies), strict=True):
        dim_errors = []
        for held in stages:
            keep = [s for s in stages if s != held]
            fit = fit_dimension(keep, [column[s - 1] for s in keep], function, dimension=dim)
            dim_errors.append(float(fit.predict(held)) - column[held - 1])
        errors.append(tuple(dim_errors))
    return LosoReport(
        function=get_function(function).name,
        stages=tuple(stages),
        errors=(errors[0], errors[1], errors[2]),
    )


def compare_functions(
    strategies: Sequence[Scaling], functions: Sequence[str] = FUNCTION_NAMES
) -> list[tuple[StrategyFit, LosoReport]]:
    """Fit and leave-one-stage-out report of each function, sorted by LOSO RMSE (best first)."""
    rows = [
        (fit_strategies(strategies, name), leave_one_stage_out(strategies, name))
        for name in functions
    ]
    return sorted(rows, key=lambda row: row[1].rmse)
