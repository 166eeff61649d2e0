"""An analytic evaluator whose optimum is known: the test problem of MCEA.

accuracy(base, S) = 0.5 + 0.3 * base_score_j(base) + 0.2 * scaling_score(S), where j is the scaling
stage whose grid holds S (the nearest in depth otherwise) and both scores lie in [0, 1]:

* ``base_score_j`` is a weighted mean over stages of (depth score + mean block score) / 2. The
  depth score falls linearly with |n - n*_s|; a block scores the mean of a kernel, an expand and an
  SE score, each falling linearly with the distance of its choice index to the target's. Target
  kernels alternate between the largest (accuracy *rising* with kernel size: stages 1, 3, 5, 7)
  and the smallest (accuracy *falling* with kernel size: stages 2, 4, 6). Stage weights
  ``1 + j * s / S`` make later stages matter more at larger scaling stages, so the M objectives
  trade off differently away from the optimum, yet all peak at the same base model.
* ``scaling_score`` falls with the squared distance of (d, w, r) to a target (d*_j, w*_j, r*_j),
  normalized by the grid's extent.

The target base model has FLOPs within f0 +- tol and each target strategy fits f_j +- tol_j for it,
so :meth:`AnalyticEvaluator.optimum` is the constrained optimum of the joint search: the best base
model for any strategies, and the best strategy per scaling stage for that base model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from scalenet.search.flops import FlopsCounter
from scalenet.space import (
    BaseArch,
    BlockSpec,
    Budgets,
    Path,
    Scaling,
    SearchSpace,
    StageChoices,
    StageSpec,
    load_space,
)

__all__ = ["AnalyticEvaluator", "make_analytic"]


@dataclass(frozen=True)
class AnalyticEvaluator:
    """Zero-cost evaluator with a known constrained optimum (see the module docstring).

    Attributes:
        space: The search space.
        target_base: The best base model.
        target_strategies: The best strategy of scaling stages 1..M for ``target_base``.
    """

    space: SearchSpace
    target_base: BaseArch
    target_strategies: tuple[Scaling, ...]

    def __post_init__(self) -> None:
        self.space.validate(self.target_base)
        if len(self.target_strategies) != self.space.scaling.max_stage:
            raise ValueError(
                f"target_strategies: need {self.space.scaling.max_stage} (stages 1..M), "
                f"got {len(self.target_strategies)}"
            )

    def optimum(self) -> tuple[BaseArch, tuple[Scaling, ...]]:
        """The known optimum: best base model and best strategy per scaling stage 1..M."""
        return self.target_base, self.target_strategies

    def scaling_stage(self, scaling: Scaling) -> int:
        """The scaling stage whose grid holds ``scaling`` (else the nearest in depth)."""
        grids = self.space.scaling.stages
        for stage, grid in enumerate(grids):
            if grid.contains(scaling):
                return stage
        centres = [abs(scaling.depth - float(np.mean(grid.depth))) for grid in grids]
        return int(np.argmin(centres))

    def base_score(self, base: BaseArch, scaling_stage: int) -> float:
        """Score of a base model in [0, 1] (1 only for the target base model)."""
        total, weights = 0.0, 0.0
        count = self.space.num_stages
        for index, (stage, target, choices) in enumerate(
            zip(base.stages, self.target_base.stages, self.space.stages, strict=True), start=1
        ):
            target_block = target.blocks[0]
            depth_span = max(1, choices.max_depth - choices.min_depth)
            depth_score = 1.0 - abs(stage.depth - target.depth) / depth_span
            block_score = sum(
                _block_score(block, target_block, choices) for block in stage.blocks
            ) / len(stage.blocks)
            weight = 1.0 + scaling_stage * index / count
            total += weight * 0.5 * (depth_score + block_score)
            weights += weight
        return total / weights

    def scaling_score(self, scaling: Scaling, scaling_stage: int) -> float:
        """Score of a strategy in [0, 1] (1 only at the stage's target); 1 at stage 0."""
        if scaling_stage == 0:
            return 1.0
        grid = self.space.scaling.grid(scaling_stage)
        target = self.target_strategies[scaling_stage - 1]
        distance = 0.0
        for name in ("depth", "width", "resolution"):
            values = getattr(grid, name)
            span = max(values) - min(values) or 1.0
            distance += ((getattr(scaling, name) - getattr(target, name)) / span) ** 2
        return 1.0 - distance / 3.0

    def __call__(self, base: BaseArch, scaling: Scaling) -> float:
        """Accuracy of ``base`` scaled by ``scaling``."""
        stage = self.scaling_stage(scaling)
        return 0.5 + 0.3 * self.base_score(base, stage) + 0.2 * self.scaling_score(scaling, stage)


def _block_score(block: BlockSpec, target: BlockSpec, choices: StageChoices) -> float:
    scores = []
    options: tuple[object, ...]
    for name, options in (
        ("kernel", choices.kernels),
        ("expand", choices.expands),
        ("se", choices.se),
    ):
        if len(options) == 1:
            scores.append(1.0)
            continue
        distance = abs(options.index(getattr(block, name)) - options.index(getattr(target, name)))
        scores.append(1.0 - distance / (len(options) - 1))
    return sum(scores) / 3.0


def make_analytic(space: SearchSpace | str, budgets: Budgets) -> AnalyticEvaluator:
    """Build the analytic evaluator for a space and its budgets, with a feasible known optimum.

    Stage s of the target base model repeats one block: kernel the largest choice for odd s and
    the smallest for even s, expand the largest choice in the first half of the stages and the
    smallest after, SE on in odd stages. Its depths are the combination whose FLOPs lie nearest
    f0 (ties: the first in lexicographic order). Each target strategy is the median (in grid order)
    of the stage's strategies that fit f_j for that base model.

    Args:
        space: The search space (or its name).
        budgets: The FLOPs budgets (f0, tolerances, M).

    Raises:
        ValueError: If no depth combination fits f0 +- tol or a scaling stage has no fitting
            strategy.
    """
    space = load_space(space) if isinstance(space, str) else space
    counter = FlopsCounter(space)
    blocks = []
    for index, choices in enumerate(space.stages, start=1):
        kernel = max(choices.kernels) if index % 2 == 1 else min(choices.kernels)
        expand = max(choices.expands) if index <= space.num_stages // 2 else min(choices.expands)
        se = (index % 2 == 1) if (index % 2 == 1) in choices.se else choices.se[0]
        blocks.append(BlockSpec(kernel, expand, se))
    depth_ranges = [range(c.min_depth, c.max_depth + 1) for c in space.stages]
    candidates = [
        BaseArch(
            tuple(StageSpec((block,) * depth) for block, depth in zip(blocks, depths, strict=True))
        )
        for depths in itertools.product(*depth_ranges)
    ]
    flops = counter([Path(arch) for arch in candidates])
    best = int(np.argmin(np.abs(flops - budgets.f0)))
    if not budgets.fits(int(flops[best]), 0):
        raise ValueError(
            f"analytic: no depth combination fits f0 = {budgets.f0:,} "
            f"+- {budgets.tolerance_at(0):,} "
            f"(nearest {int(flops[best]):,})"
        )
    target_base = candidates[best]
    strategies = []
    for stage in range(1, space.scaling.max_stage + 1):
        options = space.scaling.strategies(stage)
        stage_flops = counter([Path(target_base, scaling) for scaling in options])
        fitting = [
            s for s, f in zip(options, stage_flops, strict=True) if budgets.fits(int(f), stage)
        ]
        if not fitting:
            raise ValueError(f"analytic: scaling stage {stage} has no strategy fitting f_{stage}")
        strategies.append(fitting[len(fitting) // 2])
    return AnalyticEvaluator(space, target_base, tuple(strategies))
