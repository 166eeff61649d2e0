from __future__ import annotations

from pathlib import Path as FilePath

import pytest
import torch
from supernet_testutils import random_paths, randomize
from torch.utils.flop_counter import FlopCounterMode

from scalenet.space import Path, Scaling, SearchSpace, count
from scalenet.supernet import (
    BilateralAverage,
    StaticNet,
    SuperSupernet,
    load_static,
    save_static,
)


@pytest.fixture(scope="module")
def trained_like(tiny_space: SearchSpace) -> SuperSupernet:
    net = SuperSupernet(tiny_space).eval()
    randomize(net, seed=7)
    return net


@pytest.mark.parametrize("side", ["left", "right", "both"])
def test_extracted_logits_equal_supernet(
    trained_like: SuperSupernet, tiny_space: SearchSpace, side: str
) -> None:
    x = torch.randn(4, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    for path in random_paths(tiny_space, 8, seed=11):
        trained_like.set_active(path, side)
        expected = trained_like(x)
        static = trained_like.extract(path, side).eval()
        got = static(x)
        assert expected.abs().max() > 0.1  # real numbers, not a vanishing signal
        assert (got - expected).abs().max().item() < 1e-5, path.encode()


def test_extracted_is_plain_modules(trained_like: SuperSupernet, tiny_space: SearchSpace) -> None:
    path = random_paths(tiny_space, 1, seed=2)[0]
    static = trained_like.extract(path, "left")
    assert isinstance(static, StaticNet) and static.path == path.encode()
    allowed = (
        "Conv2d", "BatchNorm2d", "Linear", "Sequential", "StaticNet", "MBConv", "SqueezeExcite",
        "Resize", "Hardswish", "Hardsigmoid", "ReLU", "Identity", "AdaptiveAvgPool2d", "Flatten",
        # torch's Conv2d with the CPU kernels' forward (same parameters and state dict)
        "DepthwiseConv2d", "PointwiseConv2d",
    )  # fmt: skip
    assert {type(m).__name__ for m in static.modules()} <= set(allowed)
    assert all(
        isinstance(m, torch.nn.Conv2d)
        for m in static.modules()
        if type(m).__name__ in ("DepthwiseConv2d", "PointwiseConv2d")
    )
    # the copies are independent of the supernet
    first_conv = static.stem[0]
    with torch.no_grad():
        first_conv.weight.add_(1.0)
    assert not torch.equal(
        first_conv.weight, trained_like.stem_conv.weight[: first_conv.out_channels]
    )


def test_extract_keeps_supernet_training_mode(
    trained_like: SuperSupernet, tiny_space: SearchSpace
) -> None:
    path = Path(tiny_space.smallest_arch())
    assert not trained_like.extract(path, "left").training
    assert isinstance(trained_like.extract(path, "both"), BilateralAverage)


@pytest.mark.parametrize("side", ["left", "both"])
def test_save_and_load_roundtrip(
    trained_like: SuperSupernet, tiny_space: SearchSpace, tmp_path: FilePath, side: str
) -> None:
    path = random_paths(tiny_space, 1, seed=4)[0]
    static = trained_like.extract(path, side).eval()
    save_static(static, tmp_path / "model.pt")
    loaded = load_static(tmp_path / "model.pt", tiny_space).eval()
    assert loaded.path == path.encode()
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(loaded(x), static(x))


def test_load_static_rejects_garbage(tmp_path: FilePath, tiny_space: SearchSpace) -> None:
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable static network"):
        load_static(tmp_path / "bad.pt", tiny_space)


def test_load_static_checks_the_path_it_was_asked_for(
    trained_like: SuperSupernet, tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    first, second = random_paths(tiny_space, 2, seed=5)
    save_static(trained_like.extract(first, "left"), tmp_path / "model.pt")
    assert (
        load_static(tmp_path / "model.pt", tiny_space, path=first.encode()).path == first.encode()
    )
    with pytest.raises(ValueError, match=r"model\.pt: holds the network of path .*, not "):
        load_static(tmp_path / "model.pt", tiny_space, path=second.encode())


def _counted(module: torch.nn.Module, resolution: int) -> int:
    with FlopCounterMode(display=False) as counter:
        module(torch.randn(1, 3, resolution, resolution))
    return int(counter.get_total_flops())


def test_flops_and_params_exact_for_50_paths(
    trained_like: SuperSupernet, tiny_space: SearchSpace
) -> None:
    paths = random_paths(tiny_space, 50, seed=2024)
    paths.append(Path(tiny_space.largest_arch(), Scaling(1.64, 1.64, 1.57)))
    for path in paths:
        cost = count(tiny_space, path)
        static = trained_like.extract(path, "left").eval()
        flops = _counted(static, cost.resolution)
        assert flops % 2 == 0
        assert flops // 2 == cost.flops, path.encode()
        assert sum(p.numel() for p in static.parameters()) == cost.params, path.encode()


def test_flops_exact_on_imagenet_b0_shaped_path() -> None:
    from scalenet.space import get_arch, load_space

    space = load_space("imagenet")
    net_path = Path(get_arch("scalenet_s0"), Scaling(1.08, 1.04, 1.0))
    static = StaticNet(space, net_path).eval()
    cost = count(space, net_path)
    assert _counted(static, cost.resolution) // 2 == cost.flops
    assert sum(p.numel() for p in static.parameters()) == cost.params


@pytest.mark.parametrize("side", ["left", "both"])
def test_a_network_of_other_classes_than_its_space_loads(
    tiny_space: SearchSpace, tmp_path: FilePath, side: str
) -> None:
    # Retrained on 3 classes (an ImageFolder of 3 classes with a space of another count): the
    # loaded network keeps its 3-way classifier instead of failing on the size mismatch.
    import dataclasses

    from scalenet.supernet import build_static

    other = dataclasses.replace(tiny_space, num_classes=3)
    assert tiny_space.num_classes != 3
    path = random_paths(tiny_space, 1, seed=5)[0]
    model = build_static(other, path, side=side).eval()
    save_static(model, tmp_path / "model.pt")
    loaded = load_static(tmp_path / "model.pt", tiny_space).eval()
    x = torch.randn(2, 3, 16, 16)
    assert loaded(x).shape == (2, 3) and torch.equal(loaded(x), model(x))
