from __future__ import annotations

import math

import pytest
import torch
from supernet_testutils import random_paths, randomize

from scalenet.space import BaseArch, Path, Scaling, SearchSpace, StageSpec, expand_path
from scalenet.supernet import SuperSupernet, channel_capacity
from scalenet.supernet.dynamic.ops import DynamicBatchNorm2d, channel_slice


@pytest.mark.parametrize("width_mode", ["left", "bcnet_alternate"])
def test_capacity_from_space_and_scaling(space: SearchSpace, width_mode: str) -> None:
    net = SuperSupernet(space, width_mode=width_mode)
    # fmnist: n_max 3 (S2..S6), 1 (S1, S7); d_max = w_max = 1.64
    assert [len(stage) for stage in net.stages] == [2, 5, 5, 5, 5, 5, 2]
    assert net.stem_conv.max_out_chs == math.ceil(8 * 1.64)  # 14
    last = net.stages[6][0]
    assert last.max_out_chs == math.ceil(64 * 1.64) == 105
    assert last.max_mid_chs == math.ceil(48 * 1.64) * 6  # input of S7 times e_max
    assert last.conv_dw.max_kernel == 7
    assert net.stages[0][0].conv_pw is None  # S1: e = 1 only
    assert net.head_conv.max_in_chs == 105 and net.head_conv.max_out_chs == 256


def test_bcnet_capacity_is_the_official_enlarged_one(space: SearchSpace) -> None:
    net = SuperSupernet(space)  # bcnet: ceil(c * w_max) + c, as the official model initializer
    assert net.width_mode == "bcnet"
    assert net.stem_conv.max_out_chs == math.ceil(8 * 1.64) + 8 == 22
    last = net.stages[6][0]
    assert last.max_out_chs == math.ceil(64 * 1.64) + 64 == 169
    assert last.max_in_chs == math.ceil(48 * 1.64) + 48
    assert last.max_mid_chs == (math.ceil(48 * 1.64) + 48) * 6
    assert last.se is not None and last.se.reduce.max_out_chs == int(0.25 * last.max_in_chs)
    assert net.head_conv.max_in_chs == 169 and net.head_conv.max_out_chs == 256  # never scaled
    assert channel_capacity(32, 1.64, "bcnet") == 85
    assert channel_capacity(32, 1.64, "left") == channel_capacity(32, 1.64, "bcnet_alternate")
    # the widest path fits; the left and right slices of the narrowest stay apart
    widest = net.set_active(Path(space.largest_arch(), Scaling(1.64, 1.64, 1.57)), "right")
    assert widest.blocks[6][0].out_chs == 105
    assert channel_slice(64, 169, "left").stop <= channel_slice(64, 169, "right").start


def test_bcnet_capacity_trains_every_channel_equally_for_uniform_widths() -> None:
    """BCNet's fairness: every width of [c, ceil(c w_max)] once, both sides each: each channel of
    the enlarged capacity is in exactly one slice per width; at capacity ceil(c w_max) (the
    bcnet_alternate layout) the edge channels are in about half as many slices as the middle."""
    base, w_max = 32, 1.64
    widths = range(base, math.ceil(base * w_max) + 1)  # 32..53: 22 widths

    def counts(capacity: int) -> torch.Tensor:
        used = torch.zeros(capacity)
        for width in widths:
            for side in ("left", "right"):
                used[channel_slice(width, capacity, side)] += 1
        return used

    enlarged = counts(channel_capacity(base, w_max, "bcnet"))
    assert enlarged.tolist() == [len(widths)] * 85
    tight = counts(channel_capacity(base, w_max, "bcnet_alternate"))  # 53 channels
    assert tight[0] == tight[-1] == len(widths) + 1  # 23 of 44 slices: about half
    assert torch.all(tight[53 - 32 : 32] == 2 * len(widths))  # the middle: all 44


def test_bad_width_mode_and_eval_side_name_the_field(space: SearchSpace) -> None:
    with pytest.raises(
        ValueError, match=r"width_mode 'middle' not in \{bcnet, bcnet_alternate, left\}"
    ):
        SuperSupernet(space, width_mode="middle")
    with pytest.raises(ValueError, match=r"width_mode 'middle' not in"):
        channel_capacity(8, 1.64, "middle")
    with pytest.raises(ValueError, match=r"eval_side 'sum' not in \{left, right, both\}"):
        SuperSupernet(space, eval_side="sum")
    with pytest.raises(ValueError, match=r"eval_side 'both' not in \{left\} \(width_mode 'left'\)"):
        SuperSupernet(space, width_mode="left", eval_side="both")


