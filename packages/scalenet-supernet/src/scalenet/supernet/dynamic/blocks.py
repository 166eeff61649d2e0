"""The dynamic MBConv block slot: elastic widths, kernel, expand rate and squeeze-excite.

A slot of the super-supernet (:mod:`scalenet.supernet.dynamic.model`) runs as any block of
:func:`scalenet.space.expand_path` that fits it (:meth:`DynamicMBConv.check`), and copies that
block's weights into a static MBConv (:meth:`DynamicMBConv.to_static`).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from scalenet.space import LayerSpec
from scalenet.supernet.dynamic.ops import (
    DynamicBatchNorm2d,
    DynamicConv2d,
    DynamicDepthwiseConv2d,
    DynamicSqueezeExcite,
    Side,
    make_activation,
)
from scalenet.supernet.kernels import conv_act

__all__ = ["DynamicMBConv"]


class DynamicMBConv(nn.Module):
    """An MBConv block slot with elastic widths, kernel, expand rate and SE.

    Args:
        max_in_chs: Input channel capacity.
        max_out_chs: Output channel capacity.
        max_expand: Largest expand rate (1: the slot has no expansion conv).
        max_kernel: Largest depthwise kernel.
        stride: Stride of the slot (the stage's stride for its first slot, else 1).
        max_squeeze_chs: SE squeeze capacity (0: the slot has no SE).
        activation: Block activation name.
        gate: SE gate name.
        se_activation: Activation inside SE.
    """

    def __init__(
        self,
        max_in_chs: int,
        max_out_chs: int,
        max_expand: int,
        max_kernel: int,
        stride: int,
        max_squeeze_chs: int,
        activation: str,
        gate: str,
        se_activation: str = "relu",
    ) -> None:
        super().__init__()
        max_mid_chs = max_in_chs * max_expand
        self.max_in_chs = max_in_chs
        self.max_mid_chs = max_mid_chs
        self.max_out_chs = max_out_chs
        self.stride = stride
        self.conv_pw = DynamicConv2d(max_in_chs, max_mid_chs, 1) if max_expand > 1 else None
        self.bn1 = DynamicBatchNorm2d(max_mid_chs) if max_expand > 1 else None
        self.conv_dw = DynamicDepthwiseConv2d(max_mid_chs, max_kernel, stride)
        self.bn2 = DynamicBatchNorm2d(max_mid_chs)
        self.se = (
            DynamicSqueezeExcite(max_mid_chs, max_squeeze_chs, se_activation, gate)
            if max_squeeze_chs
            else None
        )
        self.conv_pwl = DynamicConv2d(max_mid_chs, max_out_chs, 1)
        self.bn3 = DynamicBatchNorm2d(max_out_chs)
        self.act = make_activation(activation)

    def check(self, layer: LayerSpec) -> None:
        """Raise ValueError if ``layer`` does not fit this slot."""
        problems = []
        if layer.in_chs > self.max_in_chs:
            problems.append(f"in_chs {layer.in_chs} > capacity {self.max_in_chs}")
        if layer.out_chs > self.max_out_chs:
            problems.append(f"out_chs {layer.out_chs} > capacity {self.max_out_chs}")
        if layer.mid_chs > self.max_mid_chs:
            problems.append(f"mid_chs {layer.mid_chs} > capacity {self.max_mid_chs}")
        if layer.expand != 1 and self.conv_pw is None:
            problems.append(f"expand {layer.expand}: the slot has no expansion conv")
        if layer.kernel > self.conv_dw.max_kernel:
            problems.append(f"kernel {layer.kernel} > capacity {self.conv_dw.max_kernel}")
        if layer.stride != self.stride:
            problems.append(f"stride {layer.stride} != slot stride {self.stride}")
        if layer.se_chs and (self.se is None or layer.se_chs > self.se.reduce.max_out_chs):
            problems.append(f"se_chs {layer.se_chs} does not fit the slot's SE")
        if problems:
            raise ValueError(f"{layer.name}: " + "; ".join(problems))

    def to_static(self, block: Any, layer: LayerSpec, side: Side) -> Any:
        """Copy the slot's weights as ``layer`` into ``block``, the static MBConv of ``layer``."""
        if layer.expand != 1:
            assert self.conv_pw is not None and self.bn1 is not None
            self.conv_pw.to_static(block.conv_pw, layer.in_chs, layer.mid_chs, side)
            self.bn1.to_static(block.bn1, layer.mid_chs, side)
        self.conv_dw.to_static(block.conv_dw, layer.mid_chs, layer.kernel, side)
        self.bn2.to_static(block.bn2, layer.mid_chs, side)
        if layer.se_chs:
            assert self.se is not None
            self.se.to_static(block.se, layer.mid_chs, layer.se_chs, side)
        self.conv_pwl.to_static(block.conv_pwl, layer.mid_chs, layer.out_chs, side)
        self.bn3.to_static(block.bn3, layer.out_chs, side)
        return block

    def forward(self, x: Tensor, layer: LayerSpec, side: Side) -> Tensor:
        """Run the slot as ``layer`` (a block of :func:`expand_path`) on channel side ``side``."""
        shortcut = x
        if layer.expand != 1:
            assert self.conv_pw is not None and self.bn1 is not None
            x = self.conv_pw(x, layer.mid_chs, side)
            x = self.bn1(x, side, self.act)
        x = self.conv_dw(x, layer.kernel, side)
        x = self.bn2(x, side, self.act)
        if layer.se_chs:
            assert self.se is not None
            x = self.se(x, layer.se_chs, side)
        x = self.conv_pwl(x, layer.out_chs, side)
        x = self.bn3(x, side)
        if layer.residual:
            x = x + shortcut
        return x

    def forward_folded(self, x: Tensor, layer: LayerSpec, side: Side) -> Tensor:
        """The eval-mode forward with every BN folded into its convolution (no gradients).

        Each convolution runs with its activation, or the residual sum, as a oneDNN post-op
        (:func:`~scalenet.supernet.kernels.conv_act`); equal to :meth:`forward` in eval mode up
        to float rounding.
        """
        shortcut = x
        if layer.expand != 1:
            assert self.conv_pw is not None and self.bn1 is not None
            weight, bias = self.bn1.fold(
                self.conv_pw.active_weight(layer.in_chs, layer.mid_chs, side), side
            )
            x = conv_act(x, weight, bias, 1, 0, 1, self.act)
        weight, bias = self.bn2.fold(
            self.conv_dw.active_weight(layer.mid_chs, layer.kernel, side), side
        )
        x = conv_act(x, weight, bias, self.stride, layer.kernel // 2, layer.mid_chs, self.act)
        if layer.se_chs:
            assert self.se is not None
            x = self.se(x, layer.se_chs, side)
        weight, bias = self.bn3.fold(
            self.conv_pwl.active_weight(layer.mid_chs, layer.out_chs, side), side
        )
        return conv_act(
            x, weight, bias, 1, 0, 1, None, residual=shortcut if layer.residual else None
        )
