"""The super-supernet: one weight-sharing network for every base model and scaling strategy.

Sizing (from the space and its scaling space, DESIGN.md "Super-supernet"):

* every stage holds ``ceil(n_max * d_max)`` block slots (eq. 14 at the largest depth);
* every channel dimension holds ``ceil(c * w_max)`` channels (eq. 15 at the largest width) in
  ``left`` and ``bcnet_alternate`` mode, ``ceil(c * w_max) + c`` in ``bcnet`` mode (the official
  code's enlarged super-supernet, :func:`channel_capacity`); the hidden width holds
  ``in * e_max`` of that input capacity, the SE squeeze ``max(1, int(0.25 * in))`` of it;
* every depthwise conv holds the largest kernel; smaller ones are centre crops.

A path activates (:meth:`SuperSupernet.set_active`) a prefix of block slots per stage and a slice
of every channel dimension; the layer shapes are read from :func:`scalenet.space.expand_path`,
never re-derived. ``forward`` resizes the batch to the path's resolution (eq. 16) and runs the
active configuration without changing any module state (BN running statistics aside, in training
mode, as with any BatchNorm).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from scalenet.space import LayerSpec, Path, SearchSpace, expand_path
from scalenet.space.rules import scale_ceil, se_channels
from scalenet.supernet.dynamic.blocks import DynamicMBConv
from scalenet.supernet.dynamic.ops import (
    DynamicBatchNorm2d,
    DynamicConv2d,
    DynamicLinear,
    Side,
    make_activation,
)
from scalenet.supernet.kernels import conv_act, fused_inference
from scalenet.supernet.standalone.static import (
    BilateralAverage,
    StaticNet,
    build_static,
    combine_sides,
    resize_to,
)

__all__ = [
    "BILATERAL_MODES",
    "EVAL_SIDES",
    "WIDTH_MODES",
    "ActiveNetwork",
    "EvalSide",
    "SuperSupernet",
    "WidthMode",
    "channel_capacity",
    "check_width_mode",
]

WidthMode = Literal["bcnet", "bcnet_alternate", "left"]
EvalSide = Literal["left", "right", "both"]
#: ``bcnet``: BCNet as the paper and the official code (enlarged capacity, both sides every step);
#: ``bcnet_alternate``: this package's release 0.1-0.2 ``bcnet`` (capacity ``ceil(c * w_max)``,
#: one side per step, left and right alternating); ``left``: OFA/AutoSlim slicing.
WIDTH_MODES: tuple[str, ...] = ("bcnet", "bcnet_alternate", "left")
#: The width modes whose networks have a right side (and so ``right``/``both`` evaluation).
BILATERAL_MODES: tuple[str, ...] = ("bcnet", "bcnet_alternate")
EVAL_SIDES: tuple[str, ...] = ("left", "right", "both")


def check_width_mode(width_mode: str) -> None:
    """Raise ValueError naming the field and the allowed values if ``width_mode`` is unknown."""
    if width_mode not in WIDTH_MODES:
        raise ValueError(f"width_mode {width_mode!r} not in {{{', '.join(WIDTH_MODES)}}}")


def channel_capacity(base_chs: int, max_width_coef: float, width_mode: str) -> int:
    """Channels the supernet holds for a dimension of ``base_chs`` base channels.

    ``left`` and ``bcnet_alternate``: ``ceil(c * w_max)``, the widest path (eq. 15). ``bcnet``:
    ``ceil(c * w_max) + c``, as the official super-supernet (``oup * max multiplier + oup_base``
    in its model initializer, BCNetV2's enlarged supernet): the left and right slices of a width
    ``a`` in ``[c, ceil(c * w_max)]`` then never reach the other side's outer ``c`` channels,
    and with every width equally likely each channel is in exactly one of the two slices on
    average (measured for the shipped samplers in docs/supernet.md, "Channel share").
    """
    check_width_mode(width_mode)
    widest = scale_ceil(base_chs, max_width_coef)
    return widest + base_chs if width_mode == "bcnet" else widest


@dataclass(frozen=True)
class ActiveNetwork:
    """The active configuration of the supernet (a plain value; forward only reads it).

    Attributes:
        path: The active path.
        side: Channel side(s): ``left``, ``right`` or ``both`` (the sum of both sides' logits).
        resolution: Input side in pixels.
        stem: The stem layer.
        blocks: Per stage, the layers of the active block slots (a prefix of the slots).
        head: The head conv layer.
    """

    path: Path
    side: EvalSide
    resolution: int
    stem: LayerSpec
    blocks: tuple[tuple[LayerSpec, ...], ...]
    head: LayerSpec


class SuperSupernet(nn.Module):
    """The weight-sharing super-supernet of a search space and its scaling space.

    Args:
        space: The search space; its ``scaling`` gives the largest depth and width coefficients.
        width_mode: ``bcnet`` (BCNet as the paper and the official code: enlarged capacity,
            :func:`channel_capacity`; the trainer trains both sides every step),
            ``bcnet_alternate`` (capacity ``ceil(c * w_max)``, one side per step, alternating)
            or ``left`` (OFA/AutoSlim). See :data:`WIDTH_MODES`.
        eval_side: Side used when :meth:`set_active` gets no side: ``both`` (the sum of the
            logits of the left and the right network, as the official tester combines them),
            ``left`` or ``right``. Defaults to ``both`` for the bilateral modes and ``left`` for
            ``left``.
        se_activation: Activation inside SE modules.

    Example:
        >>> net = SuperSupernet(load_space("fmnist"))
        >>> net.set_active(path, side="left")
        >>> logits = net(images)
        >>> static = net.extract(path, side="left")
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        width_mode: str = "bcnet",
        eval_side: str | None = None,
        se_activation: str = "relu",
    ) -> None:
        super().__init__()
        check_width_mode(width_mode)
        if eval_side is None:
            eval_side = "both" if width_mode in BILATERAL_MODES else "left"
        self._check_side(width_mode, eval_side, "eval_side")
        self.space = space
        self.width_mode: WidthMode = width_mode  # type: ignore[assignment]
        self.eval_side: EvalSide = eval_side  # type: ignore[assignment]
        self.se_activation = se_activation
        self.max_depth_coef = max(space.scaling.union("depth"))
        self.max_width_coef = max(space.scaling.union("width"))

        stem_chs = channel_capacity(space.stem_chs, self.max_width_coef, width_mode)
        self.stem_conv = DynamicConv2d(space.in_chs, stem_chs, 3, space.stem_stride)
        self.stem_bn = DynamicBatchNorm2d(stem_chs)
        self.act = make_activation(space.activation)
        stages = []
        blocks_per_stage: list[list[DynamicMBConv]] = []
        in_chs = stem_chs
        for choices in space.stages:
            out_chs = channel_capacity(choices.out_chs, self.max_width_coef, width_mode)
            slots = scale_ceil(choices.max_depth, self.max_depth_coef)
            blocks: list[DynamicMBConv] = []
            for slot in range(slots):
                blocks.append(
                    DynamicMBConv(
                        max_in_chs=in_chs,
                        max_out_chs=out_chs,
                        max_expand=max(choices.expands),
                        max_kernel=max(choices.kernels),
                        stride=choices.stride if slot == 0 else 1,
                        max_squeeze_chs=se_channels(in_chs, space.se_ratio)
                        if True in choices.se
                        else 0,
                        activation=space.activation,
                        gate=space.gate,
                        se_activation=se_activation,
                    )
                )
                in_chs = out_chs
            stages.append(nn.ModuleList(blocks))
            blocks_per_stage.append(blocks)
        self.stages = nn.ModuleList(stages)
        # The same modules, typed, for iteration (a tuple attribute registers nothing).
        self.slots: tuple[tuple[DynamicMBConv, ...], ...] = tuple(
            tuple(stage) for stage in blocks_per_stage
        )
        self.head_conv = DynamicConv2d(in_chs, space.head_chs, 1)
        self.head_bn = DynamicBatchNorm2d(space.head_chs)
        self.classifier = DynamicLinear(space.head_chs, space.num_classes)
        self._active: ActiveNetwork | None = None

    @classmethod
    def from_checkpoint(
        cls, file: str | os.PathLike[str], space: SearchSpace | str | None = None
    ) -> SuperSupernet:
        """A super-supernet with the weights of a training checkpoint (on the CPU).

        Args:
            file: A checkpoint written by :class:`~scalenet.supernet.trainer.SupernetTrainer`.
            space: The space (or its name or YAML file); None: the one the checkpoint names.

        The width mode is the checkpoint's, in today's names
        (:func:`~scalenet.supernet.trainer.checkpoint_width_mode`: a ``bcnet`` checkpoint written
        before that name meant the official BCNet loads as ``bcnet_alternate``).

        Raises:
            CheckpointError: The file is unreadable or not a supernet checkpoint.
        """
        from scalenet.space import load_space
        from scalenet.supernet.engine import Checkpointer
        from scalenet.supernet.trainer import CHECKPOINT_KIND, checkpoint_width_mode

        payload = Checkpointer(file, CHECKPOINT_KIND).load()
        if not isinstance(space, SearchSpace):
            space = load_space(space or payload["space"])
        supernet = cls(space, width_mode=checkpoint_width_mode(payload))
        supernet.load_state_dict(payload["model"])
        return supernet

    @staticmethod
    def _check_side(width_mode: str, side: str, field: str = "side") -> None:
        allowed = EVAL_SIDES if width_mode in BILATERAL_MODES else ("left",)
        if side not in allowed:
            raise ValueError(
                f"{field} {side!r} not in {{{', '.join(allowed)}}} (width_mode {width_mode!r})"
            )

    @property
    def active(self) -> ActiveNetwork | None:
        """The active configuration (None before the first :meth:`set_active`)."""
        return self._active

    def configure(self, path: Path | str, side: str | None = None) -> ActiveNetwork:
        """The configuration of ``path`` (checked against the capacity), without activating it.

        Args:
            path: A path of the space (or its string form).
            side: ``left``, ``right`` or ``both``; None takes :attr:`eval_side`.

        Raises:
            ValueError: If the path does not fit the supernet or the side is not allowed.
        """
        if isinstance(path, str):
            path = Path.decode(path)
        side = self.eval_side if side is None else side
        self._check_side(self.width_mode, side)
        network = expand_path(self.space, path)
        layers = list(network.layers)
        stem, head = layers[0], layers[-2]
        if stem.out_chs > self.stem_conv.max_out_chs:
            raise ValueError(
                f"stem: out_chs {stem.out_chs} > capacity {self.stem_conv.max_out_chs}"
            )
        blocks: list[list[LayerSpec]] = [[] for _ in self.stages]
        for layer in layers[1:-2]:
            stage_name, block_name = layer.name.split(".")
            stage, slot = int(stage_name[5:]) - 1, int(block_name[5:]) - 1
            slots = self.slots[stage]
            if slot >= len(slots):
                raise ValueError(f"{layer.name}: stage {stage + 1} has only {len(slots)} slots")
            slots[slot].check(layer)
            blocks[stage].append(layer)
        return ActiveNetwork(
            path=path,
            side=side,  # type: ignore[arg-type]
            resolution=network.resolution,
            stem=stem,
            blocks=tuple(tuple(stage) for stage in blocks),
            head=head,
        )

    def set_active(self, path: Path | str, side: str | None = None) -> ActiveNetwork:
        """Activate ``path`` for the following forward passes; returns the configuration.

        Args:
            path: The path (or its string form).
            side: Channel side: ``left`` or ``right`` (the trainer takes both in turn within a
                step in ``bcnet`` mode, one per step in ``bcnet_alternate`` mode), ``both`` for
                the sum of both sides' logits; None takes :attr:`eval_side`.
        """
        self._active = self.configure(path, side)
        return self._active

    def forward(self, images: Tensor) -> Tensor:
        """Logits of the active path for ``images`` (resized to the path's resolution)."""
        active = self._active
        if active is None:
            raise RuntimeError("SuperSupernet: call set_active(path) before forward")
        x = self.prepare_input(images, active.resolution)
        if active.side == "both":
            return combine_sides(
                self._forward_side(x, active, "left"), self._forward_side(x, active, "right")
            )
        return self._forward_side(x, active, active.side)

    def prepare_input(self, images: Tensor, resolution: int) -> Tensor:
        """``images`` as :meth:`forward` feeds them to the stem.

        Resized to ``resolution``, and channels-last when the model is: a channels-last model
        (the trainers' default) gets channels-last batches, since oneDNN would otherwise
        reorder every activation (docs/running.md, "CPU performance"). Prepared batches pass
        through :meth:`forward` unchanged (the path evaluator keeps them).
        """
        x = resize_to(images, resolution)
        if self.stem_conv.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _forward_side(self, x: Tensor, active: ActiveNetwork, side: Side) -> Tensor:
        if not self.training and fused_inference(x):
            return self._forward_folded(x, active, side)
        x = self.stem_conv(x, active.stem.out_chs, side)
        x = self.stem_bn(x, side, self.act)
        for slots, layers in zip(self.slots, active.blocks, strict=True):
            for slot, layer in zip(slots, layers, strict=False):
                x = slot(x, layer, side)
        x = self.head_conv(x, active.head.out_chs, side)
        x = self.head_bn(x, side, self.act)
        x = x.mean((2, 3))
        return self.classifier(x, side)

    def _forward_folded(self, x: Tensor, active: ActiveNetwork, side: Side) -> Tensor:
        """Eval mode without gradients on the CPU: BNs folded, activations fused (1.4-1.6x)."""
        stem, head = active.stem, active.head
        weight, bias = self.stem_bn.fold(
            self.stem_conv.active_weight(stem.in_chs, stem.out_chs, side), side
        )
        x = conv_act(
            x, weight, bias, self.stem_conv.stride, self.stem_conv.kernel // 2, 1, self.act
        )
        for slots, layers in zip(self.slots, active.blocks, strict=True):
            for slot, layer in zip(slots, layers, strict=False):
                x = slot.forward_folded(x, layer, side)
        weight, bias = self.head_bn.fold(
            self.head_conv.active_weight(head.in_chs, head.out_chs, side), side
        )
        x = conv_act(x, weight, bias, 1, 0, 1, self.act)
        return self.classifier(x.mean((2, 3)), side)

    def extract(self, path: Path | str, side: str | None = None) -> StaticNet | BilateralAverage:
        """A standalone static network of ``path`` holding copies of the inherited weights.

        In eval mode its logits equal the supernet's for the same path and side. With
        ``side='both'`` it is a :class:`BilateralAverage` of the left and right networks (their
        logits summed, :func:`~scalenet.supernet.standalone.static.combine_sides`).

        Args:
            path: The path (or its string form).
            side: As in :meth:`set_active`.
        """
        active = self.configure(path, side)
        device = self.classifier.weight.device
        model = build_static(
            self.space, active.path, side=active.side, se_activation=self.se_activation
        )
        if isinstance(model, BilateralAverage):
            self._copy_into(model.left, active, "left")
            self._copy_into(model.right, active, "right")
        else:
            self._copy_into(model, active, active.side)  # type: ignore[arg-type]
        return model.to(device).train(self.training)

    @torch.no_grad()
    def _copy_into(self, model: StaticNet, active: ActiveNetwork, side: Side) -> None:
        """Fill ``model`` (built for ``active``) with the active slices, layer by layer."""
        children: list[Any] = list(model.children())[1:]  # after Resize
        stem, *blocks, head, _pool, _flatten, classifier = children
        self.stem_conv.to_static(stem[0], active.stem.in_chs, active.stem.out_chs, side)
        self.stem_bn.to_static(stem[1], active.stem.out_chs, side)
        layers = [layer for stage in active.blocks for layer in stage]
        slots: list[DynamicMBConv] = [
            slot
            for stage, n in zip(self.slots, active.blocks, strict=True)
            for slot in stage[: len(n)]
        ]
        for static, slot, layer in zip(blocks, slots, layers, strict=True):
            slot.to_static(static, layer, side)
        self.head_conv.to_static(head[0], active.head.in_chs, active.head.out_chs, side)
        self.head_bn.to_static(head[1], active.head.out_chs, side)
        self.classifier.to_static(classifier, active.head.out_chs, side)
