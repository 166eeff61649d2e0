"""Unit tests of MCEA's initial step: feasible base models and S_j^(0) (eq. 7)."""

from __future__ import annotations

import numpy as np
import pytest

from scalenet.search import CachedEvaluator, FlopsCounter, initial_strategies, sample_feasible_bases
from scalenet.space import BaseArch, Budgets, Path, Scaling, SearchSpace, count


def _fitting_all(
    space: SearchSpace, budgets: Budgets, bases: list[BaseArch], stage: int
) -> list[Scaling]:
    """Stage ``stage``'s strategies that fit f_j for every base (counted one by one)."""
    return [
        scaling
        for scaling in space.scaling.strategies(stage)
        if all(budgets.fits(count(space, Path(b, scaling)).flops, stage) for b in bases)
    ]


def test_sampled_bases_fit_f0_and_are_reproducible(space, budgets) -> None:  # type: ignore[no-untyped-def]
    bases = sample_feasible_bases(space, budgets, 12, np.random.default_rng(5))
    assert len(bases) == 12 and len(set(bases)) == 12
    for base in bases:
        assert space.validate(base) == base
        flops = count(space, Path(base)).flops
        assert abs(flops - 4_000_000) <= 500_000
    again = sample_feasible_bases(space, budgets, 12, np.random.default_rng(5))
    assert again == bases
    other = sample_feasible_bases(space, budgets, 12, np.random.default_rng(6))
    assert other != bases


def test_sampling_gives_up_with_a_clear_error(space) -> None:  # type: ignore[no-untyped-def]
    impossible = Budgets(f0=1_000, max_stage=3, tolerance=0)  # far below the smallest model
    with pytest.raises(ValueError) as info:
        sample_feasible_bases(space, impossible, 3, np.random.default_rng(0), max_tries=2)
    assert str(info.value) == (
        "initial_bases: found 0 of 3 base models within f0 = 1,000 +- 0 in 2 batches of 64; "
        "widen the tolerance"
    )


@pytest.fixture(scope="module")
def bases(space, budgets) -> list[BaseArch]:  # type: ignore[no-untyped-def]
    # seed 5: 8, 31 and 23 strategies of stages 1-3 fit f_j for all three models (a stage-1
    # strategy often fits one model only: d adds whole blocks, w whole channels)
    return sample_feasible_bases(space, budgets, 3, np.random.default_rng(5))


def test_initial_strategy_is_the_argmax_of_the_mean_not_of_one_model(space, budgets, bases) -> None:  # type: ignore[no-untyped-def]
    # Per stage two strategies that fit f_j for all three models: `decoy` is the best pair
    # (1.0 on the first model) but 0.0 on the others (mean 1/3); `best` scores 0.5 on each (mean
    # 0.5); everything else scores 0.1. S_j^(0) must be `best`.
    best, decoy = {}, {}
    for stage in (1, 2, 3):
        fitting = _fitting_all(space, budgets, bases, stage)
        assert len(fitting) >= 2, f"stage {stage}: test needs two strategies fitting all models"
        best[stage], decoy[stage] = fitting[-1], fitting[0]
    best_set, decoy_set = set(best.values()), set(decoy.values())

    def evaluator(base: BaseArch, scaling: Scaling) -> float:
        if scaling in decoy_set:
            return 1.0 if base == bases[0] else 0.0
        return 0.5 if scaling in best_set else 0.1

    cached = CachedEvaluator(evaluator)
    choices, notes = initial_strategies(space, budgets, bases, cached, FlopsCounter(space))
    assert notes == []
    assert [c.stage for c in choices] == [1, 2, 3]
    for choice in choices:
        assert choice.scaling == best[choice.stage]
        assert choice.accuracy == pytest.approx(0.5)
        # S_j^(0) fits f_j for every model; `flops` is their mean
        values = [count(space, Path(b, choice.scaling)).flops for b in bases]
        assert all(budgets.fits(v, choice.stage) for v in values) and choice.fits
        assert choice.flops == round(float(np.mean(values)))
    # only fitting (model, strategy) pairs were evaluated, each once
    fitting_pairs = sum(
        budgets.fits(count(space, Path(b, s)).flops, stage)
        for stage in (1, 2, 3)
        for s in space.scaling.strategies(stage)
        for b in bases
    )
    assert cached.calls == fitting_pairs and cached.hits == 0


def test_ties_go_to_more_models_then_grid_order(space, budgets, bases) -> None:  # type: ignore[no-untyped-def]
    choices, _ = initial_strategies(
        space, budgets, bases, CachedEvaluator(lambda b, s: 0.5), FlopsCounter(space)
    )
    for choice in choices:
        assert choice.scaling == _fitting_all(space, budgets, bases, choice.stage)[0]


def test_a_model_with_no_fitting_strategy_contributes_its_nearest(space, bases) -> None:  # type: ignore[no-untyped-def]
    tight = Budgets(f0=4_000_000, max_stage=3, tolerance=1)  # nothing fits within 2^j FLOPs

    def evaluator(base: BaseArch, scaling: Scaling) -> float:
        return scaling.width

    choices, notes = initial_strategies(
        space, tight, bases, CachedEvaluator(evaluator), FlopsCounter(space)
    )
    assert len(notes) == 3 * len(bases)
    assert notes[0].startswith("stage 1: no strategy fits f_1 = 8,000,000 +- 2 for ")
    for choice in choices:
        assert not choice.fits
        nearest = []
        for base in bases:
            options = space.scaling.strategies(choice.stage)
            values = [count(space, Path(base, s)).flops for s in options]
            nearest.append(
                options[int(np.argmin(np.abs(np.array(values) - tight.budget(choice.stage))))]
            )
        # the widest of the models' nearest strategies (accuracy = width here)
        assert choice.scaling == max(nearest, key=lambda s: s.width)