def test_largest_path_fits_and_uses_everything(space: SearchSpace) -> None:
    net = SuperSupernet(space, width_mode="bcnet_alternate")  # capacity = the widest path
    scaling = Scaling(1.64, 1.64, 1.57)
    active = net.set_active(Path(space.largest_arch(), scaling), "left")
    assert active.resolution == math.ceil(32 * 1.57)
    assert [len(stage) for stage in active.blocks] == [2, 5, 5, 5, 5, 5, 2]
    assert active.blocks[3][1].mid_chs == net.stages[3][1].max_mid_chs


def test_set_active_rejects_paths_beyond_capacity(space: SearchSpace) -> None:
    net = SuperSupernet(space)
    with pytest.raises(ValueError, match="stage 2 has only 5 slots"):
        net.set_active(Path(space.largest_arch(), Scaling(2.0, 1.0, 1.0)))
    with pytest.raises(ValueError, match=r"out_chs .* > capacity"):
        net.set_active(Path(space.largest_arch(), Scaling(1.0, 3.0, 1.0)))  # bcnet holds 2.64 c
    wide = BaseArch(
        tuple(
            StageSpec(stage.blocks, 500 if index == 3 else None)
            for index, stage in enumerate(space.smallest_arch().stages)
        )
    )
    with pytest.raises(ValueError, match=r"stage4\.block1: out_chs 500 > capacity"):
        net.set_active(Path(wide))


def test_sides_allowed_per_width_mode(space: SearchSpace) -> None:
    net = SuperSupernet(space, width_mode="left")
    assert net.eval_side == "left"
    with pytest.raises(ValueError, match=r"side 'right' not in \{left\}"):
        net.set_active(Path(space.smallest_arch()), "right")
    assert SuperSupernet(space).eval_side == "both"
    assert SuperSupernet(space, width_mode="bcnet_alternate").eval_side == "both"


def test_forward_requires_active(tiny_space: SearchSpace) -> None:
    with pytest.raises(RuntimeError, match="set_active"):
        SuperSupernet(tiny_space)(torch.randn(1, 3, 16, 16))


def test_forward_shape_resizes_and_keeps_state(tiny_space: SearchSpace) -> None:
    net = SuperSupernet(tiny_space).eval()
    randomize(net)
    state = {key: value.clone() for key, value in net.state_dict().items()}
    for path in random_paths(tiny_space, 4, seed=3):
        active = net.set_active(path, "right")
        out = net(torch.randn(2, 3, 28, 28))
        assert out.shape == (2, 10)
        assert active.resolution == expand_path(tiny_space, path).resolution
        assert net.active is active
    assert all(torch.equal(state[key], value) for key, value in net.state_dict().items())


@pytest.mark.parametrize("width_mode", ["bcnet", "bcnet_alternate"])
def test_both_is_sum_of_sides(tiny_space: SearchSpace, width_mode: str) -> None:
    net = SuperSupernet(tiny_space, width_mode=width_mode).eval()
    randomize(net, seed=1)
    path = random_paths(tiny_space, 1, seed=5)[0]
    x = torch.randn(3, 3, 16, 16)
    outs = {}
    for side in ("left", "right", "both"):
        net.set_active(path, side)
        outs[side] = net(x)
    assert not torch.allclose(outs["left"], outs["right"])
    torch.testing.assert_close(outs["both"], outs["left"] + outs["right"])  # the official tester


def test_training_touches_only_active_weights(tiny_space: SearchSpace) -> None:
    net = SuperSupernet(tiny_space, width_mode="left").train()
    smallest = Path(tiny_space.smallest_arch())
    net.set_active(smallest, "left")
    net(torch.randn(4, 3, 16, 16)).sum().backward()
    assert net.stages[1][1].conv_dw.weight.grad is None  # slot 2 of S2 is not in the path
    grad = net.stages[1][0].conv_dw.weight.grad
    assert grad is not None
    mid = expand_path(tiny_space, smallest).layers[2].mid_chs
    assert torch.all(grad[mid:] == 0) and torch.all(grad[:mid, :, :2] == 0)  # left slice, k3 crop
    assert grad[:mid, :, 2:5, 2:5].abs().sum() > 0
    norms = [m for m in net.modules() if isinstance(m, DynamicBatchNorm2d)]
    assert norms


def test_channels_last_model_gives_the_same_logits(tiny_space: SearchSpace) -> None:
    torch.manual_seed(0)
    net = SuperSupernet(tiny_space).eval()
    path = random_paths(tiny_space, 1, seed=4)[0]
    images = torch.randn(4, 3, 16, 16)
    net.set_active(path, "right")
    expected = net(images)
    net.to(memory_format=torch.channels_last)
    assert torch.allclose(net(images), expected, rtol=1e-4, atol=1e-5)  # NCHW batch, CL model
    assert torch.allclose(
        net(images.contiguous(memory_format=torch.channels_last)), expected, rtol=1e-4, atol=1e-5
    )
