"""The base step: constraint handling (feasibility first, over every stage), objectives, start."""

from __future__ import annotations

import numpy as np
import pytest

from scalenet.search import BaseStep, CachedEvaluator, FlopsCounter, GenomeCodec
from scalenet.space import BaseArch, Path, random_base_batch


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


def _fully_feasible(step, archs):  # type: ignore[no-untyped-def]
    return [
        (arch, value)
        for (arch, value), v in zip(archs, step.violations([a for a, _ in archs]), strict=True)
        if v == 0
    ]


@pytest.mark.parametrize("objective", ["mean", "per_stage"])
def test_infeasible_never_dominates_feasible(space, budgets, analytic, objective) -> None:  # type: ignore[no-untyped-def]
    step = _step(space, budgets, analytic, objective=objective)
    assert step.num_objectives == (1 if objective == "mean" else 3)
    codec = GenomeCodec(space)
    feasible = _fully_feasible(step, _archs(space, budgets, True, 60))[:6]
    infeasible = _archs(space, budgets, False, 6)
    assert len(feasible) == 6
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
    # Among infeasible ones the smaller total violation dominates.
    violations = step.violations([arch for arch, _ in infeasible])
    assert all(v > 0 for v in violations)
    for ind, v in zip(bad, violations, strict=True):
        assert ind.fitness.values[0] == pytest.approx(-1.0 - v)
    order = np.argsort(violations)
    assert bad[order[0]].fitness.dominates(bad[order[-1]].fitness)
    # NSGA-II keeps every feasible individual before any infeasible one.
    kept = step.toolbox.select(pop, 6)
    assert {id(ind) for ind in kept} == {id(ind) for ind in good}


def test_floor_violation_raises(space, budgets, analytic) -> None:  # type: ignore[no-untyped-def]
    step = _step(space, budgets, analytic, infeasible_floor=0.95)
    codec = GenomeCodec(space)
    arch, _ = _fully_feasible(step, _archs(space, budgets, True, 60))[0]
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


def test_best_per_stage_takes_the_weighted_mean_of_the_front(space, budgets, analytic) -> None:  # type: ignore[no-untyped-def]
    from scalenet.search import GenerationState

    step = _step(space, budgets, analytic, objective="per_stage")
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
    weighted = _step(space, budgets, analytic, objective="per_stage", objective_weights=[0, 1, 0])
    assert weighted.best(state)[0] == b


def test_best_mean_is_the_best_of_everything_evaluated(space, budgets, analytic) -> None:  # type: ignore[no-untyped-def]
    # The official code keeps the best feasible genome of every evaluation of the step, even
    # one no longer in the population.
    from scalenet.search import GenerationState

    step = _step(space, budgets, analytic)
    codec = GenomeCodec(space)
    (a, _), (b, _), (c, _) = _archs(space, budgets, True, 3)
    best = {"genome": codec.encode(c), "accuracies": [0.8, 0.7, 0.9], "score": 0.8, "feasible": 9}
    state = GenerationState(
        generation=2,
        genomes=[codec.encode(a), codec.encode(b)],
        fitness=[[0.6], [0.5]],
        crowding=[float("inf")] * 2,
        logbook=[],
        best=best,
    )
    assert step.best(state) == (c, [0.8, 0.7, 0.9], 9)
    assert GenerationState.from_json(state.to_json()) == state
    # and a run's best is the maximum over every feasible genome it evaluated
    rng = np.random.default_rng(2)
    run = step.start(rng, None)
    for _ in range(3):
        run = step.step(rng, run)
    scores: dict[str, list[float]] = {}
    for key, value in step.evaluator.cache.items():
        scores.setdefault(key.split("@")[0], []).append(value)
    top = max(float(np.mean(v)) for v in scores.values() if len(v) == 3)
    assert run.best is not None and run.best["score"] == pytest.approx(top)
    assert step.best(run)[1] == pytest.approx(run.best["accuracies"])
    assert step.best(run)[0] == BaseArch.decode(
        max(scores, key=lambda k: (len(scores[k]) == 3, float(np.mean(scores[k]))))
    )


def test_the_initial_population_is_feasible(space, budgets, analytic) -> None:  # type: ignore[no-untyped-def]
    step = _step(space, budgets, analytic, population=20)
    state = step.start(np.random.default_rng(0), None)
    assert state.logbook[0]["feasible"] == 20 == len(state.genomes)
    codec = GenomeCodec(space)
    assert all(v == 0 for v in step.violations([codec.decode(g) for g in state.genomes]))
    # only about a quarter of uniform genomes fit f0 alone: a random start would not be feasible
    import random

    random.seed(0)
    uniform = [codec.decode(step.toolbox.genome()) for _ in range(200)]
    assert np.mean(step.violations(uniform) == 0) < 0.5


def test_a_flops_hungry_evaluator_cannot_buy_accuracy_outside_the_windows(space, budgets) -> None:  # type: ignore[no-untyped-def]
    # Accuracy rises with FLOPs: the best base model for it is the largest one within f0 whose
    # scaled paths overshoot f_j. Every stage's window binds, so the step must return a base
    # model whose scaled paths all fit.
    from scalenet.search import make_analytic

    flops = FlopsCounter(space)
    _, strategies = make_analytic(space, budgets).optimum()

    def hungry(base, scaling):  # type: ignore[no-untyped-def]
        return flops.one(Path(base, scaling)) / 1e9

    step = BaseStep(
        space, budgets, strategies, CachedEvaluator(hungry), flops, population=16, generations=6,
        crossover_prob=0.9, crossover_indpb=0.5, mutation_indpb=0.05, infeasible_floor=0.0,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    state = step.start(rng, None)
    for _ in range(6):
        state = step.step(rng, state)
    base, accuracies, feasible = step.best(state)
    assert feasible > 0
    assert budgets.fits(flops.one(Path(base)), 0)
    for stage, scaling in enumerate(strategies, start=1):
        assert budgets.fits(flops.one(Path(base, scaling)), stage), stage
    # The constraint binds: bases within f0 whose scaled paths leave a window exist and score
    # more than the chosen one would if only f0 were checked.
    within_f0 = [arch for arch, _ in _archs(space, budgets, True, 400)]
    overshooting = [a for a, v in zip(within_f0, step.violations(within_f0), strict=True) if v > 0]
    assert overshooting
    assert max(np.mean([hungry(a, s) for s in strategies]) for a in overshooting) > np.mean(
        accuracies
    )


def test_bad_objective_is_refused(space, budgets, analytic) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"objective 'sum' not in \{mean, per_stage\}"):
        _step(space, budgets, analytic, objective="sum")
    with pytest.raises(ValueError, match="objective_weights: need 3"):
        _step(space, budgets, analytic, objective_weights=[1, 2])
