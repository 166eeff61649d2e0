"""The base-model step of MCEA: NSGA-II with DEAP, laid out as DEAP's NSGA-II example.

Problem constants (the budgets, the fixed strategies S_1..S_M), then types (one fitness with M
maximized objectives and a list individual, made with ``deap.creator``), then a toolbox of
registered operators; the generation loop calls only ``toolbox.*`` and evaluation goes through
``toolbox.map`` (serial by default; register ``multiprocessing.Pool.map`` or any map instead).

Constraint handling (feasibility first, Deb's constrained domination): an individual whose base
FLOPs leave f0 +- tol is not evaluated; every one of its M objectives is set to
``infeasible_floor - 1 - violation`` (violation in units of the tolerance), below any feasible
accuracy (accuracies must be >= ``infeasible_floor``). So a feasible individual dominates every
infeasible one, and among infeasible ones the smaller violation dominates.

Randomness: DEAP draws from Python's ``random``; :class:`BaseStep` seeds it from the search's
numpy generator at the start of every generation, so a run resumed after generation g replays
generations g + 1.. exactly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from deap import base, creator, tools

from scalenet.search.evaluator import CachedEvaluator, MapFn
from scalenet.search.flops import FlopsCounter
from scalenet.search.genome import GenomeCodec
from scalenet.space import BaseArch, Budgets, Path, Scaling, SearchSpace

__all__ = ["BaseStep", "GenerationState", "individual_type", "logbook_of"]


def individual_type(num_objectives: int) -> type:
    """The DEAP individual class (a list of genes) with ``num_objectives`` maximized objectives."""
    fitness_name = f"ScaleNetFitness{num_objectives}"
    individual_name = f"ScaleNetIndividual{num_objectives}"
    if not hasattr(creator, fitness_name):
        creator.create(fitness_name, base.Fitness, weights=(1.0,) * num_objectives)
    if not hasattr(creator, individual_name):
        creator.create(individual_name, list, fitness=getattr(creator, fitness_name))
    return getattr(creator, individual_name)


@dataclass(frozen=True)
class GenerationState:
    """A population after a generation, enough to rebuild the DEAP objects exactly.

    Attributes:
        generation: Generations done (0: the evaluated initial population).
        genomes: One genome per individual.
        fitness: The M objective values of every individual.
        crowding: The crowding distance NSGA-II gave every individual.
        logbook: The per-generation records so far.
    """

    generation: int
    genomes: list[list[int]]
    fitness: list[list[float]]
    crowding: list[float]
    logbook: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """JSON form (infinite crowding distances are written as null)."""
        return {
            "generation": self.generation,
            "genomes": self.genomes,
            "fitness": self.fitness,
            "crowding": [None if not np.isfinite(value) else value for value in self.crowding],
            "logbook": self.logbook,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenerationState:
        """Build from :meth:`to_json` output."""
        return cls(
            generation=int(data["generation"]),
            genomes=[[int(g) for g in genome] for genome in data["genomes"]],
            fitness=[[float(v) for v in values] for values in data["fitness"]],
            crowding=[float("inf") if v is None else float(v) for v in data["crowding"]],
            logbook=list(data["logbook"]),
        )


def _random_genome(sizes: Sequence[int]) -> list[int]:
    return [random.randrange(size) for size in sizes]


def _select_parents(individuals: Sequence[Any], k: int) -> list[Any]:
    """Binary tournaments on domination, then crowding distance (NSGA-II's crowded comparison).

    DEAP's ``selTournamentDCD`` needs ``k`` divisible by 4 when it equals the population size
    (P = 50 is not); this is the same tournament for any ``k``.
    """
    chosen = []
    for _ in range(k):
        first, second = random.sample(list(individuals), 2)
        if first.fitness.dominates(second.fitness):
            chosen.append(first)
        elif second.fitness.dominates(first.fitness):
            chosen.append(second)
        elif first.fitness.crowding_dist != second.fitness.crowding_dist:
            best = first.fitness.crowding_dist > second.fitness.crowding_dist
            chosen.append(first if best else second)
        else:
            chosen.append(first if random.random() <= 0.5 else second)
    return chosen


class BaseStep:
    """One NSGA-II run over base models for fixed strategies S_1..S_M.

    Args:
        space: The search space.
        budgets: FLOPs budgets (f0 and its tolerance constrain the base model).
        strategies: S_1..S_M; objective j is the accuracy of the base model scaled by S_j.
        evaluator: The cached evaluator.
        flops: FLOPs counter of ``space``.
        population: P.
        generations: N.
        crossover_prob: Probability that a pair of parents is crossed.
        crossover_indpb: Per-gene swap probability of the uniform crossover.
        mutation_indpb: Per-gene probability of a uniform redraw of the choice index.
        infeasible_floor: A lower bound of every feasible accuracy (see the module docstring).
        map_fn: The ``map`` used for evaluations (``toolbox.map``); serial if None.
    """

    def __init__(
        self,
        space: SearchSpace,
        budgets: Budgets,
        strategies: Sequence[Scaling],
        evaluator: CachedEvaluator,
        flops: FlopsCounter,
        *,
        population: int,
        generations: int,
        crossover_prob: float,
        crossover_indpb: float,
        mutation_indpb: float,
        infeasible_floor: float,
        map_fn: MapFn | None = None,
    ) -> None:
        # Problem constants.
        self.space, self.budgets, self.strategies = space, budgets, tuple(strategies)
        self.evaluator, self.flops = evaluator, flops
        self.codec = GenomeCodec(space)
        self.population, self.generations = population, generations
        self.crossover_prob, self.infeasible_floor = crossover_prob, infeasible_floor
        self.num_objectives = len(self.strategies)
        # Types.
        self.individual = individual_type(self.num_objectives)
        # Toolbox.
        sizes = self.codec.sizes
        toolbox = base.Toolbox()
        toolbox.register("map", map_fn or map)
        toolbox.register("genome", _random_genome, sizes)
        toolbox.register("individual", tools.initIterate, self.individual, toolbox.genome)
        toolbox.register("population", tools.initRepeat, list, toolbox.individual)
        toolbox.register("evaluate", self._evaluate_population)
        toolbox.register("mate", tools.cxUniform, indpb=crossover_indpb)
        toolbox.register(
            "mutate",
            tools.mutUniformInt,
            low=[0] * len(sizes),
            up=[size - 1 for size in sizes],
            indpb=mutation_indpb,
        )
        toolbox.register("select_parents", _select_parents)
        toolbox.register("select", tools.selNSGA2)
        self.toolbox = toolbox
        stats = tools.Statistics(lambda ind: ind.fitness.values)
        stats.register("max", np.max, axis=0)
        stats.register("mean", np.mean, axis=0)
        self.stats = stats

    def _evaluate_population(self, individuals: Sequence[Any]) -> int:
        """Set the fitness of ``individuals``; returns the number of feasible ones."""
        archs = [self.codec.decode(ind) for ind in individuals]
        base_flops = self.flops([Path(arch) for arch in archs])
        feasible = np.asarray(self.budgets.fits(base_flops, 0), dtype=bool)
        paths = [
            Path(arch, scaling)
            for arch, ok in zip(archs, feasible, strict=True)
            if ok
            for scaling in self.strategies
        ]
        accuracies = iter(self.evaluator.evaluate_batch(paths, self.toolbox.map))
        tolerance = max(1, self.budgets.tolerance_at(0))
        for ind, ok, flops in zip(individuals, feasible, base_flops, strict=True):
            if ok:
                values = tuple(next(accuracies) for _ in self.strategies)
                if min(values) < self.infeasible_floor:
                    raise ValueError(
                        f"evaluator returned {min(values)} below infeasible_floor "
                        f"{self.infeasible_floor}: lower infeasible_floor"
                    )
            else:
                violation = (
                    abs(int(flops) - self.budgets.f0) - self.budgets.tolerance_at(0)
                ) / tolerance
                values = (self.infeasible_floor - 1.0 - violation,) * self.num_objectives
            ind.fitness.values = values
        return int(feasible.sum())

    def start(self, rng: np.random.Generator, seed_arch: BaseArch | None) -> GenerationState:
        """Generation 0: P random genomes (the first replaced by ``seed_arch``), evaluated."""
        random.seed(int(rng.integers(2**63)))
        toolbox = self.toolbox
        pop = toolbox.population(n=self.population)
        if seed_arch is not None:
            pop[0] = self.individual(self.codec.encode(seed_arch))
        feasible = toolbox.evaluate(pop)
        pop = toolbox.select(pop, len(pop))  # assigns the crowding distances
        return self._snapshot(pop, 0, [], feasible, len(pop))

    def step(self, rng: np.random.Generator, state: GenerationState) -> GenerationState:
        """One generation: tournament, uniform crossover, per-gene mutation, NSGA-II selection."""
        random.seed(int(rng.integers(2**63)))
        toolbox = self.toolbox
        pop = self.restore(state)
        offspring = toolbox.select_parents(pop, len(pop))
        offspring = [toolbox.clone(ind) for ind in offspring]
        for first, second in zip(offspring[::2], offspring[1::2], strict=False):
            if random.random() <= self.crossover_prob:
                toolbox.mate(first, second)
        for ind in offspring:
            toolbox.mutate(ind)
            del ind.fitness.values
        feasible = toolbox.evaluate(offspring)
        pop = toolbox.select(pop + offspring, self.population)
        return self._snapshot(pop, state.generation + 1, state.logbook, feasible, len(offspring))

    def restore(self, state: GenerationState) -> list[Any]:
        """Re-create the DEAP population of a saved generation (fitness and crowding included)."""
        pop = []
        for genes, values, crowding in zip(
            state.genomes, state.fitness, state.crowding, strict=True
        ):
            ind = self.individual(genes)
            ind.fitness.values = tuple(values)
            ind.fitness.crowding_dist = crowding
            pop.append(ind)
        return pop

    def best(
        self, state: GenerationState, weights: Sequence[float] | None = None
    ) -> tuple[BaseArch, list[float], int]:
        """The front member with the best (weighted) mean objective.

        Returns:
            The base model, its M accuracies and the size of the feasible first front (0 if no
            individual is feasible: the least infeasible one is returned).
        """
        pop = self.restore(state)
        feasible = [ind for ind in pop if min(ind.fitness.values) >= self.infeasible_floor]
        weight = (
            np.ones(self.num_objectives) if weights is None else np.asarray(weights, dtype=float)
        )
        if not feasible:
            chosen = max(pop, key=lambda ind: ind.fitness.values[0])
            return self.codec.decode(chosen), list(chosen.fitness.values), 0
        front = tools.sortNondominated(feasible, len(feasible), first_front_only=True)[0]
        scores = [float(np.dot(weight, ind.fitness.values) / weight.sum()) for ind in front]
        chosen = front[int(np.argmax(scores))]
        return self.codec.decode(chosen), list(chosen.fitness.values), len(front)

    def _snapshot(
        self,
        pop: list[Any],
        generation: int,
        logbook: list[dict[str, Any]],
        feasible: int,
        evaluated: int,
    ) -> GenerationState:
        record = self.stats.compile(pop)
        entry = {
            "gen": generation,
            "evaluated": evaluated,
            "feasible": feasible,
            "max": [float(v) for v in record["max"]],
            "mean": [float(v) for v in record["mean"]],
        }
        book = logbook_of(logbook)
        book.record(**entry)
        return GenerationState(
            generation=generation,
            genomes=[list(map(int, ind)) for ind in pop],
            fitness=[list(map(float, ind.fitness.values)) for ind in pop],
            crowding=[float(ind.fitness.crowding_dist) for ind in pop],
            logbook=[dict(item) for item in book],
        )


def logbook_of(entries: Sequence[dict[str, Any]]) -> tools.Logbook:
    """A DEAP ``Logbook`` of saved per-generation records."""
    book = tools.Logbook()
    book.header = ["gen", "evaluated", "feasible", "max", "mean"]
    for entry in entries:
        book.record(**entry)
    return book
