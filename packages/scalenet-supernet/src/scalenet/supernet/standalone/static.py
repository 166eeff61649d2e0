"""Standalone static networks: what :meth:`SuperSupernet.extract` returns.

Plain :class:`torch.nn.Conv2d`, :class:`torch.nn.BatchNorm2d` and :class:`torch.nn.Linear`
layers, no slicing code. The layer shapes come from :func:`scalenet.space.expand_path`, the single
source of truth for channels, kernels, strides, SE widths and resolution, so the FLOPs and
parameters of a static network are exactly scalenet-space's analytic numbers.

A saved static network is its path string plus its state dict (:func:`save_static`,
:func:`load_static`).
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from pathlib import Path as FilePath
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from scalenet.space import LayerSpec, Path, SearchSpace, expand_path, load_space
from scalenet.space.files import atomic_write
from scalenet.supernet.dynamic.ops import make_activation, make_gate
from scalenet.supernet.kernels import DepthwiseConv2d, PointwiseConv2d

__all__ = [
    "BilateralAverage",
    "MBConv",
    "Resize",
    "SqueezeExcite",
    "StaticNet",
    "build_static",
    "combine_sides",
    "load_static",
    "resize_to",
    "save_static",
]

_FORMAT = "scalenet-static-net"


def resize_to(images: Tensor, resolution: int) -> Tensor:
    """Resize a batch to ``resolution`` (bilinear, no antialias); a no-op at that size already."""
    if images.shape[-2] == resolution and images.shape[-1] == resolution:
        return images
    return F.interpolate(
        images, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=False
    )


class Resize(nn.Module):
    """Resize the input batch to the path's resolution (eq. 16), as the supernet does."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution

    def forward(self, x: Tensor) -> Tensor:
        """Resize ``x`` to ``resolution x resolution``."""
        return resize_to(x, self.resolution)

    def extra_repr(self) -> str:  # noqa: D102
        return f"resolution={self.resolution}"


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: pool, 1x1 reduce (bias), activation, 1x1 expand (bias), gate."""

    def __init__(self, chs: int, squeeze_chs: int, activation: str, gate: str) -> None:
        super().__init__()
        self.reduce = PointwiseConv2d(chs, squeeze_chs, bias=True)
        self.act = make_activation(activation)
        self.expand = PointwiseConv2d(squeeze_chs, chs, bias=True)
        self.gate = make_gate(gate)

    def forward(self, x: Tensor) -> Tensor:
        """Gate ``x`` channel-wise."""
        scale = x.mean((2, 3), keepdim=True)
        scale = self.reduce(scale)
        scale = self.act(scale)
        scale = self.expand(scale)
        return x * self.gate(scale)


class MBConv(nn.Module):
    """A static MBConv block (timm's InvertedResidual; no expansion conv when expand == 1)."""

    def __init__(self, layer: LayerSpec, activation: str, gate: str, se_activation: str) -> None:
        super().__init__()
        mid = layer.mid_chs
        self.residual = layer.residual
        if layer.expand != 1:
            self.conv_pw: nn.Module = PointwiseConv2d(layer.in_chs, mid)
            self.bn1: nn.Module = nn.BatchNorm2d(mid)
            self.act1: nn.Module = make_activation(activation)
        else:
            self.conv_pw = nn.Identity()
            self.bn1 = nn.Identity()
            self.act1 = nn.Identity()
        padding = layer.kernel // 2
        self.conv_dw = DepthwiseConv2d(mid, layer.kernel, layer.stride, padding)
        self.bn2 = nn.BatchNorm2d(mid)
        self.act2 = make_activation(activation)
        self.se: nn.Module = (
            SqueezeExcite(mid, layer.se_chs, se_activation, gate) if layer.se_chs else nn.Identity()
        )
        self.conv_pwl = PointwiseConv2d(mid, layer.out_chs)
        self.bn3 = nn.BatchNorm2d(layer.out_chs)

    def forward(self, x: Tensor) -> Tensor:
        """Expand, depthwise, SE, project, plus the shortcut when shapes allow."""
        shortcut = x
        x = self.conv_pw(x)
        x = self.bn1(x)
        x = self.act1(x)
        x = self.conv_dw(x)
        x = self.bn2(x)
        x = self.act2(x)
        x = self.se(x)
        x = self.conv_pwl(x)
        x = self.bn3(x)
        if self.residual:
            x = x + shortcut
        return x


class StaticNet(nn.Sequential):
    """A path as a plain sequential network: resize, stem, blocks, head, pool, classifier.

    Attributes:
        path: The path string it was built from.
        resolution: Its input side in pixels.
    """

    def __init__(self, space: SearchSpace, path: Path, *, se_activation: str = "relu") -> None:
        network = expand_path(space, path)
        layers: list[nn.Module] = [Resize(network.resolution)]
        names = ["resize"]
        for layer in network.layers:
            names.append(layer.name.replace(".", "_"))
            if layer.kind == "conv":
                layers.append(
                    nn.Sequential(
                        nn.Conv2d(
                            layer.in_chs, layer.out_chs, layer.kernel, layer.stride,
                            layer.kernel // 2, bias=False,
                        ),
                        nn.BatchNorm2d(layer.out_chs),
                        make_activation(space.activation),
                    )
                )  # fmt: skip
            elif layer.kind == "mbconv":
                layers.append(MBConv(layer, space.activation, space.gate, se_activation))
            else:
                names[-1:] = ["pool", "flatten", "classifier"]
                layers += [
                    nn.AdaptiveAvgPool2d(1),
                    nn.Flatten(1),
                    nn.Linear(layer.in_chs, layer.out_chs),
                ]
        super().__init__(OrderedDict(zip(names, layers, strict=True)))
        self.path = path.encode()
        self.space_name = space.name
        self.resolution = network.resolution


def combine_sides(left: Tensor, right: Tensor) -> Tensor:
    """BCNet's evaluation of a path: the logits of its left and right networks, summed.

    The official tester adds the logits of its two passes (one per side); the sum has the
    argmax of the mean, so top-1 is the same either way, but softmax probabilities are those of
    the sum (twice the mean's logits).
    """
    return left + right


class BilateralAverage(nn.Module):
    """BCNet evaluation as a static module: the logits of the left and right networks, summed.

    (The name is kept from releases that took the mean; the argmax, so top-1, is the same.)
    """

    def __init__(self, left: StaticNet, right: StaticNet) -> None:
        super().__init__()
        self.left = left
        self.right = right
        self.path = left.path
        self.space_name = left.space_name
        self.resolution = left.resolution

    def forward(self, x: Tensor) -> Tensor:
        """The summed logits of both sides (:func:`combine_sides`)."""
        return combine_sides(self.left(x), self.right(x))


def build_static(
    space: SearchSpace, path: Path | str, *, side: str = "left", se_activation: str = "relu"
) -> StaticNet | BilateralAverage:
    """A freshly initialized static network of ``path`` (``side='both'``: a bilateral pair)."""
    if isinstance(path, str):
        path = Path.decode(path)
    if side == "both":
        return BilateralAverage(
            StaticNet(space, path, se_activation=se_activation),
            StaticNet(space, path, se_activation=se_activation),
        )
    if side not in ("left", "right"):
        raise ValueError(f"side {side!r} not in {{left, right, both}}")
    return StaticNet(space, path, se_activation=se_activation)


def save_static(model: StaticNet | BilateralAverage, file: str | os.PathLike[str]) -> None:
    """Save a static network atomically: its path string, space name, kind and state dict."""
    target = FilePath(file)
    payload: dict[str, Any] = {
        "format": _FORMAT,
        "path": model.path,
        "space": model.space_name,
        "side": "both" if isinstance(model, BilateralAverage) else "single",
        "state_dict": model.state_dict(),
    }
    atomic_write(target, lambda temp: torch.save(payload, temp), fsync=True)


def load_static(
    file: str | os.PathLike[str], space: SearchSpace | None = None, *, path: str | None = None
) -> StaticNet | BilateralAverage:
    """Load a network written by :func:`save_static` (``space`` defaults to the saved name).

    Args:
        file: The saved network.
        space: The search space to build it in (default: the one named in the file).
        path: The path string the file must hold (e.g. a family member's); None accepts any.

    Raises:
        ValueError: If the file is not a saved static network, or holds another path.
    """
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{file}: not a readable static network ({error})") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{file}: not a static network saved by scalenet.supernet")
    if path is not None and payload["path"] != path:
        raise ValueError(f"{file}: holds the network of path {payload['path']}, not {path}")
    space = space if space is not None else load_space(payload["space"])
    # A network retrained on another number of classes than its space's (10 ImageFolder classes
    # with the imagenet space; the zoo's num_classes) keeps its classifier's size.
    outputs = {
        int(tensor.shape[0])
        for key, tensor in payload["state_dict"].items()
        if key.endswith("classifier.weight")
    }
    if len(outputs) == 1 and (classes := outputs.pop()) != space.num_classes:
        space = dataclasses.replace(space, num_classes=classes)
    side = "both" if payload["side"] == "both" else "left"
    model = build_static(space, Path.decode(payload["path"]), side=side)
    model.load_state_dict(payload["state_dict"])
    return model
