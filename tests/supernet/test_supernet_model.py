from __future__ import annotations

import math

import pytest
import torch
from supernet_testutils import random_paths, randomize

from scalenet.space import BaseArch, Path, Scaling, SearchSpace, StageSpec, expand_path
from scalenet.supernet import SuperSupernet
from scalenet.supernet.ops import DynamicBatchNorm2d


def test_capacity_from_space_and_scaling(space: SearchSpace) -> None:
    net = SuperSupernet(space)
    # fmnist: n_max 3 (S2..S6), 1 (S1, S7); d_max = w_max = 1.64
    assert [len(stage) for stage in net.stages] == [2, 5, 5, 5, 5, 5, 2]
    assert net.stem_conv.max_out_chs == math.ceil(8 * 1.64)  # 14
    last = net.stages[6][0]
    assert last.max_out_chs == math.ceil(64 * 1.64) == 105
    assert last.max_mid_chs == math.ceil(48 * 1.64) * 6  # input of S7 times e_max
    assert last.conv_dw.max_kernel == 7
    assert net.stages[0][0].conv_pw is None  # S1: e = 1 only
    assert net.head_conv.max_in_chs == 105 and net.head_conv.max_out_chs == 256


def test_largest_path_fits_and_uses_everything(space: SearchSpace) -> None:
    net = SuperSupernet(space)
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
        net.set_active(Path(space.largest_arch(), Scaling(1.0, 2.0, 1.0)))
    wide = BaseArch(
        tuple(
            StageSpec(stage.blocks, 500 if index == 3 else None)
            for index, stage in enumerate(space.smallest_arch().stages)
        )
    )
    with pytest.raises(ValueError, match=r"stage4\.block1: out_chs 500 > capacity"):
        net.set_active(Path(wide))


def test_sides_allowed_per_width_mode(space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=r"width_mode 'middle' not in \{bcnet, left\}"):
        SuperSupernet(space, width_mode="middle")
    net = SuperSupernet(space, width_mode="left")
    assert net.eval_side == "left"
    with pytest.raises(ValueError, match=r"side 'right' not in \{left\}"):
        net.set_active(Path(space.smallest_arch()), "right")
    assert SuperSupernet(space).eval_side == "both"


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


def test_both_is_mean_of_sides(tiny_space: SearchSpace) -> None:
    net = SuperSupernet(tiny_space).eval()
    randomize(net, seed=1)
    path = random_paths(tiny_space, 1, seed=5)[0]
    x = torch.randn(3, 3, 16, 16)
    outs = {}
    for side in ("left", "right", "both"):
        net.set_active(path, side)
        outs[side] = net(x)
    assert not torch.allclose(outs["left"], outs["right"])
    torch.testing.assert_close(outs["both"], 0.5 * (outs["left"] + outs["right"]))


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
