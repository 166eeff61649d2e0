"""scalenet.sampling: uniform and hierarchical (HSS) path sampling, and the Fig. 1 simulation."""

from scalenet.sampling.outputs import load_budgets, write_simulation
from scalenet.sampling.samplers import (
    NO_STAGE,
    SAMPLERS,
    STAGE_WEIGHTS,
    BaseSampler,
    HierarchicalSampler,
    PathSampler,
    PathSource,
    SampledBatch,
    UniformSampler,
    draw_paths,
    make_sampler,
    resolve_stage_weights,
    stage_of,
    stage_window,
)
from scalenet.sampling.simulate import (
    SimulationStats,
    StageFlops,
    default_bin_edges,
    histogram_json,
    run_simulations,
    simulate,
    stats_json,
)

__version__ = "0.1.0"

__all__ = [
    "NO_STAGE",
    "SAMPLERS",
    "STAGE_WEIGHTS",
    "BaseSampler",
    "HierarchicalSampler",
    "PathSampler",
    "PathSource",
    "SampledBatch",
    "SimulationStats",
    "StageFlops",
    "UniformSampler",
    "default_bin_edges",
    "draw_paths",
    "histogram_json",
    "load_budgets",
    "make_sampler",
    "resolve_stage_weights",
    "run_simulations",
    "simulate",
    "stage_of",
    "stage_window",
    "stats_json",
    "write_simulation",
]
