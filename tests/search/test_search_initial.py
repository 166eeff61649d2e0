"""Unit tests of MCEA's initial step: feasible base models and S_j^(0) (eq. 7)."""

from __future__ import annotations

import numpy as np
import pytest

from scalenet.search import CachedEvaluator, FlopsCounter, initial_strategies, sample_feasible_bases
from scalenet.space import BaseArch, Budgets, Path, Scaling, SearchSpace, count


def _mean_error(
    space: SearchSpace, budgets: Budgets, bases: list[BaseArch], stage: int
) -> list[float]:
    """Per strategy of stage ``stage``: |FLOPs - f_j| averaged over ``bases`` (counted one by one)."""
    return [
        float(np.mean([abs(count(space, Path(b, s)).flops - budgets.budget(stage)) for b in bases]))
        for s in space.scaling.strategies(stage)
    ]


def _candidates(
    space: SearchSpace, budgets: Budgets, bases: list[BaseArch], stage: int
) -> list[Scaling]:
    """Stage ``stage``'s strategies whose FLOPs error averaged over ``bases`` is within tol_j."""
    errors = _mean_error(space, budgets, bases, stage)
    return [
        s
        for s, error in zip(space.scaling.strategies(stage), errors, strict=True)
        if error <= budgets.tolerance_at(stage)
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
    return sample_feasible_bases(space, budgets, 3, np.random.default_rng(5))


def test_initial_strategy_is_the_argmax_of_the_mean_over_all_k(space, budgets, bases) -> None:  # type: ignore[no-untyped-def]
    # Per stage two candidates: `decoy` is the best pair (1.0 on the first model) but 0.0 on the
    # others (mean 1/3); `best` scores 0.5 on each (mean 0.5); everything else scores 0.1.
    best, decoy = {}, {}
    for stage in (1, 2, 3):
        candidates = _candidates(space, budgets, bases, stage)
        assert len(candidates) >= 2, f"stage {stage}: test needs two candidate strategies"
        best[stage], decoy[stage] = candidates[-1], candidates[0]
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
        values = [count(space, Path(b, choice.scaling)).flops for b in bases]
        assert choice.flops == round(float(np.mean(values))) and choice.fits
    # every candidate was evaluated on all K models, each pair once
    expected = {
        Path(b, s).encode()
        for stage in (1, 2, 3)
        for s in _candidates(space, budgets, bases, stage)
        for b in bases
    }
    assert set(cached.cache) == expected
    assert cached.calls == len(expected) and cached.hits == 0


def test_a_strategy_is_judged_on_all_k_models_not_on_those_it_fits(space, budgets, bases) -> None:  # type: ignore[no-untyped-def]
    # The old rule scored a strategy only on the models it fitted one by one, which favoured
    # strategies that fit only the large bases. Here `lucky` is a candidate that fits f_j for
    # some models only, scoring 1.0 on those and 0.0 on the rest; every other strategy scores 0.6
    # everywhere. Judged over all K, `lucky` (mean <= 0.5) must lose.
    lucky = {}
    for stage in (1, 2, 3):
        for scaling in _candidates(space, budgets, bases, stage):
            fits = [budgets.fits(count(space, Path(b, scaling)).flops, stage) for b in bases]
            if 0 < sum(fits) <= len(bases) // 2:
                lucky[stage] = (scaling, fits)
                break
    assert lucky, "test needs a candidate that fits at most half of the models one by one"

    def evaluator(base: BaseArch, scaling: Scaling) -> float:
        for stage_scaling, fits in lucky.values():
            if scaling == stage_scaling:
                return 1.0 if fits[bases.index(base)] else 0.0
        return 0.6

    choices, _ = initial_strategies(
        space, budgets, bases, CachedEvaluator(evaluator), FlopsCounter(space)
    )
    for choice in choices:
        if choice.stage in lucky:
            assert choice.scaling != lucky[choice.stage][0]
            assert choice.accuracy == pytest.approx(0.6)


def test_ties_go_to_grid_order(space, budgets, bases) -> None:  # type: ignore[no-untyped-def]
    choices, _ = initial_strategies(
        space, budgets, bases, CachedEvaluator(lambda b, s: 0.5), FlopsCounter(space)
    )
    for choice in choices:
        assert choice.scaling == _candidates(space, budgets, bases, choice.stage)[0]


def test_no_fitting_strategy_takes_the_least_mean_error(space, bases) -> None:  # type: ignore[no-untyped-def]
    tight = Budgets(f0=4_000_000, max_stage=3, tolerance=1)  # nothing fits within 2^j FLOPs
    cached = CachedEvaluator(lambda b, s: s.width)
    choices, notes = initial_strategies(space, tight, bases, cached, FlopsCounter(space))
    assert len(notes) == 3
    assert notes[0].startswith(
        "stage 1: no strategy fits f_1 = 8,000,000 +- 2 on average over the 3 base models; nearest "
    )
    for choice in choices:
        assert not choice.fits
        errors = _mean_error(space, tight, bases, choice.stage)
        assert choice.scaling == space.scaling.strategies(choice.stage)[int(np.argmin(errors))]
    assert cached.calls == 3 * len(bases)  # the nearest strategy, on all K models
