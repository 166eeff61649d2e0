"""Budget projection of a generalized strategy onto its FLOPs budget f_j (DESIGN, "Generalization").

A fitted strategy for an extrapolated stage j > M rarely lands on f_j = 2^j f0. Projection keeps
what the fit says about the *shape* of scaling and corrects the *size*:

* ``r``: keep the fitted d and w and solve the resolution. FLOPs depend on r only through
  the input side ceil(R0 * r) (eq. 16), so the search is an integer bisection on the side in pixels,
  and the strategy gets an r giving that side. The side whose FLOPs are
  nearest f_j wins (below or above).
* ``rw`` (default): as ``r``; then, if the nearest side still misses f_j by more than
  ``rtol`` (1 %), nudge w by bisection from the sides just below and just above f_j (channels
  round up one by one, so FLOPs(w) has much finer steps than FLOPs(r)); keep the closer result.
  When that still misses (on small spaces every channel count moves at once near some widths),
  the sides one, two, ... pixels further out (up to 16) are nudged too, and the first window
  holding a result within ``rtol`` gives the nearest result.
* ``all``: multiply d, w and r by one common factor s, bisected on the same analytic FLOPs.
* ``none``: no projection (FLOPs reported only).

The projected r is written with as few decimals as give the same side (e.g. 458 px at R0 = 224 is
r = 2.044 rather than 2.044642857142857; Table 3 writes 2.042 for the same side), since only
ceil(R0 * r) matters. Likewise the width ``rw`` nudges and the three values ``all`` scales are
solved on a grid of :data:`PROJECT_DECIMALS` (4) decimals, never the bisection's raw
2.0000000000266422: a width a hair above an integer multiple rounds up only the channel counts
whose product crosses the rounding guard of eq. 15 (``scalenet.space.rules.scale_ceil``), a
network no readable width names. A nudged width is then written with the fewest decimals that
give the same network (same FLOPs, parameters and input side), e.g. 1.48 when 1.4763 gives the
same channel counts.

FLOPs are a non-decreasing *step* function of r and s (depth and width round up too, eqs. 14-15),
so f_j is usually not hit exactly; the result reports the relative error it lands at. On ImageNet
sized inputs one pixel moves FLOPs by well under 1 %, but a side crossing a multiple of the
network's total stride (32) raises every stage's feature map at once (measured: up to ~6 % on
ImageNet families at 400-700 px, far more on 32 px inputs), hence ``rw``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scalenet.space import BaseArch, Cost, Path, Scaling, SearchSpace, count
from scalenet.space.fields import require_int, require_object
from scalenet.space.rules import scale_ceil

__all__ = [
    "DEFAULT_PROJECT",
    "DEFAULT_RTOL",
    "PROJECT_DECIMALS",
    "PROJECT_MODES",
    "Projection",
    "project_to_budget",
    "short_resolution",
    "solve_monotone",
]

#: Projection modes: resolution only, a common factor on all three, or none.
PROJECT_MODES: tuple[str, ...] = ("r", "rw", "all", "none")

#: The default mode: r alone misses f_j by up to ~6 % on ImageNet-sized inputs (a side crossing
#: a multiple of the total stride 32 grows every stage's feature map at once); ``rw`` keeps the
#: fitted w whenever r alone lands within 1 % and lands within 1 % otherwise.
DEFAULT_PROJECT = "rw"

#: Relative FLOPs error below which ``rw`` leaves the width alone.
DEFAULT_RTOL = 0.01

#: Decimals of the values ``rw`` and ``all`` solve for (a width or a common factor).
PROJECT_DECIMALS = 4

_MAX_SIDE = 1 << 16
_BISECT_STEPS = 100
_MAX_SIDE_OFFSET = 16  # rw: sides tried beyond the bracketing pair when nudging w falls short


@dataclass(frozen=True)
class Projection:
    """A strategy before and after projection onto a FLOPs budget.

    Attributes:
        mode: ``r``, ``all`` or ``none``.
        target_flops: The budget f_j.
        before: The strategy given (e.g. the fitted one).
        after: The projected strategy.
        flops_before: FLOPs of ``before``.
        cost_after: FLOPs, parameters and input side of ``after``.
    """

    mode: str
    target_flops: int
    before: Scaling
    after: Scaling
    flops_before: int
    cost_after: Cost

    @property
    def flops_after(self) -> int:
        """FLOPs of the projected strategy."""
        return self.cost_after.flops

    @property
    def rel_error_before(self) -> float:
        """(FLOPs before - f_j) / f_j."""
        return (self.flops_before - self.target_flops) / self.target_flops

    @property
    def rel_error(self) -> float:
        """(FLOPs after - f_j) / f_j."""
        return (self.flops_after - self.target_flops) / self.target_flops

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "mode": self.mode,
            "target_flops": self.target_flops,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "flops_before": self.flops_before,
            "flops_after": self.flops_after,
            "params_after": self.cost_after.params,
            "resolution_after": self.cost_after.resolution,
            "rel_error_before": self.rel_error_before,
            "rel_error": self.rel_error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Projection:
        """Read :meth:`to_json`'s form back (the relative errors are recomputed)."""
        data = require_object(data, "projection")
        try:
            return cls(
                mode=str(data["mode"]),
                target_flops=require_int(data["target_flops"], "projection: target_flops"),
                before=Scaling.from_json(data["before"]),
                after=Scaling.from_json(data["after"]),
                flops_before=require_int(data["flops_before"], "projection: flops_before"),
                cost_after=Cost(
                    require_int(data["flops_after"], "projection: flops_after"),
                    require_int(data["params_after"], "projection: params_after"),
                    require_int(data["resolution_after"], "projection: resolution_after"),
                ),
            )
        except KeyError as error:
            raise ValueError(f"projection: missing key {error}") from None


