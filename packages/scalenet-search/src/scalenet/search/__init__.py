"""scalenet.search: MCEA joint search of a base model and its scaling strategies, ranking metrics.

numpy and DEAP only (never torch): the search sees an evaluator, any ``(BaseArch, Scaling) ->
float`` callable; scalenet-supernet provides the real one, :mod:`scalenet.search.analytic` a
zero-cost one with a known optimum.
"""

from scalenet.search.analytic import AnalyticEvaluator, make_analytic
from scalenet.search.baseline import RandomSearchResult, random_search
from scalenet.search.evaluator import (
    BatchEvaluator,
    CachedEvaluator,
    Evaluator,
    PathEvaluatorAdapter,
    as_accuracy,
    load_evaluator,
    path_key,
)
from scalenet.search.flops import FlopsCounter
from scalenet.search.genome import GenomeCodec
from scalenet.search.mcea import (
    MCEA,
    MCEAConfig,
    SearchResult,
    StrategyChoice,
    initial_strategies,
    sample_feasible_bases,
    scaling_step,
)
from scalenet.search.nsga import BaseStep, GenerationState
from scalenet.search.ranking import (
    RankingCoefficients,
    average_ranks,
    kendall_paper,
    pearson,
    ranking_coefficients,
    spearman,
)
from scalenet.search.scored import ScoredPaths, ranking_intervals, standalone_agreement

__version__ = "0.1.0"

__all__ = [
    "MCEA",
    "AnalyticEvaluator",
    "BaseStep",
    "BatchEvaluator",
    "CachedEvaluator",
    "Evaluator",
    "FlopsCounter",
    "GenerationState",
    "GenomeCodec",
    "MCEAConfig",
    "PathEvaluatorAdapter",
    "RandomSearchResult",
    "RankingCoefficients",
    "ScoredPaths",
    "SearchResult",
    "StrategyChoice",
    "as_accuracy",
    "average_ranks",
    "initial_strategies",
    "kendall_paper",
    "load_evaluator",
    "make_analytic",
    "path_key",
    "pearson",
    "random_search",
    "ranking_coefficients",
    "ranking_intervals",
    "sample_feasible_bases",
    "scaling_step",
    "spearman",
    "standalone_agreement",
]
