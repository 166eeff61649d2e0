"""Confidence intervals of the report: one model's top-1 and two models on the same images.

* :func:`accuracy_interval`: Wilson score interval of a top-1 measured on n images.
* :func:`paired_difference`: top-1 of model A minus model B on the *same* test images, with a
  percentile bootstrap interval over the images (both models resampled together, so the
  interval is that of the difference, much narrower than two separate intervals) and McNemar's
  exact test on the images only one of the two gets right.

A difference is called significant when its 95 % interval excludes 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

LEVEL = 0.95
RESAMPLES = 2000
_Z = 1.959963984540054  # the standard normal's 97.5 % quantile


def accuracy_interval(correct: int, total: int) -> tuple[float, float]:
    """Wilson 95 % interval of ``correct / total``, in percent.

    Raises:
        ValueError: ``total < 1`` or ``correct`` outside 0..total.
    """
    if total < 1 or not 0 <= correct <= total:
        raise ValueError(
            f"accuracy interval: need 0 <= correct <= total, total >= 1; got {correct} of {total}"
        )
    p = correct / total
    centre = (p + _Z**2 / (2 * total)) / (1 + _Z**2 / total)
    half = _Z * math.sqrt(p * (1 - p) / total + _Z**2 / (4 * total**2)) / (1 + _Z**2 / total)
    return 100 * (centre - half), 100 * (centre + half)


@dataclass(frozen=True)
class PairedDifference:
    """Top-1 of A minus top-1 of B on the same images (percentage points).

    Attributes:
        difference: The measured difference.
        low: Lower bound of the 95 % bootstrap interval.
        high: Upper bound.
        only_a: Images A gets right and B wrong.
        only_b: Images B gets right and A wrong.
        p_value: McNemar's exact two-sided p-value (binomial test on only_a vs only_b).
        images: Test images.
    """

    difference: float
    low: float
    high: float
    only_a: int
    only_b: int
    p_value: float
    images: int

    @property
    def significant(self) -> bool:
        """The 95 % interval excludes 0."""
        return self.low > 0 or self.high < 0

    def verdict(self, first: str, second: str) -> str:
        """``"A better"`` / ``"B better"`` / ``"no significant difference"``."""
        if not self.significant:
            return "no significant difference"
        return f"{first} better" if self.difference > 0 else f"{second} better"

    def interval(self) -> str:
        """``+1.23 [+0.80, +1.66]``."""
        return f"{self.difference:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def paired_difference(
    correct_a: Sequence[bool] | np.ndarray,
    correct_b: Sequence[bool] | np.ndarray,
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedDifference:
    """Top-1 of A minus B on the same images, its bootstrap interval and McNemar's p-value.

    Raises:
        ValueError: The two vectors differ in length or are empty.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"paired difference: need two equal, non-empty vectors, got {a.shape} and {b.shape}"
        )
    difference = a.astype(np.int8) - b.astype(np.int8)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // a.size)
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        index = rng.integers(0, a.size, (count, a.size))
        means[start : start + count] = difference[index].mean(axis=1)
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(100 * means, [tail, 100 - tail])
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    discordant = only_a + only_b
    p_value = 1.0 if discordant == 0 else float(binomtest(only_a, discordant, 0.5).pvalue)
    return PairedDifference(
        float(100 * difference.mean()), float(low), float(high), only_a, only_b, p_value, a.size
    )
