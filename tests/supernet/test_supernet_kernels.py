"""scalenet.supernet.kernels: each CPU kernel against the PyTorch calls it replaces."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from supernet_testutils import random_paths, randomize
from torch import nn

import scalenet.supernet.kernels as kernels
from scalenet.space import SearchSpace
from scalenet.supernet import SupernetEvaluator, SupernetTrainer, SuperSupernet, TrainConfig
from scalenet.supernet.bn import recalibrate_bn
from scalenet.supernet.kernels import (
    KERNELS_ENV,
    DepthwiseConv2d,
    PointwiseConv2d,
    batch_norm_act,
    conv_act,
    cpu_kernels_enabled,
    depthwise_conv2d,
    fold_batch_norm,
    pointwise_conv2d,
)

CHANNELS_LAST = torch.channels_last


def _input(shape: tuple[int, ...], seed: int, channels_last: bool = True) -> torch.Tensor:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return x.contiguous(memory_format=CHANNELS_LAST) if channels_last else x


class _Counter:
    """Counts the calls of a module-level kernel of scalenet.supernet.kernels."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.calls = 0
        original = getattr(kernels, name)

        def counted(*args: object) -> object:
            self.calls += 1
            return original(*args)

        monkeypatch.setattr(kernels, name, counted)


# -- switch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "on"), [("", True), ("1", True), ("yes", True), ("0", False), ("off", False)]
)
def test_the_environment_switch(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv(KERNELS_ENV, value)
    assert cpu_kernels_enabled() is on


def test_a_bad_switch_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KERNELS_ENV, "fast")
    with pytest.raises(ValueError, match=r"SCALENET_CPU_KERNELS='fast' not in \{0, 1\}"):
        cpu_kernels_enabled()


