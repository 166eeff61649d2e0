"""Dynamic (elastic) layers: each owns its largest weight and exposes a pure slicing method.

Every layer keeps the weight of its largest configuration and returns the active part through an
``active_*`` method that only slices (no copy, no state change). ``forward`` takes the active
configuration as arguments, so a module never changes its own state while running.

Channel slices come in two sides (:func:`channel_slice`):

* ``left``: channels ``[0, c)`` (OFA / AutoSlim);
* ``right``: channels ``[C - c, C)``; BCNet's bilateral coupling trains both, so that a channel
  near one edge, rarely in a left slice, is in every right slice. How evenly the channels are
  then trained depends on the capacity and the widths sampled: docs/supernet.md, "Channel share"
  (with ``C = ceil(c * w_max)`` the edge channels get about half the steps of the middle ones).

Kernels: a 7x7 depthwise weight serves 5x5 and 3x3 as its centre crops.

Extraction: each layer's ``to_static(module, <active configuration>, side)`` copies its active
slice into the matching static torch layer (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.Linear``, the
static squeeze-excite) and returns it;
:meth:`~scalenet.supernet.dynamic.model.SuperSupernet.extract` builds the static network and asks
every layer of the path to fill its part.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from scalenet.supernet.kernels import (
    batch_norm_act,
    depthwise_conv2d,
    fold_batch_norm,
    pointwise_conv2d,
)

__all__ = [
    "SIDES",
    "DynamicBatchNorm2d",
    "DynamicConv2d",
    "DynamicDepthwiseConv2d",
    "DynamicLinear",
    "DynamicSqueezeExcite",
    "Side",
    "channel_slice",
    "kernel_slice",
    "make_activation",
    "make_gate",
]

Side = Literal["left", "right"]
SIDES: tuple[Side, Side] = ("left", "right")

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "hard_swish": nn.Hardswish,
    "swish": nn.SiLU,
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
}
_GATES: dict[str, type[nn.Module]] = {"hard_sigmoid": nn.Hardsigmoid, "sigmoid": nn.Sigmoid}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module: ``hard_swish``, ``swish``/``silu``, ``relu`` or ``relu6``."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation {name!r} not in {{{', '.join(sorted(_ACTIVATIONS))}}}")
    return _ACTIVATIONS[name]()


def make_gate(name: str) -> nn.Module:
    """A fresh SE gate module by name (``hard_sigmoid`` or ``sigmoid``)."""
    if name not in _GATES:
        raise ValueError(f"gate {name!r} not in {{{', '.join(sorted(_GATES))}}}")
    return _GATES[name]()


def channel_slice(active: int, capacity: int, side: Side) -> slice:
    """The channels ``[0, active)`` (left) or ``[capacity - active, capacity)`` (right).

    Raises:
        ValueError: If ``active`` is not in 1..capacity or ``side`` is unknown.
    """
    if not 0 < active <= capacity:
        raise ValueError(f"active channels {active} not in 1..{capacity}")
    if side == "left":
        return slice(0, active)
    if side == "right":
        return slice(capacity - active, capacity)
    raise ValueError(f"side {side!r} not in {{left, right}}")


def kernel_slice(kernel: int, max_kernel: int) -> slice:
    """The centre ``kernel x kernel`` crop of a ``max_kernel`` window (both odd)."""
    if kernel % 2 == 0 or not 0 < kernel <= max_kernel:
        raise ValueError(f"kernel {kernel} must be odd and in 1..{max_kernel}")
    start = (max_kernel - kernel) // 2
    return slice(start, start + kernel)


class DynamicConv2d(nn.Module):
    """A dense (groups = 1) convolution sliced on input and output channels.

    Args:
        max_in_chs: Input channel capacity.
        max_out_chs: Output channel capacity.
        kernel: Square kernel side (not elastic).
        stride: Stride.
        bias: Whether the layer has a bias.
    """

    def __init__(
        self,
        max_in_chs: int,
        max_out_chs: int,
        kernel: int = 1,
        stride: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.max_in_chs = max_in_chs
        self.max_out_chs = max_out_chs
        self.kernel = kernel
        self.stride = stride
        self.weight = nn.Parameter(torch.empty(max_out_chs, max_in_chs, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(max_out_chs)) if bias else None
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def active_weight(self, in_chs: int, out_chs: int, side: Side) -> Tensor:
        """The ``[out_chs, in_chs, k, k]`` slice of the weight."""
        return self.weight[
            channel_slice(out_chs, self.max_out_chs, side),
            channel_slice(in_chs, self.max_in_chs, side),
        ]

    def active_bias(self, out_chs: int, side: Side) -> Tensor | None:
        """The ``[out_chs]`` slice of the bias (None without bias)."""
        if self.bias is None:
            return None
        return self.bias[channel_slice(out_chs, self.max_out_chs, side)]

    @torch.no_grad()
    def to_static(self, conv: nn.Conv2d, in_chs: int, out_chs: int, side: Side) -> nn.Conv2d:
        """Copy the active weight (and bias) into ``conv``, a ``[out_chs, in_chs, k, k]`` conv."""
        conv.weight.copy_(self.active_weight(in_chs, out_chs, side))
        bias = self.active_bias(out_chs, side)
        if bias is not None:
            if conv.bias is None:
                raise ValueError("to_static: the static conv has no bias to receive the layer's")
            conv.bias.copy_(bias)
        return conv

    def forward(self, x: Tensor, out_chs: int, side: Side) -> Tensor:
        """Convolve ``x`` (its channel count is the active input width)."""
        weight = self.active_weight(x.shape[1], out_chs, side)
        bias = self.active_bias(out_chs, side)
        if self.kernel == 1 and self.stride == 1:
            return pointwise_conv2d(x, weight, bias)
        return F.conv2d(x, weight, bias, self.stride, self.kernel // 2)


class DynamicDepthwiseConv2d(nn.Module):
    """A depthwise convolution with elastic channels and kernel (centre crops of the largest).

    Args:
        max_chs: Channel capacity.
        max_kernel: Largest kernel side (7 in Table 1).
        stride: Stride.
    """

    def __init__(self, max_chs: int, max_kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.max_chs = max_chs
        self.max_kernel = max_kernel
        self.stride = stride
        self.weight = nn.Parameter(torch.empty(max_chs, 1, max_kernel, max_kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def active_weight(self, chs: int, kernel: int, side: Side) -> Tensor:
        """The ``[chs, 1, kernel, kernel]`` slice: a channel slice of the centre crop."""
        crop = kernel_slice(kernel, self.max_kernel)
        return self.weight[channel_slice(chs, self.max_chs, side), :, crop, crop]

    @torch.no_grad()
    def to_static(self, conv: nn.Conv2d, chs: int, kernel: int, side: Side) -> nn.Conv2d:
        """Copy the active ``[chs, 1, kernel, kernel]`` weight into ``conv`` (depthwise)."""
        conv.weight.copy_(self.active_weight(chs, kernel, side))
        return conv

    def forward(self, x: Tensor, kernel: int, side: Side) -> Tensor:
        """Depthwise-convolve ``x`` with the centre ``kernel x kernel`` crop."""
        weight = self.active_weight(x.shape[1], kernel, side)
        return depthwise_conv2d(x, weight, self.stride, kernel // 2)


class DynamicBatchNorm2d(nn.Module):
    """BatchNorm with sliced affine parameters and sliced running statistics.

    In training mode the running statistics of the active slice are updated in place (as any
    BatchNorm does); the slice itself is never stored.

    Args:
        max_chs: Channel capacity.
        eps: Added to the variance.
        momentum: Running-average factor (as :class:`torch.nn.BatchNorm2d`).
    """

    def __init__(self, max_chs: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.max_chs = max_chs
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(max_chs))
        self.bias = nn.Parameter(torch.zeros(max_chs))
        self.register_buffer("running_mean", torch.zeros(max_chs))
        self.register_buffer("running_var", torch.ones(max_chs))
        self.running_mean: Tensor
        self.running_var: Tensor

    def active_params(self, chs: int, side: Side) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(weight, bias, running_mean, running_var)`` of the active slice (views)."""
        part = channel_slice(chs, self.max_chs, side)
        return self.weight[part], self.bias[part], self.running_mean[part], self.running_var[part]

    def reset_running_stats(self) -> None:
        """Zero mean, unit variance (before a BN recalibration)."""
        with torch.no_grad():
            self.running_mean.zero_()
            self.running_var.fill_(1.0)

    @torch.no_grad()
    def to_static(self, bn: nn.BatchNorm2d, chs: int, side: Side) -> nn.BatchNorm2d:
        """Copy the active affine pair, running statistics, eps and momentum into ``bn``."""
        weight, bias, mean, var = self.active_params(chs, side)
        bn.weight.copy_(weight)
        bn.bias.copy_(bias)
        assert bn.running_mean is not None and bn.running_var is not None
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.eps = self.eps
        bn.momentum = self.momentum
        return bn

    def fold(self, conv_weight: Tensor, side: Side) -> tuple[Tensor, Tensor]:
        """The active convolution weight before this BN with the (eval-mode) BN folded in.

        Returns ``(weight, bias)`` for ``conv2d(x, weight, bias)``
        (:func:`~scalenet.supernet.kernels.fold_batch_norm`).
        """
        weight, bias, mean, var = self.active_params(conv_weight.shape[0], side)
        return fold_batch_norm(conv_weight, weight, bias, mean, var, self.eps)

    def forward(self, x: Tensor, side: Side, act: nn.Module | None = None) -> Tensor:
        """Normalize ``x`` over its (active) channels, then apply ``act`` (if given).

        In train mode without gradients (BN recalibration) on the CPU, normalization and
        activation run as one fused kernel (:func:`~scalenet.supernet.kernels.batch_norm_act`).
        """
        weight, bias, mean, var = self.active_params(x.shape[1], side)
        if self.training and self.momentum is not None:
            return batch_norm_act(x, weight, bias, mean, var, self.momentum, self.eps, act)
        out = F.batch_norm(x, mean, var, weight, bias, self.training, self.momentum, self.eps)
        return act(out) if act is not None else out


