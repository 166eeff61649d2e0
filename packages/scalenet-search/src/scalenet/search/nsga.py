"""The base-model step of MCEA: NSGA-II with DEAP, laid out as DEAP's NSGA-II example.

Problem constants (the budgets, the fixed strategies S_1..S_M), then types (a fitness and a list
individual, made with ``deap.creator``), then a toolbox of registered operators; the generation
loop calls only ``toolbox.*`` and evaluation goes through ``toolbox.map`` (serial by default;
register ``multiprocessing.Pool.map`` or any map instead).

Objectives (``objective``): ``mean`` (the official code's, the default) is one objective, the
(weighted) mean accuracy of the base model scaled by S_1..S_M, and the step returns the best
feasible genome of everything it evaluated; ``per_stage`` has one objective per stage and returns
the member of the final first front with the best (weighted) mean.

Constraint handling (feasibility first, Deb's constrained domination): a genome is feasible only
when its base model fits f0 +- tol_0 *and* every scaled path Path(base, S_j) fits f_j +- tol_j.
An infeasible genome is not evaluated; every objective is set to ``infeasible_floor - 1 -
violation``, the violation summed over the stages 0..M (each in units of that stage's tolerance,
as the official code's per-stage penalty), below any feasible accuracy (accuracies must be >=
``infeasible_floor``). So a feasible individual dominates every infeasible one, and among
infeasible ones the smaller total violation dominates.

Initial population: P genomes drawn uniformly (as the budgets' Monte Carlo) and kept only when
feasible, as the official code's initial sampling; if ``max_tries`` batches do not yield P of
them, the least violating draws fill the rest (counted in the logbook's ``feasible``).

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
import numpy.typing as npt
from deap import base, creator, tools

from scalenet.search.evaluator import CachedEvaluator, MapFn
from scalenet.search.flops import FlopsCounter
from scalenet.search.genome import GenomeCodec
from scalenet.space import (
    BaseArch,
    Budgets,
    Path,
    Scaling,
    SearchSpace,
    count_batch,
    random_base_batch,
)

__all__ = ["OBJECTIVES", "BaseStep", "GenerationState", "individual_type", "logbook_of"]

#: Objectives of the base step: the official code's single mean, or one per scaling stage.
OBJECTIVES = ("mean", "per_stage")


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
        best: The best feasible genome evaluated so far in this step (``genome``, its M
            ``accuracies``, their weighted mean ``score``, and ``feasible``: the number of
            feasible genomes evaluated), None while none was feasible.
    """

    generation: int
    genomes: list[list[int]]
    fitness: list[list[float]]
    crowding: list[float]
    logbook: list[dict[str, Any]]
    best: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form (infinite crowding distances are written as null)."""
        return {
            "generation": self.generation,
            "genomes": self.genomes,
            "fitness": self.fitness,
            "crowding": [None if not np.isfinite(value) else value for value in self.crowding],
            "logbook": self.logbook,
            "best": self.best,
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
            best=_best_from_json(data.get("best")),
        )


def _best_from_json(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {
        "genome": [int(g) for g in data["genome"]],
        "accuracies": [float(v) for v in data["accuracies"]],
        "score": float(data["score"]),
        "feasible": int(data["feasible"]),
    }


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
        budgets: FLOPs budgets (f0 and its tolerance constrain the base model, f_j the scaled
            paths).
        strategies: S_1..S_M; the accuracy of the base model scaled by S_j is objective j
            (``per_stage``) or enters their mean (``mean``).
        evaluator: The cached evaluator.
        flops: FLOPs counter of ``space``.
        population: P.
        generations: N.
        crossover_prob: Probability that a pair of parents is crossed.
        crossover_indpb: Per-gene swap probability of the uniform crossover.
        mutation_indpb: Per-gene probability of a uniform redraw of the choice index.
        infeasible_floor: A lower bound of every feasible accuracy (see the module docstring).
        objective: ``mean`` or ``per_stage`` (see the module docstring).
        objective_weights: Weights of the M stages in the mean (None: equal).
        max_tries: Batches drawn for the feasible initial population before filling it with the
            least violating draws.
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
        objective: str = "mean",
        objective_weights: Sequence[float] | None = None,
        max_tries: int = 1000,
        map_fn: MapFn | None = None,
    ) -> None:
        if objective not in OBJECTIVES:
            raise ValueError(f"objective {objective!r} not in {{{', '.join(OBJECTIVES)}}}")
        # Problem constants.
        self.space, self.budgets, self.strategies = space, budgets, tuple(strategies)
        self.evaluator, self.flops = evaluator, flops
        self.codec = GenomeCodec(space)
        self.population, self.generations = population, generations
        self.crossover_prob, self.infeasible_floor = crossover_prob, infeasible_floor
        self.objective, self.max_tries = objective, max_tries
        stages = len(self.strategies)
        weights = np.ones(stages) if objective_weights is None else np.asarray(objective_weights)
        if weights.shape != (stages,):
            raise ValueError(
                f"objective_weights: need {stages} (one per scaling stage), got {weights.size}"
            )
        self.weights = weights.astype(float) / float(weights.sum())
        self.num_objectives = 1 if objective == "mean" else stages
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
        self._best: dict[str, Any] | None = None

    # -- feasibility -----------------------------------------------------------------------

    def violations(self, archs: Sequence[BaseArch]) -> npt.NDArray[np.float64]:
        """Total FLOPs violation of every base model: the base vs f0 plus each S_j vs f_j.

        Each stage's excess over its window is counted in units of that stage's tolerance;
        0 means feasible.
        """
        stages = len(self.strategies)
        base_flops = self.flops([Path(arch) for arch in archs]).astype(np.float64)
        scaled = self.flops(
            [Path(arch, scaling) for arch in archs for scaling in self.strategies]
        ).astype(np.float64)
        columns = [base_flops, *scaled.reshape(len(archs), stages).T]
        total = np.zeros(len(archs))
        for stage, values in enumerate(columns):
            tolerance = self.budgets.tolerance_at(stage)
            excess = np.abs(values - self.budgets.budget(stage)) - tolerance
            total += np.maximum(excess, 0.0) / max(1, tolerance)
        return total

    def _evaluate_population(self, individuals: Sequence[Any]) -> int:
        """Set the fitness of ``individuals``; returns the number of feasible ones."""
        archs = [self.codec.decode(ind) for ind in individuals]
        violation = self.violations(archs)
        feasible = violation == 0.0
        paths = [
            Path(arch, scaling)
            for arch, ok in zip(archs, feasible, strict=True)
            if ok
            for scaling in self.strategies
        ]
        accuracies = iter(self.evaluator.evaluate_batch(paths, self.toolbox.map))
        for ind, ok, excess in zip(individuals, feasible, violation, strict=True):
            if not ok:
                floor = self.infeasible_floor - 1.0 - float(excess)
                ind.fitness.values = (floor,) * self.num_objectives
                continue
            values = [float(next(accuracies)) for _ in self.strategies]
            if min(values) < self.infeasible_floor:
                raise ValueError(
                    f"evaluator returned {min(values)} below infeasible_floor "
                    f"{self.infeasible_floor}: lower infeasible_floor"
                )
            score = float(np.dot(self.weights, values))
            ind.fitness.values = (score,) if self.objective == "mean" else tuple(values)
            self._note_best(list(map(int, ind)), values, score)
        return int(feasible.sum())

    def _note_best(self, genome: list[int], accuracies: list[float], score: float) -> None:
        """Keep the best feasible genome evaluated (the first of equal scores)."""
        best = self._best
        if best is None:
            self._best = {"genome": genome, "accuracies": accuracies, "score": score, "feasible": 1}
            return
        best["feasible"] += 1
        if score > best["score"]:
            best.update(genome=genome, accuracies=accuracies, score=score)

    def initial_population(self, rng: np.random.Generator) -> list[Any]:
        """P genomes drawn uniformly over base models and kept when feasible.

        Draws batches of random base models (as the budgets' Monte Carlo) until P feasible ones
        are found or ``max_tries`` batches are spent; then the least violating draws fill up.
        """
        found: list[list[int]] = []
        spare: list[tuple[float, list[int]]] = []
        chunk = max(64, 4 * self.population)
        for _ in range(self.max_tries):
            batch = random_base_batch(self.space, chunk, rng)
            base_fits = self.budgets.fits(count_batch(self.space, batch).flops, 0)
            archs = [batch.path(int(i), self.space).base for i in np.flatnonzero(base_fits)]
            if archs:
                for arch, excess in zip(archs, self.violations(archs), strict=True):
                    genome = self.codec.encode(arch)
                    if excess == 0.0:
                        found.append(genome)
                    elif len(spare) < self.population:
                        spare.append((float(excess), genome))
            if len(found) >= self.population:
                break
        spare.sort(key=lambda item: item[0])
        genomes = found[: self.population]
        genomes += [genome for _, genome in spare[: self.population - len(genomes)]]
        if len(genomes) < self.population:
            raise ValueError(
                f"base step: no base model within f0 = {self.budgets.f0:,} +- "
                f"{self.budgets.tolerance_at(0):,} in {self.max_tries} batches of {chunk}; "
                "widen the tolerance"
            )
        return [self.individual(genome) for genome in genomes]

    # -- generations -----------------------------------------------------------------------

    def start(self, rng: np.random.Generator, seed_arch: BaseArch | None) -> GenerationState:
        """Generation 0: P feasible random genomes (the first replaced by ``seed_arch``)."""
        random.seed(int(rng.integers(2**63)))
        toolbox = self.toolbox
        self._best = None
        pop = self.initial_population(np.random.default_rng(int(rng.integers(2**63))))
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
        self._best = None if state.best is None else dict(state.best)
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
        """The chosen base model of the step.

        ``mean``: the best feasible genome of everything evaluated (the official code's choice).
        ``per_stage``: the member of the final feasible first front with the best (weighted)
        mean objective.

        Args:
            state: The last generation.
            weights: Stage weights for ``per_stage`` (None: those of the step).

        Returns:
            The base model, its M accuracies and the number of feasible candidates it was
            chosen from (``mean``: feasible genomes evaluated; ``per_stage``: the size of the
            first front); 0 if none was feasible, and then the least infeasible genome of the
            population is returned, with its (negative) fitness as accuracies.
        """
        pop = self.restore(state)
        feasible = [ind for ind in pop if min(ind.fitness.values) >= self.infeasible_floor]
        if not feasible:
            chosen = max(pop, key=lambda ind: ind.fitness.values[0])
            values = [float(chosen.fitness.values[0])] * len(self.strategies)
            return self.codec.decode(chosen), values, 0
        if self.objective == "mean":
            assert state.best is not None  # a feasible individual was evaluated
            return (
                self.codec.decode(state.best["genome"]),
                list(state.best["accuracies"]),
                int(state.best["feasible"]),
            )
        weight = self.weights if weights is None else np.asarray(weights, dtype=float)
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
            best=None if self._best is None else dict(self._best),
        )


def logbook_of(entries: Sequence[dict[str, Any]]) -> tools.Logbook:
    """A DEAP ``Logbook`` of saved per-generation records."""
    book = tools.Logbook()
    book.header = ["gen", "evaluated", "feasible", "max", "mean"]
    for entry in entries:
        book.record(**entry)
    return book
