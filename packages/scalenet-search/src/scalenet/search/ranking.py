"""Ranking quality of a super-supernet: accuracy vs FLOPs of Q sampled paths (supplementary B).

* :func:`pearson`: eq. 1, Cov(ACC, f) / (sigma_ACC sigma_f) (population moments; the ratio is
  the same with sample moments).
* :func:`spearman`: eq. 2, Pearson on the rank vectors, with tied values given their average rank
  (the tie-aware form); ``method="eq3"`` uses eq. 3, 1 - 6 sum d_q^2 / (Q (Q^2 - 1)), which equals
  eq. 2 only when all ranks are distinct (with ties it is the classic approximation and can differ).
* :func:`kendall_paper`: eqs. 4-6, |(C - D) / (Q (Q - 1) / 2)| where C counts pairs with
  (ACC_1 - ACC_2)(f_1 - f_2) > 0 and D the pairs with a product <= 0: **a tie in either vector
  counts as discordant**, and the absolute value is taken. Without ties it equals |tau| of
  ``scipy.stats.kendalltau`` (tau-b); with ties it differs: tau-b drops tied pairs from the
  numerator and rescales the denominator by sqrt((n0 - n1)(n0 - n2)), while the paper's variant
  lowers the score for every tie (and the absolute value can turn a score pushed below 0 by many
  ties back into a positive one).

Pearson and Spearman are returned signed (the paper reports positive values for accuracy rising
with FLOPs).

Undefined coefficients: when either vector is constant (e.g. every path of a super-supernet at
chance gets the same mini-val top-1), Pearson and Spearman divide by a zero deviation, and every
pair is tied, so eqs. 4-6 would give |0 - P| / P = 1 from ties alone (a "perfect" ranking of
nothing). :func:`ranking_coefficients` then reports the three as None with a reason each in
``notes``; the single-coefficient functions keep their plain behaviour (:func:`pearson` raises,
:func:`kendall_paper` returns the formula's value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "COEFFICIENTS",
    "Interval",
    "RankingCoefficients",
    "average_ranks",
    "bootstrap_interval",
    "coefficient_intervals",
    "kendall_paper",
    "kendall_tau_b",
    "pearson",
    "ranking_coefficients",
    "spearman",
]

ArrayLike = npt.ArrayLike
_CHUNK = 1024


def _vectors(
    acc: ArrayLike, flops: ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    x = np.asarray(acc, dtype=np.float64).ravel()
    y = np.asarray(flops, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"acc and flops must have the same length, got {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError(f"need at least 2 paths, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("acc and flops must be finite numbers")
    return x, y


def pearson(acc: ArrayLike, flops: ArrayLike) -> float:
    """Pearson coefficient rho_P (eq. 1).

    Raises:
        ValueError: If the lengths differ, fewer than 2 values, or a vector is constant.
    """
    x, y = _vectors(acc, flops)
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))
    if denominator == 0:
        raise ValueError("pearson: a vector is constant (zero standard deviation)")
    return float(np.sum(dx * dy) / denominator)


def average_ranks(values: ArrayLike) -> npt.NDArray[np.float64]:
    """Ranks 1..Q, tied values sharing the mean of their ranks."""
    data = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(data, kind="mergesort")
    sorted_values = data[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], data.size]
    mean_rank = (starts + ends + 1) / 2.0  # ranks start..end-1 (0-based) -> mean + 1
    ranks = np.empty(data.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def spearman(acc: ArrayLike, flops: ArrayLike, *, method: str = "ranks") -> float:
    """Spearman coefficient rho_S.

    Args:
        acc: Accuracies.
        flops: FLOPs.
        method: ``"ranks"`` (eq. 2 on average ranks: exact with ties) or ``"eq3"`` (eq. 3).

    Raises:
        ValueError: If ``method`` is unknown or the inputs are invalid.
    """
    x, y = _vectors(acc, flops)
    rank_x, rank_y = average_ranks(x), average_ranks(y)
    if method == "ranks":
        return pearson(rank_x, rank_y)
    if method == "eq3":
        size = x.size
        return float(1.0 - 6.0 * np.sum((rank_x - rank_y) ** 2) / (size * (size * size - 1)))
    raise ValueError(f"spearman method {method!r} not in {{ranks, eq3}}")


def kendall_paper(acc: ArrayLike, flops: ArrayLike) -> float:
    """The paper's Kendall variant tau (eqs. 4-6): ties are discordant, absolute value.

    O(Q^2) pairs, vectorized in row blocks (Q = 6,000 takes well under a second).
    """
    x, y = _vectors(acc, flops)
    size = x.size
    concordant = 0
    for start in range(0, size, _CHUNK):
        stop = min(size, start + _CHUNK)
        # Signs, not the raw product: the product of two tiny differences can underflow to 0.
        product = np.sign(x[start:stop, None] - x[None, :]) * np.sign(
            y[start:stop, None] - y[None, :]
        )
        upper = np.arange(start, stop)[:, None] < np.arange(size)[None, :]  # q1 < q2
        concordant += int(np.count_nonzero((product > 0) & upper))
    pairs = size * (size - 1) // 2
    discordant = pairs - concordant
    return abs(concordant - discordant) / pairs


def kendall_tau_b(x: ArrayLike, y: ArrayLike) -> float | None:
    """Kendall's tau-b of two vectors (ties handled as ``scipy.stats.kendalltau``), signed.

    The usual measure of how well one ranking (a super-supernet's accuracy of N paths) agrees
    with another (the same paths trained stand-alone). None when either vector is constant.

    Raises:
        ValueError: If the lengths differ, there are fewer than 2 values, or a value is not finite.
    """
    a, b = _vectors(x, y)
    dx = np.sign(a[:, None] - a[None, :])
    dy = np.sign(b[:, None] - b[None, :])
    upper = np.triu_indices(a.size, k=1)
    sx, sy = dx[upper], dy[upper]
    pairs_x, pairs_y = np.count_nonzero(sx), np.count_nonzero(sy)
    if pairs_x == 0 or pairs_y == 0:
        return None
    return float(np.sum(sx * sy) / np.sqrt(float(pairs_x) * float(pairs_y)))


#: The coefficients, in the order reported.
COEFFICIENTS: tuple[str, ...] = ("pearson", "spearman", "kendall")


@dataclass(frozen=True)
class RankingCoefficients:
    """The three coefficients of supplementary B for Q paths.

    Attributes:
        pearson: Eq. 1, or None when undefined.
        spearman: Eq. 2 on average ranks, or None when undefined.
        kendall: Eqs. 4-6, or None when undefined.
        count: Q.
        notes: Why a coefficient is None: coefficient name -> reason (empty when all are defined).
    """

    pearson: float | None
    spearman: float | None
    kendall: float | None
    count: int
    notes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form (a DVC metric): undefined coefficients are null, ``notes`` says why.

        ``notes`` is present only when a coefficient is undefined.
        """
        data: dict[str, Any] = {
            "pearson": self.pearson,
            "spearman": self.spearman,
            "kendall": self.kendall,
            "count": self.count,
        }
        if self.notes:
            data["notes"] = dict(self.notes)
        return data


def _constant(values: npt.NDArray[np.float64]) -> bool:
    return bool(np.all(values == values[0]))


def ranking_coefficients(acc: ArrayLike, flops: ArrayLike) -> RankingCoefficients:
    """Pearson (eq. 1), Spearman (eq. 2, tie-aware) and the paper's Kendall (eqs. 4-6).

    A constant vector leaves all three undefined: they are None, with the reason in ``notes``
    (see the module docstring).

    Raises:
        ValueError: If the lengths differ, there are fewer than 2 values, or a value is not finite.
    """
    x, y = _vectors(acc, flops)
    constant = [
        f"{name} is constant (all {x.size} values are {values[0]:g})"
        for name, values in (("acc", x), ("flops", y))
        if _constant(values)
    ]
    if constant:
        why = " and ".join(constant)
        notes = {
            "pearson": f"undefined: {why}, a zero standard deviation (eq. 1)",
            "spearman": f"undefined: {why}, so are its ranks (eq. 2)",
            "kendall": (
                f"undefined: {why}, every pair is a tie; eqs. 4-6 would give 1 from ties alone"
            ),
        }
        return RankingCoefficients(None, None, None, int(x.size), notes)
    return RankingCoefficients(pearson(x, y), spearman(x, y), kendall_paper(x, y), int(x.size))


# -- confidence intervals ---------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap confidence interval of one statistic.

    Attributes:
        value: The statistic on the data as given (None when undefined there).
        low: Lower bound (None when fewer than half the resamples gave a value).
        high: Upper bound.
        level: Confidence level, e.g. 0.95.
        resamples: Resamples drawn.
        defined: Resamples on which the statistic was defined (a resample can hold a constant
            vector: its coefficients are undefined and it is left out).
    """

    value: float | None
    low: float | None
    high: float | None
    level: float
    resamples: int
    defined: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the whole interval lies on one side of 0 (a significant difference)."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def to_json(self) -> dict[str, Any]:
        """JSON form: ``value``, ``low``, ``high``, ``level``, ``resamples``, ``defined``."""
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "resamples": self.resamples,
            "defined": self.defined,
        }


def bootstrap_interval(
    statistic: Callable[[npt.NDArray[np.int64]], float | None],
    size: int,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap CI of ``statistic(indices)`` over ``size`` items drawn with replacement.

    ``statistic`` gets an index array (``np.arange(size)`` for the value itself) and returns a
    number, or None when it is undefined on that resample.

    Raises:
        ValueError: ``size < 2``, ``resamples < 1`` or ``level`` outside (0, 1).
    """
    if size < 2:
        raise ValueError(f"bootstrap needs at least 2 items, got {size}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    value = statistic(np.arange(size))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        result = statistic(rng.integers(0, size, size))
        if result is not None and np.isfinite(result):
            values.append(float(result))
    if len(values) * 2 < resamples:
        low = high = None
    else:
        tail = (1 - level) / 2 * 100
        low, high = (float(v) for v in np.percentile(values, [tail, 100 - tail]))
    return Interval(
        None if value is None else float(value), low, high, level, resamples, len(values)
    )


def coefficient_intervals(
    acc: ArrayLike,
    flops: ArrayLike,
    *,
    other_acc: ArrayLike | None = None,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Bootstrap CIs (over the Q paths) of the three coefficients of :func:`ranking_coefficients`.

    With ``other_acc`` (the accuracies of the *same* paths on another super-supernet) the
    intervals are of the paired difference ``coefficient(acc) - coefficient(other_acc)``: each
    resample draws one set of paths for both, so the difference is not blurred by which paths
    were drawn.

    A resample repeats paths; the paper's Kendall counts a repeated path's pair as a tie, hence
    discordant, which lowers it by about 1/Q on every resample (for a paired difference the
    shift is common to both and cancels).
    """
    x, y = _vectors(acc, flops)
    z = None if other_acc is None else _vectors(other_acc, flops)[0]

    def statistic(name: str) -> Callable[[npt.NDArray[np.int64]], float | None]:
        def compute(index: npt.NDArray[np.int64]) -> float | None:
            value = getattr(ranking_coefficients(x[index], y[index]), name)
            if z is None or value is None:
                return value
            other = getattr(ranking_coefficients(z[index], y[index]), name)
            return None if other is None else value - other

        return compute

    return {
        name: bootstrap_interval(
            statistic(name), int(x.size), resamples=resamples, level=level, seed=seed
        )
        for name in COEFFICIENTS
    }
