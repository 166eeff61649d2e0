"""scalenet.space: the ScaleNet search space, paths, analytic FLOPs and budgets (numpy only)."""

from scalenet.space.arch import BaseArch, BlockSpec, Path, Scaling, StageSpec
from scalenet.space.batch import PathBatch, random_base_batch
from scalenet.space.budgets import (
    PAPER_IMAGENET_BUDGETS,
    Budgets,
    check_explicit_budgets,
    compute_budgets,
    feasible_bases,
    load_budgets,
    mean_base_flops,
)
from scalenet.space.flops import BatchCost, Cost, count, count_batch
from scalenet.space.network import LayerSpec, NetworkSpec, expand_path
from scalenet.space.presets import ARCH_PRESETS, TABLE3_STRATEGIES, get_arch, scalenet_path
from scalenet.space.resolve import MODEL_PRESETS, checked_path, is_preset, resolve_path
from scalenet.space.rules import DEFAULT_CONVENTION, FLOPS_CONVENTIONS
from scalenet.space.scaling_space import ScalingSpace, ScalingStageGrid
from scalenet.space.space import SearchSpace, StageChoices, list_spaces, load_space

__version__ = "0.1.0"

__all__ = [
    "ARCH_PRESETS",
    "DEFAULT_CONVENTION",
    "FLOPS_CONVENTIONS",
    "MODEL_PRESETS",
    "PAPER_IMAGENET_BUDGETS",
    "TABLE3_STRATEGIES",
    "BaseArch",
    "BatchCost",
    "BlockSpec",
    "Budgets",
    "Cost",
    "LayerSpec",
    "NetworkSpec",
    "Path",
    "PathBatch",
    "Scaling",
    "ScalingSpace",
    "ScalingStageGrid",
    "SearchSpace",
    "StageChoices",
    "StageSpec",
    "check_explicit_budgets",
    "checked_path",
    "compute_budgets",
    "count",
    "count_batch",
    "expand_path",
    "feasible_bases",
    "get_arch",
    "is_preset",
    "list_spaces",
    "load_budgets",
    "load_space",
    "mean_base_flops",
    "random_base_batch",
    "resolve_path",
    "scalenet_path",
]
