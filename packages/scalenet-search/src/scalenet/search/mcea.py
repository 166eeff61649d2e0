"""MCEA: Markov-chain evolution of a base model and its scaling strategies (eq. 7, supp. A).

1. Initial strategies S_j^(0): K base models within f0 +- tol; for each scaling stage j, every
   strategy of the stage's grid is applied to every one of the K models. The candidates are the
   strategies whose FLOPs error |FLOPs - f_j|, averaged over all K models, is within tol_j (the
   official code's test; none: the one of least mean error, logged); each candidate is evaluated
   on all K models, and S_j^(0) is the one with the best mean accuracy over the K (ties: grid
   order).
2. T iterations, each (a) a base step: NSGA-II over base models (see :mod:`scalenet.search.nsga`:
   one objective, the mean accuracy over S_1..S_M, by default; feasible only when the base fits
   f0 and every scaled path fits f_j), started from P feasible random genomes, choosing the best
   feasible genome it evaluated; (b) a scaling step: per stage j, the best strategy of the grid
   for the new base model under f_j +- tol_j (nearest in FLOPs when none fits, logged). With
   ``early_stop`` the search ends when an iteration ends where the previous one did (a fixed
   point); by default all T iterations run, as in the paper.
3. Every evaluation goes through a :class:`CachedEvaluator`; the state (numpy generator, phase,
   NSGA-II population, current base model and strategies, counters, log) is committed after the
   initial step, every NSGA-II generation and every scaling step, so a killed search resumes and
   ends exactly as an uninterrupted one with the same seed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from scalenet.search.evaluator import CachedEvaluator, Evaluator, MapFn
from scalenet.search.flops import FlopsCounter
from scalenet.search.genome import GenomeCodec
from scalenet.search.nsga import OBJECTIVES, BaseStep, GenerationState
from scalenet.search.store import SearchStore
from scalenet.space import (
    BaseArch,
    Budgets,
    Path,
    Scaling,
    SearchSpace,
    feasible_bases,
)
from scalenet.space.files import write_text
from scalenet.space.progress import progress_bar

__all__ = [
    "MCEA",
    "MCEAConfig",
    "SearchResult",
    "StrategyChoice",
    "initial_strategies",
    "sample_feasible_bases",
    "scaling_step",
]

STATE_VERSION = 2
PHASES = ("initial", "base", "scaling", "done")


@dataclass(frozen=True)
class MCEAConfig:
    """Hyper-parameters of MCEA (defaults: the paper's, supplementary A).

    Attributes:
        population: NSGA-II population size P.
        generations: NSGA-II generations N per base step.
        iterations: Alternations T of base and scaling steps.
        initial_bases: Base models K for the initial strategies.
        seed: Seed of the search's numpy generator.
        crossover_prob: Probability that a pair of parents is crossed.
        crossover_indpb: Per-gene swap probability of the uniform crossover.
        mutation_indpb: Per-gene mutation probability (None: 2 / genome length).
        objective: ``mean`` (the official code: one objective, the weighted mean accuracy over
            S_1..S_M, and the best feasible genome of everything evaluated) or ``per_stage``
            (M objectives, the front member with the best weighted mean).
        objective_weights: Weights of the M stages in the mean (None: equal; the official
            code's ``ratio`` of 1).
        infeasible_floor: A lower bound of every accuracy the evaluator returns (see
            :mod:`scalenet.search.nsga`).
        max_tries: Batches of random base models drawn before giving up on K feasible ones
            (and before filling the initial population with the least violating ones).
        early_stop: Stop at a fixed point, when an iteration ends where the previous one did
            (the paper runs all T iterations: off by default).
        carry_base: Put the current base model into the next base step's initial population
            (the official code starts every base step from P fresh feasible genomes: off).
    """

    population: int = 50
    generations: int = 40
    iterations: int = 8
    initial_bases: int = 20
    seed: int = 0
    crossover_prob: float = 0.9
    crossover_indpb: float = 0.5
    mutation_indpb: float | None = None
    objective: str = "mean"
    objective_weights: tuple[float, ...] | None = None
    infeasible_floor: float = 0.0
    max_tries: int = 1000
    early_stop: bool = False
    carry_base: bool = False

    def __post_init__(self) -> None:
        for name, minimum in (
            ("population", 2),
            ("generations", 0),
            ("iterations", 1),
            ("initial_bases", 1),
            ("max_tries", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
        for name in ("crossover_prob", "crossover_indpb"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}"
            )
        for name in ("early_stop", "carry_base"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.mutation_indpb is not None and not 0.0 <= self.mutation_indpb <= 1.0:
            raise ValueError(f"mutation_indpb must be in [0, 1] or null, got {self.mutation_indpb}")
        if self.objective_weights is not None:
            weights = tuple(float(w) for w in self.objective_weights)
            if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
                raise ValueError(
                    f"objective_weights must be >= 0 with a positive sum, got {weights}"
                )
            object.__setattr__(self, "objective_weights", weights)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        data = asdict(self)
        if self.objective_weights is not None:
            data["objective_weights"] = list(self.objective_weights)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MCEAConfig:
        """Build from a mapping of (a subset of) the fields.

        Raises:
            ValueError: Naming an unknown key and the allowed ones.
        """
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(
                f"unknown MCEA key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
            )
        values = dict(data)
        if values.get("objective_weights") is not None:
            values["objective_weights"] = tuple(values["objective_weights"])
        return cls(**values)


@dataclass(frozen=True)
class StrategyChoice:
    """The strategy chosen for one scaling stage.

    Attributes:
        stage: Scaling stage j (1..M).
        scaling: The strategy S_j.
        flops: FLOPs of the base model scaled by S_j.
        accuracy: Its accuracy (mean over the K models for the initial step).
        fits: Whether ``flops`` lies within f_j +- tol_j.
    """

    stage: int
    scaling: Scaling
    flops: int
    accuracy: float
    fits: bool = True

    def to_json(self) -> dict[str, Any]:
        """JSON form (flat: stage, depth, width, resolution, flops, accuracy, fits)."""
        return {
            "stage": self.stage,
            **self.scaling.to_json(),
            "flops": self.flops,
            "accuracy": self.accuracy,
            "fits": self.fits,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StrategyChoice:
        """Build from :meth:`to_json` output."""
        return cls(
            stage=int(data["stage"]),
            scaling=Scaling.from_json(data),
            flops=int(data["flops"]),
            accuracy=float(data["accuracy"]),
            fits=bool(data.get("fits", True)),
        )


@dataclass(frozen=True)
class SearchResult:
    """The outcome of a search.

    Attributes:
        base: The searched base model.
        base_flops: Its FLOPs.
        strategies: S_1..S_M with their FLOPs and accuracies.
        iterations: Iterations run (<= T).
        fixed_point: Whether the search stopped early at a fixed point.
        evaluations: Distinct evaluations (calls of the wrapped evaluator).
        cache_hits: Requests answered by the cache.
        log: The per-step records (initial step, then one per iteration).
    """

    base: BaseArch
    base_flops: int
    strategies: tuple[StrategyChoice, ...]
    iterations: int
    fixed_point: bool
    evaluations: int
    cache_hits: int
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mean_accuracy(self) -> float:
        """Mean accuracy over S_1..S_M."""
        return float(np.mean([choice.accuracy for choice in self.strategies]))

    def summary(self) -> list[str]:
        """The result in a few aligned lines (what ``scalenet-search mcea`` and the stage print)."""
        lines = [f"base        {self.base.encode()} ({self.base_flops:,} FLOPs)"]
        for choice in self.strategies:
            s = choice.scaling
            lines.append(
                f"S{choice.stage}          d {s.depth:g}, w {s.width:g}, r {s.resolution:g}: "
                f"{choice.flops:,} FLOPs, accuracy {choice.accuracy:.4f}"
            )
        lines.append(
            f"iterations  {self.iterations}{' (fixed point)' if self.fixed_point else ''}; "
            f"{self.evaluations:,} evaluations, {self.cache_hits:,} cache hits"
        )
        return lines

    def to_json(self) -> dict[str, Any]:
        """JSON form: ``{"base": str, "strategies": [...], "log": [...], ...}``."""
        return {
            "base": self.base.encode(),
            "base_flops": self.base_flops,
            "strategies": [choice.to_json() for choice in self.strategies],
            "mean_accuracy": self.mean_accuracy,
            "iterations": self.iterations,
            "fixed_point": self.fixed_point,
            "evaluations": self.evaluations,
            "cache_hits": self.cache_hits,
            "log": self.log,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchResult:
        """Build from :meth:`to_json` output."""
        return cls(
            base=BaseArch.decode(data["base"]),
            base_flops=int(data["base_flops"]),
            strategies=tuple(StrategyChoice.from_json(item) for item in data["strategies"]),
            iterations=int(data["iterations"]),
            fixed_point=bool(data["fixed_point"]),
            evaluations=int(data["evaluations"]),
            cache_hits=int(data["cache_hits"]),
            log=list(data.get("log", [])),
        )


def sample_feasible_bases(
    space: SearchSpace,
    budgets: Budgets,
    count: int,
    rng: np.random.Generator,
    *,
    max_tries: int = 1000,
) -> list[BaseArch]:
    """The initial population's ``count`` base models within f0 +- tol (``feasible_bases``).

    Raises:
        ValueError: If ``max_tries`` batches do not yield enough feasible models.
    """
    try:
        return feasible_bases(space, budgets, count, rng, max_tries=max_tries)
    except ValueError as error:
        raise ValueError(f"initial_bases: {error}") from None


def _candidates(
    budgets: Budgets, base: BaseArch, stage: int, options: Sequence[Scaling], flops: FlopsCounter
) -> tuple[list[tuple[Scaling, int, bool]], str | None]:
    """Strategies of ``options`` fitting f_j for ``base``, or the nearest one (with a note)."""
    values = flops([Path(base, scaling) for scaling in options])
    fitting = [
        (scaling, int(value), True)
        for scaling, value in zip(options, values, strict=True)
        if budgets.fits(int(value), stage)
    ]
    if fitting:
        return fitting, None
    nearest = int(np.argmin(np.abs(values - budgets.budget(stage))))
    note = (
        f"stage {stage}: no strategy fits f_{stage} = {budgets.budget(stage):,} +- "
        f"{budgets.tolerance_at(stage):,} for {base.encode()}; nearest {options[nearest].encode()} "
        f"at {int(values[nearest]):,} FLOPs"
    )
    return [(options[nearest], int(values[nearest]), False)], note


def initial_strategies(
    space: SearchSpace,
    budgets: Budgets,
    bases: Sequence[BaseArch],
    evaluator: CachedEvaluator,
    flops: FlopsCounter,
    map_fn: MapFn | None = None,
) -> tuple[list[StrategyChoice], list[str]]:
    """S_j^(0) for j = 1..M: the best mean accuracy over all K base models (eq. 7).

    Every strategy is judged on the same K models: it is a candidate when its FLOPs error
    averaged over the K is within tol_j (as the official code's ``check_flops``), and a candidate
    scores the mean of its K accuracies. So a strategy that fits only the large bases is neither
    favoured by being scored on them alone nor excused the bases it overshoots.

    Returns:
        The chosen strategies (``flops`` is their mean FLOPs over the K models, ``fits`` whether
        the mean FLOPs error is within tol_j) and notes about stages where no strategy fits.
    """
    choices, notes = [], []
    for stage in range(1, budgets.max_stage + 1):
        options = space.scaling.strategies(stage)
        values = flops([Path(b, s) for b in bases for s in options]).reshape(len(bases), -1)
        error = np.abs(values - budgets.budget(stage)).mean(axis=0)
        fitting = np.flatnonzero(error <= budgets.tolerance_at(stage))
        fits = fitting.size > 0
        if not fits:
            nearest = int(np.argmin(error))
            fitting = np.asarray([nearest])
            notes.append(
                f"stage {stage}: no strategy fits f_{stage} = {budgets.budget(stage):,} +- "
                f"{budgets.tolerance_at(stage):,} on average over the {len(bases)} base models; "
                f"nearest {options[nearest].encode()} (mean error {error[nearest]:,.0f} FLOPs)"
            )
        paths = [Path(b, options[int(i)]) for i in fitting for b in bases]
        accuracies = np.asarray(evaluator.evaluate_batch(paths, map_fn), dtype=float)
        means = accuracies.reshape(len(fitting), len(bases)).mean(axis=1)
        index = int(fitting[int(np.argmax(means))])  # argmax: the first in grid order on ties
        choices.append(
            StrategyChoice(
                stage=stage,
                scaling=options[index],
                flops=round(float(values[:, index].mean())),
                accuracy=float(means.max()),
                fits=fits,
            )
        )
    return choices, notes


def scaling_step(
    space: SearchSpace,
    budgets: Budgets,
    base: BaseArch,
    evaluator: CachedEvaluator,
    flops: FlopsCounter,
    map_fn: MapFn | None = None,
) -> tuple[list[StrategyChoice], list[str]]:
    """For each j, the best strategy of stage j's grid for ``base`` under f_j +- tol_j.

    Ties go to the first strategy in grid order. Returns the choices and the notes about stages
    where no strategy fits (then the nearest in FLOPs is taken).
    """
    choices, notes = [], []
    for stage in range(1, budgets.max_stage + 1):
        candidates, note = _candidates(budgets, base, stage, space.scaling.strategies(stage), flops)
        if note:
            notes.append(note)
        accuracies = evaluator.evaluate_batch([Path(base, s) for s, _, _ in candidates], map_fn)
        index = int(np.argmax(accuracies))
        scaling, value, fits = candidates[index]
        choices.append(StrategyChoice(stage, scaling, value, float(accuracies[index]), fits))
    return choices, notes


class MCEA:
    """A resumable MCEA search (see the module docstring).

    Args:
        space: The search space.
        budgets: FLOPs budgets f_0..f_M and tolerances.
        evaluator: Any ``(BaseArch, Scaling) -> float`` callable.
        config: Hyper-parameters.
        out_dir: Folder of ``state.json``, ``cache.jsonl`` and ``log.jsonl``; None keeps the state
            in memory only. An existing state there is resumed.
        map_fn: ``map`` for evaluations (serial if None), e.g. ``multiprocessing.Pool.map``.
        fingerprint: Extra JSON identifying the run (e.g. the evaluator spec); a saved state with
            a different config, space, budgets or fingerprint is refused (``restart``: replaced).
        progress: Show a tqdm progress bar.
        writer: Whether this process writes ``out_dir`` (default). A search run as several
            processes that share the evaluations (``map_fn`` gathering every rank's share, e.g.
            scalenet-supernet's ``distributed_map``) runs the same steps in every process; only
            one of them writes, the others read a saved state to resume and never write.
        restart: On a saved state of a different search, start over instead of raising (one
            line says so). The old files are replaced at the first commit, not before: a run
            killed before it leaves them as they were, and in a multi-process search every
            process has read them by then (the first step's evaluations are shared).
    """

    def __init__(
        self,
        space: SearchSpace,
        budgets: Budgets,
        evaluator: Evaluator,
        config: MCEAConfig | None = None,
        *,
        out_dir: str | None = None,
        map_fn: MapFn | None = None,
        fingerprint: Any = None,
        progress: bool = False,
        on_commit: Callable[[dict[str, Any]], None] | None = None,
        writer: bool = True,
        restart: bool = False,
    ) -> None:
        self.space, self.budgets = space, budgets
        self.config = config or MCEAConfig()
        if budgets.max_stage < 1:
            raise ValueError(
                f"budgets max_stage must be >= 1 to search strategies, got {budgets.max_stage}"
            )
        if budgets.max_stage > space.scaling.max_stage:
            raise ValueError(
                f"budgets max_stage {budgets.max_stage} exceeds the scaling space's M = "
                f"{space.scaling.max_stage}"
            )
        weights = self.config.objective_weights
        if weights is not None and len(weights) != budgets.max_stage:
            raise ValueError(
                f"objective_weights: need {budgets.max_stage} (one per scaling stage), "
                f"got {len(weights)}"
            )
        self.evaluator = CachedEvaluator(evaluator)
        self.flops = FlopsCounter(space)
        self.store = SearchStore(out_dir) if out_dir is not None else None
        self.map_fn = map_fn
        self.progress = progress
        self.on_commit = on_commit
        self.writer = writer
        self.restart = restart
        self._reset_pending = False
        self.fingerprint = {
            "version": STATE_VERSION,
            "config": self.config.to_json(),
            "space": space.to_json(),
            "budgets": budgets.to_json(),
            "extra": fingerprint,
        }
        self.rng = np.random.default_rng(self.config.seed)
        self._committed = 0
        codec_length = GenomeCodec(space).length
        self.mutation_indpb = self.config.mutation_indpb or min(1.0, 2.0 / codec_length)

    # -- state -----------------------------------------------------------------------------

    def _new_state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "phase": "initial",
            "iteration": 0,
            "base": None,
            "strategies": [],
            "previous": None,
            "ga": None,
            "chosen": None,
            "step_start_calls": 0,
            "calls": 0,
            "hits": 0,
            "log": [],
            "result": None,
        }

    def _load_or_new(self) -> dict[str, Any]:
        if self.store is None or not self.store.exists():
            if self.store is not None and self.writer:
                self.store.reset()
            return self._new_state()
        state, cache = self.store.load()
        if not self._same_search(state):
            if not self.restart:
                raise ValueError(
                    f"{self.store.state_path}: written by a different search (config, space, "
                    "budgets or evaluator differ); use another output folder or delete it"
                )
            if self.writer:
                print(f"mcea: search settings changed, starting over ({self.store.folder})")
            self._reset_pending = True
            return self._new_state()
        self.rng.bit_generator.state = state["rng"]
        self.evaluator.cache = cache
        self.evaluator.calls, self.evaluator.hits = int(state["calls"]), int(state["hits"])
        self._committed = len(cache)
        return state

    def resumes(self) -> bool:
        """Whether :meth:`run` would continue a saved state (one of this same search)."""
        if self.store is None or not self.store.exists():
            return False
        try:
            state = json.loads(self.store.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return self._same_search(state)

    def _same_search(self, state: dict[str, Any]) -> bool:
        """Whether a saved ``state`` was written by this search (config, space, budgets, extra)."""
        return bool(state.get("fingerprint") == _json_roundtrip(self.fingerprint))

    def _commit(self, state: dict[str, Any]) -> None:
        state["rng"] = self.rng.bit_generator.state
        state["calls"], state["hits"] = self.evaluator.calls, self.evaluator.hits
        state["cache_size"] = len(self.evaluator.cache)
        if self.store is not None and self.writer:
            if self._reset_pending:
                self.store.reset()
                self._reset_pending = False
            new = itertools.islice(self.evaluator.cache.items(), self._committed, None)
            self.store.commit(state, list(new))
            log_text = "".join(_dumps(record) + "\n" for record in state["log"])
            write_text(self.store.folder / "log.jsonl", log_text, fsync=True)
        self._committed = len(self.evaluator.cache)
        if self.on_commit is not None:
            self.on_commit(state)

    # -- steps -----------------------------------------------------------------------------

    def _base_step(self, strategies: Sequence[Scaling]) -> BaseStep:
        config = self.config
        return BaseStep(
            self.space,
            self.budgets,
            strategies,
            self.evaluator,
            self.flops,
            population=config.population,
            generations=config.generations,
            crossover_prob=config.crossover_prob,
            crossover_indpb=config.crossover_indpb,
            mutation_indpb=self.mutation_indpb,
            infeasible_floor=config.infeasible_floor,
            objective=config.objective,
            objective_weights=config.objective_weights,
            max_tries=config.max_tries,
            map_fn=self.map_fn,
        )

    def _do_initial(self, state: dict[str, Any]) -> None:
        bases = sample_feasible_bases(
            self.space,
            self.budgets,
            self.config.initial_bases,
            self.rng,
            max_tries=self.config.max_tries,
        )
        choices, notes = initial_strategies(
            self.space, self.budgets, bases, self.evaluator, self.flops, self.map_fn
        )
        state["strategies"] = [choice.scaling.encode() for choice in choices]
        state["log"].append(
            {
                "iteration": 0,
                "step": "initial",
                "bases": len(bases),
                "strategies": [choice.to_json() for choice in choices],
                "evaluations": self.evaluator.calls,
                "evaluations_step": self.evaluator.calls,
                "cache_hits": self.evaluator.hits,
                "notes": notes,
            }
        )
        state["phase"], state["iteration"] = "base", 1
        state["step_start_calls"] = self.evaluator.calls

    def _do_base(self, state: dict[str, Any]) -> None:
        strategies = [Scaling.decode(text) for text in state["strategies"]]
        step = self._base_step(strategies)
        if state["ga"] is None:
            carry = self.config.carry_base and state["base"] is not None
            seed = BaseArch.decode(state["base"]) if carry else None
            state["ga"] = step.start(self.rng, seed).to_json()
            return
        ga = GenerationState.from_json(state["ga"])
        if ga.generation < self.config.generations:
            state["ga"] = step.step(self.rng, ga).to_json()
            return
        base, accuracies, front = step.best(ga)
        state["chosen"] = {
            "base": base.encode(),
            "accuracies": accuracies,
            "front_size": front,
            "logbook": ga.logbook,
        }
        state["ga"], state["phase"] = None, "scaling"

    def _do_scaling(self, state: dict[str, Any]) -> None:
        chosen = state["chosen"]
        base = BaseArch.decode(chosen["base"])
        choices, notes = scaling_step(
            self.space, self.budgets, base, self.evaluator, self.flops, self.map_fn
        )
        if chosen["front_size"] == 0:
            notes.append(
                "base step: no feasible individual (base within f0 and every S_j within f_j); "
                "kept the least infeasible one"
            )
        current = {"base": chosen["base"], "strategies": [c.scaling.encode() for c in choices]}
        fixed_point = state["previous"] == current
        last = chosen["logbook"][-1] if chosen["logbook"] else {}
        state["log"].append(
            {
                "iteration": state["iteration"],
                "step": "iteration",
                "base": chosen["base"],
                "base_flops": self.flops.one(Path(base)),
                "base_accuracies": chosen["accuracies"],
                "front_size": chosen["front_size"],
                "generations": len(chosen["logbook"]) - 1,
                "last_generation": last,
                "strategies": [choice.to_json() for choice in choices],
                "mean_accuracy": float(np.mean([c.accuracy for c in choices])),
                "evaluations": self.evaluator.calls,
                "evaluations_step": self.evaluator.calls - int(state["step_start_calls"]),
                "cache_hits": self.evaluator.hits,
                "fixed_point": fixed_point,
                "notes": notes,
            }
        )
        state["base"], state["strategies"] = current["base"], current["strategies"]
        state["previous"], state["chosen"] = current, None
        state["step_start_calls"] = self.evaluator.calls
        if (fixed_point and self.config.early_stop) or state["iteration"] >= self.config.iterations:
            result = SearchResult(
                base=base,
                base_flops=self.flops.one(Path(base)),
                strategies=tuple(choices),
                iterations=int(state["iteration"]),
                fixed_point=fixed_point,
                evaluations=self.evaluator.calls,
                cache_hits=self.evaluator.hits,
                log=list(state["log"]),
            )
            state["result"], state["phase"] = result.to_json(), "done"
        else:
            state["iteration"] += 1
            state["phase"] = "base"

    # -- driver ----------------------------------------------------------------------------

    def run(self) -> SearchResult:
        """Run (or resume) the search to the end and return its result."""
        state = self._load_or_new()
        total = 1 + self.config.iterations * (self.config.generations + 3)
        bar = _progress(total, self.progress)
        handlers = {"initial": self._do_initial, "base": self._do_base, "scaling": self._do_scaling}
        try:
            while state["phase"] != "done":
                phase = state["phase"]
                if phase not in handlers:
                    raise ValueError(f"state phase {phase!r} not in {{{', '.join(PHASES)}}}")
                handlers[phase](state)
                self._commit(state)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(iteration=state["iteration"], evals=self.evaluator.calls)
        finally:
            if bar is not None:
                bar.close()
        return SearchResult.from_json(state["result"])


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    return progress_bar(total=total, desc="mcea", unit="step")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))
