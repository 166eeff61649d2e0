from __future__ import annotations

import pytest
import torch

from scalenet.supernet.dynamic.ops import (
    DynamicBatchNorm2d,
    DynamicConv2d,
    DynamicDepthwiseConv2d,
    DynamicLinear,
    channel_slice,
    kernel_slice,
    make_activation,
)


def test_channel_slice_sides() -> None:
    assert channel_slice(3, 8, "left") == slice(0, 3)
    assert channel_slice(3, 8, "right") == slice(5, 8)
    assert channel_slice(8, 8, "right") == slice(0, 8)


@pytest.mark.parametrize("active", [0, 9])
def test_channel_slice_out_of_range(active: int) -> None:
    with pytest.raises(ValueError, match=r"active channels .* not in 1..8"):
        channel_slice(active, 8, "left")


def test_channel_slice_bad_side() -> None:
    with pytest.raises(ValueError, match=r"side 'middle' not in \{left, right\}"):
        channel_slice(2, 8, "middle")  # type: ignore[arg-type]


def test_kernel_centre_crops() -> None:
    assert kernel_slice(7, 7) == slice(0, 7)
    assert kernel_slice(5, 7) == slice(1, 6)
    assert kernel_slice(3, 7) == slice(2, 5)
    with pytest.raises(ValueError, match="kernel 4"):
        kernel_slice(4, 7)


def test_depthwise_weight_is_a_view_of_the_centre() -> None:
    conv = DynamicDepthwiseConv2d(6, 7)
    weight = conv.active_weight(4, 3, "right")
    assert weight.shape == (4, 1, 3, 3)
    assert torch.equal(weight, conv.weight[2:6, :, 2:5, 2:5])
    assert weight.untyped_storage().data_ptr() == conv.weight.untyped_storage().data_ptr()


def test_pointwise_slices_both_dims() -> None:
    conv = DynamicConv2d(10, 20, 1, bias=True)
    assert torch.equal(conv.active_weight(4, 6, "left"), conv.weight[:6, :4])
    assert torch.equal(conv.active_weight(4, 6, "right"), conv.weight[14:, 6:])
    bias = conv.active_bias(6, "right")
    assert bias is not None and torch.equal(bias, conv.bias[14:])  # type: ignore[index]
    out = conv(torch.randn(2, 4, 5, 5), 6, "left")
    assert out.shape == (2, 6, 5, 5)


def test_batchnorm_updates_only_the_active_slice() -> None:
    bn = DynamicBatchNorm2d(8).train()
    x = torch.randn(4, 3, 5, 5) + 2.0
    bn(x, "right")
    assert torch.all(bn.running_mean[:5] == 0)
    assert torch.all(bn.running_mean[5:] > 0.1)
    bn.eval()
    before = bn.running_mean.clone()
    bn(x, "left")
    assert torch.equal(bn.running_mean, before)


def test_linear_slices_inputs() -> None:
    fc = DynamicLinear(12, 3)
    out = fc(torch.randn(5, 7), "right")
    assert out.shape == (5, 3)
    assert torch.equal(fc.active_weight(7, "right"), fc.weight[:, 5:])


def test_unknown_activation() -> None:
    with pytest.raises(ValueError, match=r"activation 'gelu2' not in \{"):
        make_activation("gelu2")


def test_each_layer_copies_its_active_slice_into_a_static_layer() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 9, 9)
    conv = DynamicConv2d(8, 12, kernel=3, bias=True)
    static = conv.to_static(torch.nn.Conv2d(5, 7, 3, padding=1, bias=True), 5, 7, "right")
    torch.testing.assert_close(static(x), conv(x, 7, "right"))
    with pytest.raises(ValueError, match="no bias"):
        conv.to_static(torch.nn.Conv2d(5, 7, 3, padding=1, bias=False), 5, 7, "left")
    dw = DynamicDepthwiseConv2d(8, 7)
    static_dw = dw.to_static(
        torch.nn.Conv2d(5, 5, 5, padding=2, groups=5, bias=False), 5, 5, "left"
    )
    torch.testing.assert_close(static_dw(x), dw(x, 5, "left"))
    bn = DynamicBatchNorm2d(8, eps=1e-3, momentum=0.2)
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2.0)
    static_bn = bn.to_static(torch.nn.BatchNorm2d(5), 5, "right").eval()
    assert (static_bn.eps, static_bn.momentum) == (1e-3, 0.2)
    torch.testing.assert_close(static_bn(x), bn.eval()(x, "right"))
    linear = DynamicLinear(8, 3)
    static_linear = linear.to_static(torch.nn.Linear(5, 3), 5, "left")
    features = torch.randn(4, 5)
    torch.testing.assert_close(static_linear(features), linear(features, "left"))
