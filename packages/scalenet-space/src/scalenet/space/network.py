"""Path generation (supplementary F, eqs. 14-16): a path expanded to a concrete network spec.

Rules (see :mod:`scalenet.space.rules` for the rounding):

* depth (eq. 14): every stage gets ceil(n * d) blocks; the extra blocks copy the stage's last
  block. Stem, head conv, pooling and classifier are not depth-scaled.
* width (eq. 15): ceil(c * w) for the stem output and every stage's channels (hence the head
  conv's input); the RGB input and the head conv's output are never scaled. A block's hidden
  width is its (scaled) input channels times its expand rate.
* resolution (eq. 16): the input side is ceil(R0 * r).

``convention`` (:data:`scalenet.space.rules.FLOPS_CONVENTIONS`) selects how FLOPs are counted:
``torch`` (the default, equal to ``torch.utils.flop_counter`` on the built module) or
``official`` (the authors' counter, Table 4). Under ``official`` the layers' ``in_size`` and
``out_size`` are the counter's (floor after a stride) and SE FLOPs use the hidden width;
parameters, channels and ``se_chs`` are the built network's under both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scalenet.space.arch import BlockSpec, Path
from scalenet.space.rules import (
    DEFAULT_CONVENTION,
    check_convention,
    classifier_cost,
    conv_bn_cost,
    conv_out_size,
    mbconv_cost,
    scale_ceil,
    se_channels,
)
from scalenet.space.space import SearchSpace

__all__ = ["LayerSpec", "NetworkSpec", "expand_path", "scaled_blocks", "scaled_depths"]


@dataclass(frozen=True)
class LayerSpec:
    """One layer of an expanded network.

    Attributes:
        name: ``stem``, ``stage<s>.block<i>`` (1-based), ``head`` or ``classifier``.
        kind: ``conv`` (conv + BN), ``mbconv`` or ``linear``.
        in_chs: Input channels (features for ``linear``).
        mid_chs: Hidden width (MBConv), else equal to ``out_chs``.
        out_chs: Output channels.
        kernel: Kernel side (1 for ``linear``).
        stride: Stride (1 for ``linear``).
        expand: Expand rate (MBConv), else 1.
        se_chs: SE squeeze width, 0 without SE.
        in_size: Input spatial side (1 for ``linear``).
        out_size: Output spatial side.
        residual: Whether an identity shortcut is added.
        flops: Multiply-accumulates of this layer.
        params: Parameters of this layer.
    """

    name: str
    kind: str
    in_chs: int
    mid_chs: int
    out_chs: int
    kernel: int
    stride: int
    expand: int
    se_chs: int
    in_size: int
    out_size: int
    residual: bool
    flops: int
    params: int

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class NetworkSpec:
    """A path as a concrete network.

    Attributes:
        path: The path it was expanded from.
        resolution: Input side in pixels.
        layers: Every layer, input first.
    """

    path: Path
    resolution: int
    layers: tuple[LayerSpec, ...] = field(default_factory=tuple)

    @property
    def flops(self) -> int:
        """Total multiply-accumulates."""
        return sum(layer.flops for layer in self.layers)

    @property
    def params(self) -> int:
        """Total parameters."""
        return sum(layer.params for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path.encode(),
            "resolution": self.resolution,
            "flops": self.flops,
            "params": self.params,
            "layers": [layer.to_json() for layer in self.layers],
        }


def scaled_depths(space: SearchSpace, path: Path) -> tuple[int, ...]:
    """Blocks per stage after depth scaling: ceil(n * d) (eq. 14)."""
    space.check_shape(path.base)
    return tuple(scale_ceil(stage.depth, path.scaling.depth) for stage in path.base.stages)


def scaled_blocks(space: SearchSpace, path: Path) -> tuple[tuple[BlockSpec, ...], ...]:
    """The blocks of every stage after depth scaling; extra blocks copy the stage's last block."""
    return tuple(
        stage.blocks + (stage.blocks[-1],) * (depth - stage.depth)
        for stage, depth in zip(path.base.stages, scaled_depths(space, path), strict=True)
    )


def expand_path(
    space: SearchSpace, path: Path, *, convention: str = DEFAULT_CONVENTION
) -> NetworkSpec:
    """Expand ``path`` into its layers, with the FLOPs and parameters of each.

    Args:
        space: The search space (fixed layers, stage channels and strides).
        path: Base architecture and scaling; the architecture needs the space's number of stages
            (its choices are not checked, so presets with other channels expand too).
        convention: FLOPs convention, ``torch`` (default) or ``official`` (module docstring).

    Returns:
        The :class:`NetworkSpec`.

    Raises:
        ValueError: If ``convention`` is not one of them.
    """
    check_convention(convention)
    space.check_shape(path.base)
    width = path.scaling.width
    resolution = scale_ceil(space.resolution, path.scaling.resolution)
    layers: list[LayerSpec] = []

    stem_chs = scale_ceil(space.stem_chs, width)
    size = conv_out_size(resolution, space.stem_stride, convention)
    flops, params = conv_bn_cost(space.in_chs, stem_chs, 3, size)
    layers.append(
        LayerSpec("stem", "conv", space.in_chs, stem_chs, stem_chs, 3, space.stem_stride, 1, 0,
                  resolution, size, False, flops, params)
    )  # fmt: skip

    in_chs = stem_chs
    stage_out = space.stage_out_chs(path.base)
    for stage_index, (blocks, choices, base_out) in enumerate(
        zip(scaled_blocks(space, path), space.stages, stage_out, strict=True), start=1
    ):
        out_chs = scale_ceil(base_out, width)
        for block_index, block in enumerate(blocks, start=1):
            stride = choices.stride if block_index == 1 else 1
            out_size = conv_out_size(size, stride, convention)
            flops, params = mbconv_cost(
                in_chs,
                out_chs,
                block.expand,
                block.kernel,
                block.se,
                size,
                out_size,
                space.se_ratio,
                convention,
            )
            layers.append(
                LayerSpec(
                    name=f"stage{stage_index}.block{block_index}",
                    kind="mbconv",
                    in_chs=in_chs,
                    mid_chs=in_chs * block.expand,
                    out_chs=out_chs,
                    kernel=block.kernel,
                    stride=stride,
                    expand=block.expand,
                    se_chs=se_channels(in_chs, space.se_ratio) if block.se else 0,
                    in_size=size,
                    out_size=out_size,
                    residual=stride == 1 and in_chs == out_chs,
                    flops=flops,
                    params=params,
                )
            )
            in_chs, size = out_chs, out_size

    flops, params = conv_bn_cost(in_chs, space.head_chs, 1, size)
    layers.append(
        LayerSpec("head", "conv", in_chs, space.head_chs, space.head_chs, 1, 1, 1, 0, size, size,
                  False, flops, params)
    )  # fmt: skip
    flops, params = classifier_cost(space.head_chs, space.num_classes)
    layers.append(
        LayerSpec("classifier", "linear", space.head_chs, space.num_classes, space.num_classes,
                  1, 1, 1, 0, 1, 1, False, flops, params)
    )  # fmt: skip
    return NetworkSpec(path=path, resolution=resolution, layers=tuple(layers))
