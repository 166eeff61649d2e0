"""scalenet.scaling: generalizing searched scaling strategies, compound baselines, model families.

* :mod:`~scalenet.scaling.functions` and :mod:`~scalenet.scaling.fit`: f(j) with f(0) = 1 per
  dimension, constrained least squares (supplementary C, eq. 13), leave-one-stage-out errors.
* :mod:`~scalenet.scaling.projection`: land a generalized strategy on its FLOPs budget.
* :mod:`~scalenet.scaling.compound`: EfficientNet's compound scaling and its grid search.
* :mod:`~scalenet.scaling.family`: S0..SK families, their path files and markdown table.
* :mod:`~scalenet.scaling.plot`: the fit plot (``plot`` extra).
"""

from scalenet.scaling.compound import (
    EFFICIENTNET,
    CompoundCoefficients,
    CompoundSearchResult,
    Evaluator,
    compound_grid,
    grid_search_compound,
    solve_phi,
)
from scalenet.scaling.family import (
    Family,
    FamilyMember,
    build_family,
    compound_family,
    write_family,
)
from scalenet.scaling.fit import (
    DEFAULT_FUNCTION,
    DIMENSIONS,
    DimensionFit,
    LosoReport,
    StrategyFit,
    compare_functions,
    fit_dimension,
    fit_strategies,
    leave_one_stage_out,
)
from scalenet.scaling.functions import (
    A0_MIN,
    FUNCTION_NAMES,
    FUNCTIONS,
    GeneralizationFunction,
    get_function,
)
from scalenet.scaling.projection import (
    DEFAULT_PROJECT,
    PROJECT_MODES,
    Projection,
    project_to_budget,
    short_resolution,
    solve_monotone,
)
from scalenet.scaling.strategies import (
    STRATEGY_PRESETS,
    TABLE3_GENERALIZED,
    TABLE3_SEARCHED,
    SearchedStrategies,
    load_strategies,
    parse_strategies,
)

__version__ = "0.1.0"

__all__ = [
    "A0_MIN",
    "DEFAULT_FUNCTION",
    "DEFAULT_PROJECT",
    "DIMENSIONS",
    "EFFICIENTNET",
    "FUNCTIONS",
    "FUNCTION_NAMES",
    "PROJECT_MODES",
    "STRATEGY_PRESETS",
    "TABLE3_GENERALIZED",
    "TABLE3_SEARCHED",
    "CompoundCoefficients",
    "CompoundSearchResult",
    "DimensionFit",
    "Evaluator",
    "Family",
    "FamilyMember",
    "GeneralizationFunction",
    "LosoReport",
    "Projection",
    "SearchedStrategies",
    "StrategyFit",
    "build_family",
    "compare_functions",
    "compound_family",
    "compound_grid",
    "fit_dimension",
    "fit_strategies",
    "get_function",
    "grid_search_compound",
    "leave_one_stage_out",
    "load_strategies",
    "parse_strategies",
    "project_to_budget",
    "short_resolution",
    "solve_monotone",
    "solve_phi",
    "write_family",
]