# -- depthwise --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "channels_last"),
    [
        ((4, 8, 9, 9), 3, 1, True),
        ((3, 5, 7, 7), 5, 2, False),  # NCHW input: converted for the loop
        ((2, 16, 4, 4), 7, 2, True),  # kernel larger than the feature map
        ((2, 16, 4, 4), 7, 1, True),
        ((2, 3, 1, 1), 7, 1, False),
        ((2, 6, 6, 5), 3, 2, True),  # not square
    ],
)
def test_depthwise_equals_conv2d_in_value_and_gradients(
    monkeypatch: pytest.MonkeyPatch,
    shape: tuple[int, int, int, int],
    kernel: int,
    stride: int,
    channels_last: bool,
) -> None:
    calls = _Counter(monkeypatch, "_weight_grad_loop")
    channels = shape[1]
    # a view of a larger weight, as the supernet's centre crop of its 7x7 kernels
    big = torch.randn(channels + 3, 1, 7, 7, generator=torch.Generator().manual_seed(1))
    big.requires_grad_(True)
    start = (7 - kernel) // 2
    weight = big[1 : channels + 1, :, start : start + kernel, start : start + kernel]
    x = _input(shape, 0, channels_last)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y1 = depthwise_conv2d(x1, weight, stride, kernel // 2)
    y2 = F.conv2d(x2, weight, None, stride, kernel // 2, 1, channels)
    grad = torch.randn(y1.shape, generator=torch.Generator().manual_seed(2))
    got = torch.autograd.grad(y1, [x1, big], grad)
    want = torch.autograd.grad(y2, [x2, big], grad)
    assert torch.equal(y1, y2)
    assert torch.equal(got[0], want[0])  # the input gradient is oneDNN's in both
    assert torch.allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
    assert calls.calls == 1


def test_depthwise_weight_gradient_is_the_same_every_run() -> None:
    x = _input((8, 24, 12, 12), 0)
    grad = _input((8, 24, 6, 6), 1)
    first = kernels.depthwise_weight_grad(x, grad, 5, 2, 2)
    assert all(
        torch.equal(first, kernels.depthwise_weight_grad(x, grad, 5, 2, 2)) for _ in range(3)
    )


def test_depthwise_takes_pytorch_where_the_kernel_does_not_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _Counter(monkeypatch, "_weight_grad_loop")
    weight = torch.randn(4, 1, 3, 3, requires_grad=True)
    x = _input((2, 4, 5, 5), 0)
    with torch.no_grad():  # no gradient: plain F.conv2d
        depthwise_conv2d(x, weight, 1, 1)
    depthwise_conv2d(x.double(), weight.double(), 1, 1).sum().backward()  # float64
    monkeypatch.setenv(KERNELS_ENV, "0")  # switched off
    depthwise_conv2d(x, weight, 1, 1).sum().backward()
    assert calls.calls == 0


def test_static_layers_keep_the_conv2d_state_dict_and_script() -> None:
    depthwise, plain = DepthwiseConv2d(6, 5, 2), nn.Conv2d(6, 6, 5, 2, 2, groups=6, bias=False)
    pointwise, plain_1x1 = PointwiseConv2d(6, 4, bias=True), nn.Conv2d(6, 4, 1, bias=True)
    plain.load_state_dict(depthwise.state_dict())
    plain_1x1.load_state_dict(pointwise.state_dict())
    x = _input((2, 6, 9, 9), 0)
    assert torch.equal(depthwise(x), plain(x))
    assert torch.allclose(pointwise(x), plain_1x1(x), atol=1e-6)
    scripted = torch.jit.script(nn.Sequential(depthwise, PointwiseConv2d(6, 3)))
    assert scripted(x).shape == (2, 3, 5, 5)


# -- pointwise --------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(4, 8, 6, 6), (3, 12, 1, 1), (2, 5, 3, 7)])
def test_pointwise_equals_conv2d_and_stays_channels_last(
    shape: tuple[int, int, int, int], bias: bool
) -> None:
    generator = torch.Generator().manual_seed(3)
    big = torch.randn(10, shape[1] + 2, 1, 1, generator=generator, requires_grad=True)
    weight = big[2:9, 1 : shape[1] + 1]  # a sliced view, as the supernet's
    bias_ = torch.randn(7, generator=generator, requires_grad=True) if bias else None
    x = _input(shape, 0)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y1, y2 = pointwise_conv2d(x1, weight, bias_), F.conv2d(x2, weight, bias_)
    assert y1.is_contiguous(memory_format=CHANNELS_LAST)
    assert torch.allclose(y1, y2, atol=1e-5)
    grad = torch.randn(y1.shape, generator=generator)
    inputs = [x1, big] + ([bias_] if bias_ is not None else [])
    got = torch.autograd.grad(y1, inputs, grad)
    want = torch.autograd.grad(y2, [x2, *inputs[1:]], grad)
    for a, b in zip(got, want, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-5)


# -- BatchNorm + activation (recalibration) ----------------------------------------------------


@pytest.mark.parametrize("act", [nn.Hardswish(), nn.ReLU(), nn.ReLU6(), None])
@pytest.mark.parametrize("shape", [(16, 48, 12, 12), (64, 8, 16, 16), (40, 144, 4, 4)])
def test_batch_norm_act_equals_batch_norm_then_act(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int, int, int], act: nn.Module | None
) -> None:
    calls = _Counter(monkeypatch, "_batch_norm_act_loop")
    channels = shape[1]
    x = (_input(shape, 0) * 2 + 0.5).contiguous(memory_format=CHANNELS_LAST)
    weight, bias = torch.rand(channels) + 0.5, torch.randn(channels) * 0.3
    initial = (torch.randn(channels) * 0.1, torch.rand(channels) + 0.5)
    stats = [(initial[0].clone(), initial[1].clone()) for _ in range(2)]
    with torch.no_grad():
        got = batch_norm_act(x, weight, bias, *stats[0], 0.25, 1e-5, act)
        want = F.batch_norm(x, *stats[1], weight, bias, True, 0.25, 1e-5)
        want = act(want) if act is not None else want
    assert calls.calls == 1
    assert got.is_contiguous(memory_format=CHANNELS_LAST)
    assert torch.allclose(got, want, atol=2e-5)
    assert torch.allclose(stats[0][0], stats[1][0], atol=1e-6)
    assert torch.allclose(stats[0][1], stats[1][1], rtol=1e-5)


@pytest.mark.parametrize("case", ["gradients", "small", "nchw", "silu", "switched off", "float64"])
def test_batch_norm_act_takes_pytorch_where_the_loop_does_not_apply(
    monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    calls = _Counter(monkeypatch, "_batch_norm_act_loop")
    shape = (4, 8, 4, 4) if case == "small" else (16, 48, 12, 12)
    x = _input(shape, 0, channels_last=case != "nchw")
    act: nn.Module = nn.SiLU() if case == "silu" else nn.Hardswish()
    weight = torch.rand(shape[1]) + 0.5
    bias = torch.zeros(shape[1])
    if case == "float64":
        x, weight, bias = x.double(), weight.double(), bias.double()
    if case == "switched off":
        monkeypatch.setenv(KERNELS_ENV, "0")
    mean, var = torch.zeros(shape[1], dtype=x.dtype), torch.ones(shape[1], dtype=x.dtype)
    want = act(F.batch_norm(x, mean.clone(), var.clone(), weight, bias, True, 0.1, 1e-5))
    with torch.set_grad_enabled(case == "gradients"):
        got = batch_norm_act(x, weight, bias, mean, var, 0.1, 1e-5, act)
    assert calls.calls == 0
    assert torch.allclose(got, want)


def test_recalibration_is_the_same_with_and_without_the_kernels(
    monkeypatch: pytest.MonkeyPatch, tiny_space: SearchSpace
) -> None:
    supernet = SuperSupernet(tiny_space).to(memory_format=CHANNELS_LAST)
    randomize(supernet)
    images = torch.randn(64, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    for path in random_paths(tiny_space, 3, seed=5):
        supernet.set_active(path, "left")
        statistics = []
        for switch in ("1", "0"):
            monkeypatch.setenv(KERNELS_ENV, switch)
            recalibrate_bn(supernet, [(images, None)], 1)
            statistics.append([b.clone() for n, b in supernet.named_buffers() if "running" in n])
        for fused, plain in zip(*statistics, strict=True):
            assert torch.allclose(fused, plain, rtol=1e-4, atol=1e-5)


# -- folded eval-mode forward -------------------------------------------------------------


@pytest.mark.parametrize(
    ("act", "groups", "kernel", "stride"),
    [(nn.Hardswish(), 1, 1, 1), (nn.ReLU(), 6, 5, 2), (nn.ReLU6(), 6, 3, 1), (None, 1, 3, 2)],
)
def test_folded_conv_act_equals_conv_batch_norm_act(
    act: nn.Module | None, groups: int, kernel: int, stride: int
) -> None:
    generator = torch.Generator().manual_seed(4)
    x = _input((3, 6, 9, 9), 0)
    conv_weight = torch.randn(6, 6 // groups, kernel, kernel, generator=generator)
    weight, bias = torch.rand(6, generator=generator) + 0.5, torch.randn(6, generator=generator)
    mean, var = torch.randn(6, generator=generator), torch.rand(6, generator=generator) + 0.5
    want = F.batch_norm(
        F.conv2d(x, conv_weight, None, stride, kernel // 2, 1, groups),
        mean, var, weight, bias, False, 0.0, 1e-5,
    )  # fmt: skip
    want = act(want) if act is not None else want
    folded = fold_batch_norm(conv_weight, weight, bias, mean, var, 1e-5)
    with torch.inference_mode():
        got = conv_act(x, *folded, stride, kernel // 2, groups, act)
    assert torch.allclose(got, want, atol=1e-4)


def test_folded_conv_with_a_residual_sum() -> None:
    x, shortcut = _input((2, 8, 5, 5), 0), _input((2, 8, 5, 5), 1)
    weight, bias = torch.randn(8, 8, 1, 1), torch.randn(8)
    with torch.inference_mode():
        got = conv_act(x, weight, bias, 1, 0, 1, None, residual=shortcut)
    assert torch.allclose(got, F.conv2d(x, weight, bias) + shortcut, atol=1e-5)


@pytest.mark.parametrize("channels_last", [True, False])
def test_supernet_eval_forward_is_the_same_with_and_without_the_kernels(
    monkeypatch: pytest.MonkeyPatch, tiny_space: SearchSpace, channels_last: bool
) -> None:
    supernet = SuperSupernet(tiny_space)
    if channels_last:
        supernet.to(memory_format=CHANNELS_LAST)
    randomize(supernet)
    supernet.eval()
    images = torch.randn(6, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    for path in random_paths(tiny_space, 4, seed=7):
        for side in ("left", "right"):
            supernet.set_active(path, side)
            logits = []
            for switch in ("1", "0"):
                monkeypatch.setenv(KERNELS_ENV, switch)
                with torch.inference_mode():
                    logits.append(supernet(images))
            assert logits[0].abs().max() > 0.1
            assert torch.allclose(logits[0], logits[1], atol=1e-4), path.encode()


# -- whole runs -------------------------------------------------------------------------------


def test_training_with_the_kernels_is_deterministic_and_close_to_pytorch(
    monkeypatch: pytest.MonkeyPatch, tiny_space: SearchSpace
) -> None:
    """Same seed, same steps: the same weights bit for bit with the kernels on; one step lands
    within float rounding of PyTorch's own kernels (the depthwise weight gradients sum in
    another order; over more steps such differences grow, as any change of summation order)."""

    class Fixed:
        def __init__(self) -> None:
            self.paths = random_paths(tiny_space, 4, seed=9)

        def sample(self, rng: np.random.Generator) -> object:
            return self.paths[int(rng.integers(len(self.paths)))]

    images = torch.randn(8, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(8) % 10

    def train(switch: str, steps: int) -> dict[str, torch.Tensor]:
        monkeypatch.setenv(KERNELS_ENV, switch)
        torch.manual_seed(0)
        supernet = SuperSupernet(tiny_space)
        config = TrainConfig(iterations=10, lr=0.05, progress=False)
        with tempfile.TemporaryDirectory() as out:
            trainer = SupernetTrainer(supernet, Fixed(), [], config, out)
            for _ in range(steps):
                trainer.step(images, labels)
        return {k: v.clone() for k, v in supernet.state_dict().items()}

    first, second = train("1", 4), train("1", 4)
    assert all(torch.equal(first[key], second[key]) for key in first)
    fused, plain = train("1", 1), train("0", 1)
    assert all(torch.allclose(fused[key], plain[key], atol=1e-5, rtol=1e-5) for key in fused)
    assert any(not torch.equal(fused[key], plain[key]) for key in fused)  # the kernels ran


def test_evaluator_resized_cache_gives_the_same_accuracy_and_stays_bounded(
    tiny_space: SearchSpace,
) -> None:
    supernet = SuperSupernet(tiny_space).to(memory_format=CHANNELS_LAST)
    randomize(supernet)
    generator = torch.Generator().manual_seed(0)
    train = [(torch.randn(32, 3, 28, 28, generator=generator), torch.arange(32) % 10)]
    val = [(torch.randn(40, 3, 28, 28, generator=generator), torch.arange(40) % 10)]
    paths = random_paths(tiny_space, 6, seed=3)
    cached = SupernetEvaluator(supernet, train, val, recalib_batches=1)
    plain = SupernetEvaluator(supernet, train, val, recalib_batches=1, resized_cache_bytes=0)
    assert [cached.evaluate(p) for p in paths] == [plain.evaluate(p) for p in paths]
    assert cached._resized and not plain._resized
    one = 72 * 3 * 26 * 26 * 4  # the largest resolution of the tiny space's paths
    small = SupernetEvaluator(supernet, train, val, recalib_batches=1, resized_cache_bytes=one)
    for path in paths:
        small.evaluate(path)
        assert small._cached_bytes() <= one
