"""Analytic FLOPs (multiply-accumulates) and parameter counts, per path and vectorized.

:func:`count` expands one path layer by layer (:func:`scalenet.space.network.expand_path`);
:func:`count_batch` computes the same numbers for a whole :class:`PathBatch` with numpy, a loop
over (stage, scaled block slot) only. Both use the rules of :mod:`scalenet.space.rules`, and the
tests check that they agree path by path.

Both take ``convention``: ``torch`` (the default; equal to ``torch.utils.flop_counter`` on the
built module) or ``official`` (the authors' counter, with which Table 4's FLOPs were obtained);
see :mod:`scalenet.space.rules`. Parameters do not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scalenet.space.arch import Path
from scalenet.space.batch import PathBatch
from scalenet.space.network import expand_path
from scalenet.space.rules import (
    DEFAULT_CONVENTION,
    check_convention,
    classifier_cost,
    conv_bn_cost,
    conv_out_size,
    mbconv_cost,
    scale_ceil,
)
from scalenet.space.space import SearchSpace

__all__ = ["BatchCost", "Cost", "count", "count_batch"]


@dataclass(frozen=True)
class Cost:
    """FLOPs (MACs), parameters and input resolution of one path."""

    flops: int
    params: int
    resolution: int


@dataclass(frozen=True)
class BatchCost:
    """FLOPs (MACs), parameters and input resolutions of a batch of paths ([B] int64 arrays)."""

    flops: npt.NDArray[np.int64]
    params: npt.NDArray[np.int64]
    resolution: npt.NDArray[np.int64]


def count(space: SearchSpace, path: Path, *, convention: str = DEFAULT_CONVENTION) -> Cost:
    """FLOPs, parameters and resolution of one path (layer-by-layer expansion).

    Args:
        space: The search space.
        path: The path.
        convention: FLOPs convention, ``torch`` (default) or ``official``.

    Raises:
        ValueError: If ``convention`` is not one of them.
    """
    network = expand_path(space, path, convention=convention)
    return Cost(network.flops, network.params, network.resolution)


def count_batch(
    space: SearchSpace, batch: PathBatch, *, convention: str = DEFAULT_CONVENTION
) -> BatchCost:
    """FLOPs, parameters and resolutions of every path of ``batch``, vectorized.

    Args:
        space: The search space the batch belongs to.
        batch: The paths as arrays.
        convention: FLOPs convention, ``torch`` (default) or ``official``.

    Returns:
        A :class:`BatchCost` of ``[B]`` int64 arrays.

    Raises:
        ValueError: If the batch's stage count differs from the space's, or ``convention`` is
            not a known one.
    """
    check_convention(convention)
    if batch.depths.shape[1] != space.num_stages:
        raise ValueError(
            f"batch has {batch.depths.shape[1]} stages, space {space.name!r} has {space.num_stages}"
        )
    size = len(batch)
    rows = np.arange(size)
    resolution = scale_ceil(np.full(size, space.resolution, dtype=np.int64), batch.resolution)
    stem_chs = scale_ceil(np.full(size, space.stem_chs, dtype=np.int64), batch.width)
    spatial = conv_out_size(resolution, space.stem_stride, convention)
    flops, params = conv_bn_cost(space.in_chs, stem_chs, 3, spatial)

    # Per-path running values, updated in place (int64 arrays of [B]).
    flops = np.broadcast_to(np.asarray(flops, dtype=np.int64), (size,)).copy()
    params = np.broadcast_to(np.asarray(params, dtype=np.int64), (size,)).copy()
    spatial = np.broadcast_to(np.asarray(spatial, dtype=np.int64), (size,)).copy()
    in_chs = np.asarray(stem_chs, dtype=np.int64).copy()
    for col, choices in enumerate(space.stages):
        base_depth = batch.depths[:, col]
        depth = scale_ceil(base_depth, batch.depth)  # eq. 14
        out_chs = scale_ceil(batch.out_chs[:, col], batch.width)  # eq. 15
        for slot in range(int(depth.max(initial=0))):
            # Only the paths with more than `slot` blocks in this stage have the slot: compute it
            # for those rows alone (deep slots are active for few paths).
            every = slot < int(depth.min(initial=0))
            active: slice | npt.NDArray[np.intp] = (
                slice(None) if every else np.flatnonzero(slot < depth)
            )
            picked = rows if every else active  # row indices for the block-choice gathers
            # Extra blocks beyond the base depth copy the stage's last block.
            source = np.minimum(slot, base_depth[active] - 1)
            stride = choices.stride if slot == 0 else 1
            out_size = conv_out_size(spatial[active], stride, convention)
            block_flops, block_params = mbconv_cost(
                in_chs[active],
                out_chs[active],
                batch.expands[picked, col, source],
                batch.kernels[picked, col, source],
                batch.se[picked, col, source],
                spatial[active],
                out_size,
                space.se_ratio,
                convention,
            )
            flops[active] += block_flops
            params[active] += block_params
            in_chs[active] = out_chs[active]
            spatial[active] = out_size

    head_flops, head_params = conv_bn_cost(in_chs, space.head_chs, 1, spatial)
    fc_flops, fc_params = classifier_cost(space.head_chs, space.num_classes)
    return BatchCost(
        flops=np.asarray(flops + head_flops + fc_flops, dtype=np.int64),
        params=np.asarray(params + head_params + fc_params, dtype=np.int64),
        resolution=resolution,
    )
