"""The rounding rules of path generation (eqs. 14-16) and the cost of each layer type.

Every function here works on Python ints and on numpy integer arrays alike, so the per-path
expansion (:mod:`scalenet.space.network`) and the vectorized counter (:mod:`scalenet.space.flops`)
share one definition of each rule.

FLOPs are multiply-accumulates (MACs) of convolutions and linear layers, SE included; BN,
activations, pooling and residual adds are not counted (the convention of the paper, EfficientNet
and timm). Parameters include BN affine pairs (2 per channel) and biases.

Two FLOPs conventions (:data:`FLOPS_CONVENTIONS`); parameters are the same under both:

* ``torch`` (the default): exactly what ``torch.utils.flop_counter`` counts on the built module.
  A strided conv with padding k // 2 gives ceil(size / stride); SE squeezes to the block's input
  channels x se_ratio.
* ``official``: the counter of the authors' code (luminolx/ScaleNet, the evolution sampler's
  FLOPs count), with which Table 4's FLOPs were obtained. Its output side is
  (size + 2p - k + 1) // stride = floor(size / stride), and it counts the two SE convs at
  hidden // 4 squeeze channels (its SqueezeExcite is built on the hidden width).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_CONVENTION",
    "FLOPS_CONVENTIONS",
    "SCALE_DECIMALS",
    "check_convention",
    "classifier_cost",
    "conv_bn_cost",
    "conv_out_size",
    "mbconv_cost",
    "scale_ceil",
    "se_channels",
]

#: A Python int or an int64 array: each rule applies elementwise to arrays.
IntLike: TypeAlias = Any

#: Products such as 40 * 1.2 are rounded to this many decimals before ceil/floor, because in
#: binary floating point 40 * 1.2 == 48.00000000000001 and a bare ceil would give 49.
SCALE_DECIMALS = 9

#: FLOPs counting conventions (see the module docstring); the first is the default.
FLOPS_CONVENTIONS: tuple[str, ...] = ("torch", "official")
DEFAULT_CONVENTION = "torch"


def check_convention(convention: str) -> str:
    """Return ``convention`` if it is one of :data:`FLOPS_CONVENTIONS`.

    Raises:
        ValueError: ``convention: 'x' not in {torch, official}``.
    """
    if convention not in FLOPS_CONVENTIONS:
        raise ValueError(f"convention: {convention!r} not in {{{', '.join(FLOPS_CONVENTIONS)}}}")
    return convention


def scale_ceil(value: IntLike, coefficient: float | npt.NDArray[np.float64]) -> IntLike:
    """Return ceil(value * coefficient), the rule of eqs. 14 (depth), 15 (width), 16 (resolution).

    Args:
        value: Base block count, channel count or resolution (int or int array).
        coefficient: The scaling coefficient (float or float array broadcastable to ``value``).

    Returns:
        The scaled value, same kind as ``value``.
    """
    if isinstance(value, (int, np.integer)) and isinstance(coefficient, (int, float)):
        return int(np.ceil(round(int(value) * float(coefficient), SCALE_DECIMALS)))
    product = np.round(np.asarray(value) * np.asarray(coefficient), SCALE_DECIMALS)
    return np.ceil(product).astype(np.int64)


def conv_out_size(
    size: IntLike, stride: int | npt.NDArray[np.int64], convention: str = DEFAULT_CONVENTION
) -> IntLike:
    """Spatial side after a convolution with 'same' padding (k // 2).

    ``torch``: ceil(size / stride), what PyTorch computes for an odd kernel and padding k // 2.
    ``official``: floor(size / stride), the authors' counter (it differs for odd sizes only, e.g.
    a 19 px map gives 10 under ``torch`` and 9 under ``official`` after a stride-2 conv).
    """
    if convention == "official":
        return size // stride
    return -(-size // stride)


def se_channels(in_chs: IntLike, se_ratio: float) -> IntLike:
    """Squeeze width of an SE module: max(1, int(se_ratio * block input channels)).

    The EfficientNet convention: the ratio applies to the block's (scaled) input channels, not to
    its hidden width.
    """
    if isinstance(in_chs, (int, np.integer)):
        return max(1, int(np.floor(round(int(in_chs) * se_ratio, SCALE_DECIMALS))))
    squeezed = np.floor(np.round(np.asarray(in_chs) * se_ratio, SCALE_DECIMALS)).astype(np.int64)
    return np.maximum(1, squeezed)


def conv_bn_cost(
    in_chs: IntLike,
    out_chs: IntLike,
    kernel: IntLike,
    out_size: IntLike,
    *,
    depthwise: bool = False,
) -> tuple[IntLike, IntLike]:
    """MACs and parameters of a bias-free convolution followed by BatchNorm.

    Args:
        in_chs: Input channels.
        out_chs: Output channels (for a depthwise conv, equal to ``in_chs``).
        kernel: Square kernel side.
        out_size: Output spatial side.
        depthwise: True for a depthwise convolution (groups == channels).

    Returns:
        ``(macs, params)``; params count the weights and the BN affine pair.
    """
    per_position = (out_chs if depthwise else in_chs * out_chs) * kernel * kernel
    macs = per_position * out_size * out_size
    params = per_position + 2 * out_chs
    return macs, params


def mbconv_cost(
    in_chs: IntLike,
    out_chs: IntLike,
    expand: IntLike,
    kernel: IntLike,
    se: bool | npt.NDArray[np.bool_],
    in_size: IntLike,
    out_size: IntLike,
    se_ratio: float,
    convention: str = DEFAULT_CONVENTION,
) -> tuple[IntLike, IntLike]:
    """MACs and parameters of one MBConv block.

    Layout (timm's InvertedResidual; with expand == 1 the expansion conv is absent, as in
    DepthwiseSeparableConv): 1x1 expand + BN at the input side, kxk depthwise + BN (carries the
    stride), SE (two 1x1 convs with bias on the pooled vector), 1x1 project + BN.

    Under the ``official`` convention the SE MACs are counted at hidden * se_ratio squeeze
    channels, as the authors' counter does; the parameters are always those of the built block.

    Returns:
        ``(macs, params)``.
    """
    mid_chs = in_chs * expand
    has_expand = np.asarray(expand) != 1
    exp_macs, exp_params = conv_bn_cost(in_chs, mid_chs, 1, in_size)
    dw_macs, dw_params = conv_bn_cost(mid_chs, mid_chs, kernel, out_size, depthwise=True)
    squeeze = se_channels(in_chs, se_ratio)
    counted_squeeze = se_channels(mid_chs, se_ratio) if convention == "official" else squeeze
    se_macs = 2 * mid_chs * counted_squeeze
    se_params = 2 * mid_chs * squeeze + squeeze + mid_chs
    proj_macs, proj_params = conv_bn_cost(mid_chs, out_chs, 1, out_size)
    macs = np.where(has_expand, exp_macs, 0) + dw_macs + np.where(se, se_macs, 0) + proj_macs
    params = (
        np.where(has_expand, exp_params, 0) + dw_params + np.where(se, se_params, 0) + proj_params
    )
    if np.ndim(macs) == 0:
        return int(macs), int(params)
    return macs.astype(np.int64), params.astype(np.int64)


def classifier_cost(in_features: int, num_classes: int) -> tuple[int, int]:
    """MACs and parameters of the final linear layer (with bias)."""
    return in_features * num_classes, in_features * num_classes + num_classes
