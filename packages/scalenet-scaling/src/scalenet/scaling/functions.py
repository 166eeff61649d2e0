"""Generalization functions f(j) of one scaling dimension (supplementary C).

Every function satisfies f(0) = 1 (scaling stage 0 is the base model, eqs. 8 and 11) and has a
leading coefficient ``a0`` constrained to be positive (eq. 13) so that it increases with j:

========== =============================== ====================================================
name       f(j)                            parameters and bounds
========== =============================== ====================================================
linear     1 + a0 j                        a0 > 0 (eq. 9)
squared    1 + a0 j^2 + a1 j               a0 > 0, a1 free (eq. 12)
power      1 + a0 j^a1                     a0 > 0, a1 in [0.001, 10]
exponential exp(a0 j^a1)                   a0 > 0, a1 in [0.001, 10]; a1 = 1 is geometric
geometric  (1 + a0)^j                      a0 > 0; compound scaling's law (d = alpha^phi)
========== =============================== ====================================================

"a0 > 0" is enforced as ``a0 >= A0_MIN`` (a tiny positive number): a closed bound that least
squares can sit on, which is how a fit reports that the data would rather decrease.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "A0_MIN",
    "FUNCTIONS",
    "FUNCTION_NAMES",
    "GeneralizationFunction",
    "get_function",
]

#: Lower bound of a0: the "a0 > 0" of eq. 13 as a closed bound.
A0_MIN = 1e-9

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GeneralizationFunction:
    """A parametric f(j) with f(0) = 1.

    Attributes:
        name: Registry key (``linear``, ``squared``, ``power``, ``exponential``, ``geometric``).
        formula: The formula in plain text, for reports.
        param_names: Names of the parameters, ``a0`` first.
        lower: Lower bound of each parameter.
        upper: Upper bound of each parameter.
        evaluate: ``evaluate(j, params) -> f(j)`` (vectorized over j).
        starts: ``starts(j, y) -> initial guesses`` for the least-squares solver.
        source: Where the form comes from.
    """

    name: str
    formula: str
    param_names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    evaluate: Callable[[FloatArray, FloatArray], FloatArray]
    starts: Callable[[FloatArray, FloatArray], list[FloatArray]]
    source: str

    @property
    def num_params(self) -> int:
        """Number of free parameters."""
        return len(self.param_names)

    def __call__(self, j: npt.ArrayLike, params: npt.ArrayLike) -> FloatArray:
        """Evaluate f at scaling stage(s) ``j``."""
        return self.evaluate(np.asarray(j, dtype=np.float64), np.asarray(params, dtype=np.float64))


def _clip_a0(value: float) -> float:
    return float(max(A0_MIN, value)) if np.isfinite(value) else 1.0


def _loglog_start(j: FloatArray, z: FloatArray) -> list[FloatArray]:
    """Starts for z = a0 j^a1 from a straight line through (log j, log z) where z > 0."""
    keep = (j > 0) & (z > 0)
    starts: list[FloatArray] = []
    if int(keep.sum()) >= 2 and np.ptp(np.log(j[keep])) > 0:
        slope, intercept = np.polyfit(np.log(j[keep]), np.log(z[keep]), 1)
        starts.append(
            np.array([_clip_a0(float(np.exp(intercept))), float(np.clip(slope, 0.01, 9.0))])
        )
    elif int(keep.sum()) >= 1:
        starts.append(np.array([_clip_a0(float(np.mean(z[keep] / j[keep]))), 1.0]))
    for a1 in (0.5, 1.0, 2.0):
        scale = np.sum(z * j**a1) / max(float(np.sum(j ** (2 * a1))), 1e-300)
        starts.append(np.array([_clip_a0(float(scale)), a1]))
    return starts


def _linear_starts(j: FloatArray, y: FloatArray) -> list[FloatArray]:
    slope = float(np.sum((y - 1) * j) / max(float(np.sum(j * j)), 1e-300))
    return [np.array([_clip_a0(slope)])]


def _squared_starts(j: FloatArray, y: FloatArray) -> list[FloatArray]:
    design = np.stack([j * j, j], axis=1)
    coef = np.linalg.lstsq(design, y - 1, rcond=None)[0]
    return [np.array([_clip_a0(float(coef[0])), float(coef[1])]), np.array([0.01, 0.0])]


def _power_starts(j: FloatArray, y: FloatArray) -> list[FloatArray]:
    return _loglog_start(j, y - 1)


def _exponential_starts(j: FloatArray, y: FloatArray) -> list[FloatArray]:
    return _loglog_start(j, np.log(np.maximum(y, 1e-300)))


def _geometric_starts(j: FloatArray, y: FloatArray) -> list[FloatArray]:
    rate = float(np.sum(np.log(np.maximum(y, 1e-300)) * j) / max(float(np.sum(j * j)), 1e-300))
    return [np.array([_clip_a0(float(np.expm1(rate)))])]


def _safe_power(j: FloatArray, exponent: float) -> FloatArray:
    # 0 ** a1 = 0 for a1 > 0; np.power handles it, but keep j >= 0 explicit.
    return np.power(np.maximum(j, 0.0), exponent)


FUNCTIONS: dict[str, GeneralizationFunction] = {
    "linear": GeneralizationFunction(
        name="linear",
        formula="1 + a0*j",
        param_names=("a0",),
        lower=(A0_MIN,),
        upper=(np.inf,),
        evaluate=lambda j, p: 1.0 + p[0] * j,
        starts=_linear_starts,
        source="supplementary C, eq. 9",
    ),
    "squared": GeneralizationFunction(
        name="squared",
        formula="1 + a0*j^2 + a1*j",
        param_names=("a0", "a1"),
        lower=(A0_MIN, -np.inf),
        upper=(np.inf, np.inf),
        evaluate=lambda j, p: 1.0 + p[0] * j * j + p[1] * j,
        starts=_squared_starts,
        source="supplementary C, eq. 12",
    ),
    "power": GeneralizationFunction(
        name="power",
        formula="1 + a0*j^a1",
        param_names=("a0", "a1"),
        lower=(A0_MIN, 1e-3),
        upper=(np.inf, 10.0),
        evaluate=lambda j, p: 1.0 + p[0] * _safe_power(j, float(p[1])),
        starts=_power_starts,
        source="power law (two parameters)",
    ),
    "exponential": GeneralizationFunction(
        name="exponential",
        formula="exp(a0*j^a1)",
        param_names=("a0", "a1"),
        lower=(A0_MIN, 1e-3),
        upper=(np.inf, 10.0),
        evaluate=lambda j, p: np.exp(p[0] * _safe_power(j, float(p[1]))),
        starts=_exponential_starts,
        source="stretched exponential (two parameters); a1 = 1 is geometric growth",
    ),
    "geometric": GeneralizationFunction(
        name="geometric",
        formula="(1 + a0)^j",
        param_names=("a0",),
        lower=(A0_MIN,),
        upper=(np.inf,),
        evaluate=lambda j, p: np.power(1.0 + p[0], j),
        starts=_geometric_starts,
        source="compound scaling's law d = alpha^phi with phi = j (one parameter)",
    ),
}

#: Registry keys, in report order.
FUNCTION_NAMES: tuple[str, ...] = tuple(FUNCTIONS)


def get_function(name: str) -> GeneralizationFunction:
    """The generalization function ``name``.

    Raises:
        ValueError: If ``name`` is not registered (the message lists the names).
    """
    if name not in FUNCTIONS:
        raise ValueError(f"function {name!r} not in {{{', '.join(FUNCTION_NAMES)}}}")
    return FUNCTIONS[name]
