"""Constraint handling of the base step: feasibility first."""

from __future__ import annotations

import numpy as np
import pytest

from scalenet.search import BaseStep, CachedEvaluator, FlopsCounter, GenomeCodec
from scalenet.space import random_base_batch


def _step(space, budgets, analytic, **overrides):  # type: ignore[no-untyped-def]
    options = dict(
        population=12,
        generations=3,
        crossover_prob=0.9,
        crossover_indpb=0.5,
        mutation_indpb=0.05,
        infeasible_floor=0.0,
    )
    options.update(overrides)
    _, strategies = analytic.optimum()
    return BaseStep(
        space, budgets, strategies, CachedEvaluator(analytic), FlopsCounter(space), **options
    )


def _archs(space, budgets, feasible: bool, count: int):  # type: ignore[no-untyped-def]
    flops = FlopsCounter(space)
    batch = random_base_batch(space, 400, np.random.default_rng(7))
    paths = batch.paths(space)
    values = flops(paths)
    found = [
        (path.base, int(value))
        for path, value in zip(paths, values, strict=True)
        if bool(budgets.fits(int(value), 0)) == feasible
    ]
    return found[:count]


def test_infeasible_never_dominates_feasible(space, budgets, analytic) -> None:  # type: ignore[no-untyped-def]
    step = _step(space, budgets, analytic)
    codec = GenomeCodec(space)
    feasible = _archs(space, budgets, True, 6)
    infeasible = _archs(space, budgets, False, 6)
    pop = [step.individual(codec.encode(arch)) for arch, _ in feasible + infeasible]
    assert step.toolbox.evaluate(pop) == 6
    calls = step.evaluator.calls
    assert calls == 6 * 3  # infeasible individuals are not evaluated
    good, bad = pop[:6], pop[6:]
    for ind in good:
        assert min(ind.fitness.values) >= 0.0
    for ind in bad:
        assert max(ind.fitness.values) < -1.0
        assert len(set(ind.fitness.values)) == 1
        for other in good:
            assert other.fitness.dominates(ind.fitness)
            assert not ind.fitness.dominates(other.fitness)
    # Among infeasible ones the smaller violation dominates.
    violations = [abs(value - budgets.f0) - budgets.tolerance_at(0) for _, value in infeasible]
    order = np.argsort(violations)
    assert bad[order[0]].fitness.dominates(bad[order[-1]].fitness)
    # NSGA-II keeps every feasible individual before any infeasible one.
    kept = step.toolbox.select(pop, 6)
    assert {id(ind) for ind in kept} == {id(ind) for ind in good}


def test_floor_violation_raises(space, budgets, analytic) -> None:  # type: ignore[no-untyped-def]
    step = _step(space, budgets, analytic, infeasible_floor=0.95)
    codec = GenomeCodec(space)
    arch, _ = _archs(space, budgets, True, 1)[0]
    with pytest.raises(ValueError, match="infeasible_floor"):
        step.toolbox.evaluate([step.individual(codec.encode(arch))])


def test_generations_are_reproducible_and_restorable(space, budgets, analytic) -> None:  # type: ignore[no-untyped-def]
    from scalenet.search import GenerationState

    def run(resume_at: int | None):  # type: ignore[no-untyped-def]
        rng = np.random.default_rng(5)
        step = _step(space, budgets, analytic)
        state = step.start(rng, None)
        for generation in range(3):
            if generation == resume_at:
                saved_rng = rng.bit_generator.state
                state = GenerationState.from_json(state.to_json())
                rng = np.random.default_rng()
                rng.bit_generator.state = saved_rng
                step = _step(space, budgets, analytic)
            state = step.step(rng, state)
        return state

    plain, resumed = run(None), run(1)
    assert plain == resumed
    assert [entry["gen"] for entry in plain.logbook] == [0, 1, 2, 3]


def test_best_takes_the_weighted_mean_of_the_front(space, budgets, analytic) -> None:  # type: ignore[no-untyped-def]
    from scalenet.search import GenerationState

    step = _step(space, budgets, analytic)
    codec = GenomeCodec(space)
    (a, _), (b, _), (c, _) = _archs(space, budgets, True, 3)
    state = GenerationState(
        generation=0,
        genomes=[codec.encode(a), codec.encode(b), codec.encode(c)],
        fitness=[[0.9, 0.1, 0.5], [0.1, 0.9, 0.4], [0.05, 0.05, 0.05]],
        crowding=[float("inf")] * 3,
        logbook=[],
    )
    assert step.best(state)[0] == a and step.best(state)[2] == 2
    assert step.best(state, [0.0, 1.0, 0.0])[0] == b
