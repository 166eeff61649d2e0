"""Random search with a fixed number of evaluations: the baseline MCEA must beat.

Each trial draws a base model uniformly within f0 +- tol and, per scaling stage j, a strategy
uniformly among those of stage j's grid that fit f_j +- tol_j for it (the nearest in FLOPs when
none fits); it costs M evaluations. The best trial by mean accuracy over S_1..S_M wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from scalenet.search.evaluator import CachedEvaluator, Evaluator
from scalenet.space import (
    BaseArch,
    Budgets,
    Path,
    PathBatch,
    Scaling,
    SearchSpace,
    count_batch,
    random_base_batch,
)

__all__ = ["RandomSearchResult", "random_search"]


@dataclass(frozen=True)
class RandomSearchResult:
    """The best trial of a random search.

    Attributes:
        base: Its base model.
        strategies: Its S_1..S_M.
        accuracies: Accuracy per scaling stage.
        evaluations: Distinct evaluations spent.
        trials: Trials drawn.
    """

    base: BaseArch
    strategies: tuple[Scaling, ...]
    accuracies: tuple[float, ...]
    evaluations: int
    trials: int

    @property
    def mean_accuracy(self) -> float:
        """Mean accuracy over S_1..S_M."""
        return float(np.mean(self.accuracies))


def random_search(
    space: SearchSpace,
    budgets: Budgets,
    evaluator: Evaluator,
    evaluations: int,
    rng: np.random.Generator,
) -> RandomSearchResult:
    """Random search until ``evaluations`` distinct evaluations are spent.

    Raises:
        ValueError: If ``evaluations`` is smaller than M (not even one trial).
    """
    stages = budgets.max_stage
    if evaluations < stages:
        raise ValueError(f"evaluations must be >= M = {stages}, got {evaluations}")
    cached = CachedEvaluator(evaluator)
    best: RandomSearchResult | None = None
    trials = 0
    while cached.calls + stages <= evaluations:
        batch = _feasible_batch(space, budgets, rng)
        choices = [_strategy_flops(space, budgets, batch, stage) for stage in range(1, stages + 1)]
        for row in range(len(batch)):
            if cached.calls + stages > evaluations:
                break
            trials += 1
            base = batch.path(row, space).base
            strategies = []
            for stage, (options, flops, fits) in enumerate(choices, start=1):
                allowed = np.flatnonzero(fits[row])
                if allowed.size == 0:  # nearest in FLOPs, as the scaling step does
                    allowed = np.array([np.argmin(np.abs(flops[row] - budgets.budget(stage)))])
                strategies.append(options[int(allowed[rng.integers(allowed.size)])])
            accuracies = cached.evaluate_batch([Path(base, s) for s in strategies])
            if best is None or float(np.mean(accuracies)) > best.mean_accuracy:
                best = RandomSearchResult(base, tuple(strategies), tuple(accuracies), 0, 0)
    assert best is not None
    return RandomSearchResult(best.base, best.strategies, best.accuracies, cached.calls, trials)


def _feasible_batch(space: SearchSpace, budgets: Budgets, rng: np.random.Generator) -> PathBatch:
    for _ in range(1000):
        batch = random_base_batch(space, 1024, rng)
        keep = np.flatnonzero(budgets.fits(count_batch(space, batch).flops, 0))
        if keep.size:
            return PathBatch(
                batch.depths[keep], batch.kernels[keep], batch.expands[keep], batch.se[keep],
                batch.out_chs[keep], batch.depth[keep], batch.width[keep], batch.resolution[keep],
            )  # fmt: skip
    raise ValueError(f"no base model within f0 = {budgets.f0:,} +- {budgets.tolerance_at(0):,}")


def _strategy_flops(
    space: SearchSpace, budgets: Budgets, batch: PathBatch, stage: int
) -> tuple[list[Scaling], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Strategies of a stage, their FLOPs [B, S] for every base model and whether they fit."""
    options = space.scaling.strategies(stage)
    size, count = len(batch), len(options)

    def repeat(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.repeat(array, count, axis=0)

    coefficients = np.asarray([(o.depth, o.width, o.resolution) for o in options], dtype=np.float64)
    tiled = np.tile(coefficients, (size, 1))  # row b * count + i: base b with strategy i
    every = PathBatch(
        repeat(batch.depths), repeat(batch.kernels), repeat(batch.expands), repeat(batch.se),
        repeat(batch.out_chs), tiled[:, 0].copy(), tiled[:, 1].copy(), tiled[:, 2].copy(),
    )  # fmt: skip
    flops = count_batch(space, every).flops.reshape(size, count)
    return options, flops, np.asarray(budgets.fits(flops, stage), dtype=bool)