def solve_monotone(
    flops_of: Callable[[float], int], target: int, start: float, *, steps: int = _BISECT_STEPS
) -> float:
    """Bisection of a non-decreasing step function: the x > 0 whose FLOPs are nearest ``target``.

    Brackets from ``start`` by doubling/halving, then bisects, remembering every point evaluated;
    the one with the smallest |FLOPs - target| wins (ties: the smaller x).

    Raises:
        ValueError: If ``target`` cannot be bracketed.
    """
    if target <= 0:
        raise ValueError(f"target FLOPs must be > 0, got {target}")
    seen: dict[float, int] = {}

    def cost(x: float) -> int:
        if x not in seen:
            seen[x] = flops_of(x)
        return seen[x]

    low = high = start
    while cost(high) < target:
        high *= 2.0
        if high > 1e6:
            raise ValueError(
                f"cannot reach {target:,} FLOPs (still {cost(high):,} at x = {high:g})"
            )
    while cost(low) >= target and low > 1e-6:
        low /= 2.0
    for _ in range(steps):
        mid = 0.5 * (low + high)
        if mid in (low, high):
            break
        if cost(mid) >= target:
            high = mid
        else:
            low = mid
    return min(seen, key=lambda x: (abs(seen[x] - target), x))


def short_resolution(side: int, base_resolution: int) -> float:
    """The r with the fewest decimals (up to 9) such that ceil(R0 * r) == side (eq. 16)."""
    exact = side / base_resolution
    for decimals in range(10):
        scale = 10**decimals
        candidate = math.floor(round(exact * scale, 6)) / scale
        if candidate > 0 and scale_ceil(base_resolution, candidate) == side:
            return candidate
    return exact


def _shortest(value: float, same: Callable[[float], bool], *, max_decimals: int = 9) -> float:
    """The value with the fewest decimals (up to ``max_decimals``) for which ``same`` holds.

    Tries ``value`` rounded down, then up, at 0, 1, 2, ... decimals; returns ``value`` itself
    when none qualifies.
    """
    for decimals in range(max_decimals + 1):
        scale = 10**decimals
        scaled = value * scale
        for candidate in (math.floor(scaled) / scale, math.ceil(scaled) / scale):
            if candidate > 0 and same(candidate):
                return candidate
    return value


def _short_width(space: SearchSpace, base: BaseArch, scaling: Scaling) -> Scaling:
    """``scaling`` with the width of the fewest decimals that gives the same network.

    The same network: the same :class:`~scalenet.space.Cost` (FLOPs, parameters, input side).
    """
    cost = count(space, Path(base, scaling))

    def same(width: float) -> bool:
        return count(space, Path(base, Scaling(scaling.depth, width, scaling.resolution))) == cost

    return Scaling(scaling.depth, _shortest(scaling.width, same), scaling.resolution)


def _side_bracket(flops_of_side: Callable[[int], int], target: int, start: int) -> tuple[int, int]:
    """(low, high) adjacent sides with FLOPs(low) < target <= FLOPs(high) (low = 0 if none)."""
    high = max(2, start)
    while flops_of_side(high) < target:
        high *= 2
        if high > _MAX_SIDE:
            raise ValueError(
                f"cannot reach {target:,} FLOPs with an input side up to {_MAX_SIDE} px"
            )
    low = 1
    if flops_of_side(low) >= target:
        return 0, low
    # invariant: FLOPs(low) < target <= FLOPs(high)
    while high - low > 1:
        mid = (low + high) // 2
        if flops_of_side(mid) >= target:
            high = mid
        else:
            low = mid
    return low, high


