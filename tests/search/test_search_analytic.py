from __future__ import annotations

import numpy as np
import pytest

from scalenet.search import FlopsCounter
from scalenet.space import BaseArch, BlockSpec, Path, StageSpec


def test_optimum_is_feasible_and_scores_one(analytic, budgets, space) -> None:  # type: ignore[no-untyped-def]
    base, strategies = analytic.optimum()
    flops = FlopsCounter(space)
    assert budgets.fits(flops.one(Path(base)), 0)
    for stage, scaling in enumerate(strategies, start=1):
        assert space.scaling.grid(stage).contains(scaling)
        assert budgets.fits(flops.one(Path(base, scaling)), stage)
        assert analytic(base, scaling) == pytest.approx(1.0)


def test_best_strategy_under_budget_is_the_target(analytic, budgets, space) -> None:  # type: ignore[no-untyped-def]
    base, strategies = analytic.optimum()
    flops = FlopsCounter(space)
    for stage in range(1, 4):
        options = space.scaling.strategies(stage)
        fits = budgets.fits(flops([Path(base, s) for s in options]), stage)
        scores = [analytic(base, s) for s, ok in zip(options, fits, strict=True) if ok]
        best = [s for s, ok in zip(options, fits, strict=True) if ok][int(np.argmax(scores))]
        assert best == strategies[stage - 1]


def _with_kernel(base: BaseArch, stage: int, kernel: int) -> BaseArch:
    stages = list(base.stages)
    stages[stage] = StageSpec(
        tuple(BlockSpec(kernel, b.expand, b.se) for b in stages[stage].blocks)
    )
    return BaseArch(tuple(stages))


def test_kernel_trends_rise_and_fall(analytic) -> None:  # type: ignore[no-untyped-def]
    base, strategies = analytic.optimum()
    s1 = strategies[0]
    # Stage 1 (index 0): accuracy rises with kernel size; stage 2 (index 1): it falls.
    rising = [analytic(_with_kernel(base, 0, k), s1) for k in (3, 5, 7)]
    falling = [analytic(_with_kernel(base, 1, k), s1) for k in (3, 5, 7)]
    assert rising[0] < rising[1] < rising[2] == pytest.approx(1.0)
    assert falling[0] == pytest.approx(1.0) and falling[0] > falling[1] > falling[2]


def test_every_other_base_scores_lower(analytic, space) -> None:  # type: ignore[no-untyped-def]
    from scalenet.space import random_base_batch

    base, strategies = analytic.optimum()
    batch = random_base_batch(space, 200, np.random.default_rng(1))
    for path in batch.paths(space):
        if path.base != base:
            assert analytic(path.base, strategies[1]) < 1.0