class DynamicSqueezeExcite(nn.Module):
    """Squeeze-and-excitation with elastic hidden (mid) and squeeze widths.

    Pool -> 1x1 reduce (bias) -> activation -> 1x1 expand (bias) -> gate -> scale the input.

    Args:
        max_chs: Capacity of the gated (hidden) channels.
        max_squeeze_chs: Capacity of the squeeze width.
        activation: Activation between the two convs (ReLU as MobileNetV3).
        gate: Gate name (``hard_sigmoid`` as the official code).
    """

    def __init__(
        self,
        max_chs: int,
        max_squeeze_chs: int,
        activation: str = "relu",
        gate: str = "hard_sigmoid",
    ) -> None:
        super().__init__()
        self.activation_name = activation
        self.gate_name = gate
        self.reduce = DynamicConv2d(max_chs, max_squeeze_chs, 1, bias=True)
        self.expand = DynamicConv2d(max_squeeze_chs, max_chs, 1, bias=True)
        self.act = make_activation(activation)
        self.gate = make_gate(gate)

    def to_static(self, se: Any, chs: int, squeeze_chs: int, side: Side) -> Any:
        """Copy the active reduce and expand convs into ``se`` (its ``reduce`` and ``expand``).

        ``chs`` is the gated (hidden) width, ``squeeze_chs`` the squeeze width.
        """
        self.reduce.to_static(se.reduce, chs, squeeze_chs, side)
        self.expand.to_static(se.expand, squeeze_chs, chs, side)
        return se

    def forward(self, x: Tensor, squeeze_chs: int, side: Side) -> Tensor:
        """Gate ``x`` channel-wise."""
        scale = x.mean((2, 3), keepdim=True)
        scale = self.reduce(scale, squeeze_chs, side)
        scale = self.act(scale)
        scale = self.expand(scale, x.shape[1], side)
        return x * self.gate(scale)


class DynamicLinear(nn.Module):
    """A linear layer sliced on its input features (the classifier).

    Args:
        max_in_features: Input capacity.
        out_features: Outputs (not elastic).
    """

    def __init__(self, max_in_features: int, out_features: int) -> None:
        super().__init__()
        self.max_in_features = max_in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, max_in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        bound = 1.0 / math.sqrt(max_in_features)
        nn.init.uniform_(self.weight, -bound, bound)

    def active_weight(self, in_features: int, side: Side) -> Tensor:
        """The ``[out_features, in_features]`` slice."""
        return self.weight[:, channel_slice(in_features, self.max_in_features, side)]

    @torch.no_grad()
    def to_static(self, linear: nn.Linear, in_features: int, side: Side) -> nn.Linear:
        """Copy the active ``[out_features, in_features]`` weight and the bias into ``linear``."""
        linear.weight.copy_(self.active_weight(in_features, side))
        linear.bias.copy_(self.bias)
        return linear

    def forward(self, x: Tensor, side: Side) -> Tensor:
        """Apply to ``x`` of shape ``[B, in_features]``."""
        return F.linear(x, self.active_weight(x.shape[1], side), self.bias)