def project_to_budget(
    space: SearchSpace,
    base: BaseArch,
    scaling: Scaling,
    target_flops: int,
    mode: str = DEFAULT_PROJECT,
    *,
    rtol: float = DEFAULT_RTOL,
) -> Projection:
    """Project ``scaling`` of ``base`` onto ``target_flops`` (see the module docstring).

    Args:
        space: The search space (its R0 and layer rules give the analytic FLOPs).
        base: The base architecture being scaled.
        scaling: The strategy to correct (e.g. the fit's prediction for stage j).
        target_flops: The budget f_j.
        mode: One of :data:`PROJECT_MODES`.
        rtol: ``rw`` only: the relative error it tolerates before nudging the width.

    Raises:
        ValueError: On an unknown mode, a non-positive target, or a base model of the wrong shape.
    """
    if mode not in PROJECT_MODES:
        raise ValueError(f"project {mode!r} not in {{{', '.join(PROJECT_MODES)}}}")
    if target_flops <= 0:
        raise ValueError(f"target FLOPs must be > 0, got {target_flops}")
    space.check_shape(base)
    flops_before = count(space, Path(base, scaling)).flops
    if mode == "none":
        after = scaling
    elif mode in ("r", "rw"):
        after = _project_resolution(space, base, scaling, target_flops, mode == "rw", rtol)
    else:

        def flops_of_factor(factor: float) -> int:
            return count(space, Path(base, _times(scaling, factor))).flops

        after = _times(scaling, solve_monotone(flops_of_factor, target_flops, 1.0))
    return Projection(
        mode=mode,
        target_flops=int(target_flops),
        before=scaling,
        after=after,
        flops_before=flops_before,
        cost_after=count(space, Path(base, after)),
    )


def _project_resolution(
    space: SearchSpace,
    base: BaseArch,
    scaling: Scaling,
    target: int,
    nudge_width: bool,
    rtol: float,
) -> Scaling:
    r0 = space.resolution

    def at_side(side: int, width: float = scaling.width) -> Scaling:
        return Scaling(scaling.depth, width, short_resolution(side, r0))

    def flops_of_side(side: int) -> int:
        return count(space, Path(base, at_side(side))).flops

    low, high = _side_bracket(flops_of_side, target, math.ceil(round(r0 * scaling.resolution, 9)))
    candidates = [at_side(side) for side in (low, high) if side > 0]
    best = min(candidates, key=lambda s: abs(count(space, Path(base, s)).flops - target))
    if not nudge_width or abs(count(space, Path(base, best)).flops - target) <= rtol * target:
        return best

    def error(candidate: Scaling) -> int:
        return abs(count(space, Path(base, candidate)).flops - target)

    def nudged_at(side: int) -> Scaling:
        def flops_of_factor(factor: float) -> int:
            return count(space, Path(base, at_side(side, _rounded(scaling.width * factor)))).flops

        factor = solve_monotone(flops_of_factor, target, 1.0)
        return _short_width(space, base, at_side(side, _rounded(scaling.width * factor)))

    # Nudge w at the two bracketing sides first; where the channel steps near the fitted width
    # are too coarse (small spaces: every channel count moves at once), widen the window one side
    # at a time in both directions and stop at the first window holding a result within rtol.
    for offset in range(_MAX_SIDE_OFFSET + 1):
        for side in sorted({low - offset, high + offset}):
            if side > 0:
                candidates.append(nudged_at(side))
        if min(error(c) for c in candidates) <= rtol * target:
            break
    return min(candidates, key=lambda s: (error(s), abs(s.width - scaling.width)))


def _rounded(value: float) -> float:
    """``value`` on the grid of :data:`PROJECT_DECIMALS` decimals (never 0)."""
    return max(round(value, PROJECT_DECIMALS), 10.0**-PROJECT_DECIMALS)


def _times(scaling: Scaling, factor: float) -> Scaling:
    """``scaling`` times a common factor, each value on the grid of PROJECT_DECIMALS decimals."""
    return Scaling(
        _rounded(scaling.depth * factor),
        _rounded(scaling.width * factor),
        _rounded(scaling.resolution * factor),
    )
