"""Super-supernet training: one sampled path per batch (DESIGN.md "Super-supernet").

Each step draws a path from the sampler with a generator seeded identically on every rank (so
all DDP ranks activate the same path without communication), activates it on the step's channel
sides (:func:`train_sides`: ``bcnet`` trains the left and then the right network of the path in
one step, a forward and backward pass each with half the loss, as BCNet's objective and the
official trainer with ``asyn: False``; ``bcnet_alternate`` one side per step, left on even and
right on odd steps; ``left`` the left side), resizes the batch to the path's resolution and takes
one SGD step. The optimizer is SGD (momentum 0.9, Nesterov) with weight decay on weights only,
the lr rises linearly then follows a cosine (:func:`scalenet.supernet.engine.warmup_cosine`), the
loss is label-smoothed cross-entropy, autocast uses bf16 on GPU (optional on CPU). The model and
the batches are channels-last on every device by default (1.3-1.5x on the CPU, where oneDNN's
depthwise and pointwise kernels prefer it; docs/running.md, "CPU performance").

The loop itself (resume or fresh start, metrics, progress bar, periodic checkpoints, the kill
hook of the tests) is :class:`scalenet.supernet.engine.TrainingLoop`, shared with the retraining
trainer. Checkpoints (atomic, every ``checkpoint_every`` iterations and at the end) hold the
model, optimizer, scheduler, the sampler generator's state, the torch RNG, the data order and the
iteration: a run killed at any point and restarted with the same arguments reaches the same
final weights as an uninterrupted one (CPU, same seed).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from scalenet.sampling import PathSource
from scalenet.space import Path
from scalenet.supernet.dynamic.model import SuperSupernet, check_width_mode
from scalenet.supernet.dynamic.ops import SIDES, Side
from scalenet.supernet.engine import (
    CheckpointError,
    DistContext,
    LoopConfig,
    LoopResult,
    LoopTrainer,
    ResumableBatches,
    allreduce_gradients,
    batches_state,
    broadcast_module,
    capture_rng,
    check_finite,
    param_groups,
    restore_rng,
    warmup_cosine,
)

__all__ = [
    "AMP_MODES",
    "CHECKPOINT_KIND",
    "GRADIENT_SYNCS",
    "KILL_ENV",
    "WIDTH_MODES_REVISION",
    "PathSource",
    "ResumableBatches",
    "SupernetTrainer",
    "TrainConfig",
    "TrainResult",
    "checkpoint_width_mode",
    "train_sides",
]

CHECKPOINT_KIND = "supernet"
AMP_MODES = ("auto", "bf16", "off")
GRADIENT_SYNCS = ("auto", "allreduce", "ddp")
#: Test hook: the process sends itself SIGKILL right after this iteration (resume tests).
KILL_ENV = "SCALENET_SUPERNET_SIGKILL_AT"
#: Meaning of the width-mode names a checkpoint records (its ``width_modes_revision``): 2 since
#: ``bcnet`` became the official BCNet; checkpoints without the field are of revision 1, whose
#: ``bcnet`` is today's ``bcnet_alternate`` (same weights layout).
WIDTH_MODES_REVISION = 2


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of super-supernet training (supplementary A defaults where they apply).

    Attributes:
        iterations: Total optimizer steps.
        lr: Peak learning rate (after warm-up).
        warmup: Warm-up iterations (linear from 0).
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: Decay of conv/linear weights (none on BN and biases).
        label_smoothing: Cross-entropy label smoothing.
        amp: ``auto`` (bf16 on GPU, off on CPU), ``bf16`` or ``off``.
        channels_last: Channels-last memory format for the model and the batches (``None``: yes,
            on the CPU and the GPU; ``False``: the contiguous NCHW format of earlier releases).
        max_grad_norm: Clip gradients to this norm (None: no clipping; the norm is still checked).
        gradient_sync: How several processes average gradients: ``allreduce`` (one flat
            all-reduce of the gradients the step's path produced,
            :func:`~.engine.allreduce_gradients`), ``ddp`` (DistributedDataParallel with
            ``find_unused_parameters``, which overlaps the reduction with the backward pass) or
            ``auto`` (``ddp`` on GPUs, ``allreduce`` on CPUs).
        checkpoint_every: Iterations between checkpoints (0: only at the end).
        log_every: Iterations between metric records.
        seed: Seed of the path generator (shared by all ranks) and of torch.
        progress: Show a progress bar on rank 0.
    """

    iterations: int
    lr: float = 0.12
    warmup: int = 0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    amp: str = "auto"
    channels_last: bool | None = None
    max_grad_norm: float | None = None
    gradient_sync: str = "auto"
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if self.warmup < 0 or self.checkpoint_every < 0 or self.log_every < 1:
            raise ValueError("warmup and checkpoint_every must be >= 0, log_every >= 1")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp {self.amp!r} not in {{{', '.join(AMP_MODES)}}}")
        if self.gradient_sync not in GRADIENT_SYNCS:
            raise ValueError(
                f"gradient_sync {self.gradient_sync!r} not in {{{', '.join(GRADIENT_SYNCS)}}}"
            )
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class TrainResult(LoopResult):
    """What a finished supernet run reports (the fields of :class:`~.engine.LoopResult`)."""


def train_sides(width_mode: str, iteration: int) -> tuple[Side, ...]:
    """The channel sides trained, in order, by the step at ``iteration``.

    ``bcnet``: ``("left", "right")`` every step (BCNet's loss is the mean of both sides');
    ``bcnet_alternate``: ``("left",)`` on even and ``("right",)`` on odd iterations; ``left``:
    ``("left",)``.

    Raises:
        ValueError: If ``width_mode`` is not one of :data:`~.model.WIDTH_MODES`.
    """
    check_width_mode(width_mode)
    if width_mode == "bcnet":
        return SIDES
    if width_mode == "bcnet_alternate":
        return (SIDES[iteration % 2],)
    return ("left",)


def checkpoint_width_mode(payload: Mapping[str, Any]) -> str:
    """The width mode a supernet checkpoint was trained in, in today's names.

    A checkpoint of revision 1 (no ``width_modes_revision``: written before ``bcnet`` meant the
    official BCNet) that says ``bcnet`` was trained by what is now ``bcnet_alternate`` (same
    weight shapes); it loads as that mode.
    """
    mode = str(payload["width_mode"])
    if payload.get("width_modes_revision", 1) < 2 and mode == "bcnet":
        return "bcnet_alternate"
    return mode


class SupernetTrainer(LoopTrainer):
    """Trains a :class:`SuperSupernet` with one sampled path per batch.

    Args:
        supernet: The super-supernet (moved to the context's device here).
        sampler: Draws the path of each step.
        batches: An iterable of ``(images, labels)``, re-iterated every epoch; if it has
            ``state_dict``/``load_state_dict`` its position is checkpointed (exact resume).
        config: Hyper-parameters.
        out_dir: Receives ``checkpoint.pt`` and ``metrics.jsonl``.
        context: Distributed context (single CPU/GPU process by default).
        fingerprint: Resume only a checkpoint made with these settings (``TrainingLoop``).
        name: The label of the resume or start-over line (default ``supernet``).
        loggers: Where the metrics go besides ``metrics.jsonl`` (default ``("csv",)``).
    """

    def __init__(
        self,
        supernet: SuperSupernet,
        sampler: PathSource,
        batches: Iterable[tuple[Tensor, Tensor]],
        config: TrainConfig,
        out_dir: str | os.PathLike[str],
        context: DistContext | None = None,
        *,
        fingerprint: Mapping[str, Any] | None = None,
        name: str | None = None,
        loggers: Iterable[str] = ("csv",),
    ) -> None:
        self.context = context or DistContext()
        self.config = config
        self.supernet = supernet
        self.sampler = sampler
        self.batches = batches
        self.out_dir = FilePath(out_dir)
        device = self.context.device
        self.channels_last = config.channels_last is not False
        self.amp = config.amp == "bf16" or (config.amp == "auto" and device.type == "cuda")
        supernet.to(device)
        if self.channels_last:
            supernet.to(memory_format=torch.channels_last)
        self.model: nn.Module = supernet
        sync = config.gradient_sync
        if sync == "auto":
            sync = "ddp" if device.type == "cuda" else "allreduce"
        self.allreduce = self.context.distributed and sync == "allreduce"
        if self.allreduce:
            broadcast_module(supernet, self.context)  # rank 0's initial weights, as DDP does
        elif self.context.distributed:
            # 1x1 convolutions of a channels-last model have two valid stride layouts; DDP warns
            # once per process that its bucket copy then costs a little (measured: nothing).
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
            self.model = DistributedDataParallel(
                supernet,
                device_ids=[device.index] if device.type == "cuda" else None,
                # blocks and SE modules outside the active path get no gradient
                find_unused_parameters=True,
            )
        self.optimizer = torch.optim.SGD(
            param_groups(supernet, config.weight_decay),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: warmup_cosine(step, config.iterations, config.warmup)
        )
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.path_rng = np.random.default_rng(config.seed)
        self.open_loop(
            self.out_dir, CHECKPOINT_KIND, self.context,
            fingerprint=fingerprint, name=name, loggers=loggers,
        )  # fmt: skip

    # -- checkpoints -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything an exact resume needs (the iteration is added by the checkpointer)."""
        return {
            "model": self.supernet.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": capture_rng({"path": self.path_rng}),
            "data": batches_state(self.batches),
            "space": self.supernet.space.name,
            "width_mode": self.supernet.width_mode,
            "width_modes_revision": WIDTH_MODES_REVISION,
            "config": json.dumps(asdict(self.config)),
        }

    def load(self) -> int:
        """Restore the checkpoint of ``out_dir``; returns its iteration.

        Raises:
            CheckpointError: If it is corrupted or belongs to another space or width mode.
        """

        def restore(payload: dict[str, Any]) -> None:
            mine, theirs = self.supernet.width_mode, checkpoint_width_mode(payload)
            if theirs != mine:
                renamed = " (saved as 'bcnet' before that name meant the official BCNet)"
                raise CheckpointError(
                    f"checkpoint has width_mode {theirs!r}"
                    f"{renamed if payload['width_mode'] != theirs else ''}, this run {mine!r}; "
                    f"train with width_mode {theirs!r} to resume it"
                )
            self.supernet.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scheduler.load_state_dict(payload["scheduler"])
            restore_rng(payload["rng"], {"path": self.path_rng})

        # The width mode is checked by restore: a checkpoint's name may be of revision 1.
        identity = {"space": self.supernet.space.name}
        return self.loop.load(restore, identity=identity, batches=self.batches)

    # -- training --------------------------------------------------------------------------------

    def step(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Path]:
        """One optimizer step on a freshly sampled path; returns the detached loss and the path.

        The loss is the mean over the step's sides (:func:`train_sides`); each side has its own
        forward and backward pass (the gradients add up before the one optimizer step).
        """
        iteration = self.iteration
        path = self.sampler.sample(self.path_rng)
        sides = train_sides(self.supernet.width_mode, iteration)
        device = self.context.device
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if self.amp else nullcontext()
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.zeros((), device=device)
        for index, side in enumerate(sides):
            self.supernet.set_active(path, side)
            # DDP reduces once, in the last side's backward: both sides use the same parameters
            # (slices of them), so the unused-parameter search of the last pass holds for all.
            last = index == len(sides) - 1
            no_sync = isinstance(self.model, DistributedDataParallel) and not last
            with self.model.no_sync() if no_sync else nullcontext():  # type: ignore[operator]
                with autocast:
                    logits = self.model(images)
                    side_loss = self.criterion(logits.float(), labels) / len(sides)
                side_loss.backward()
            loss = loss + side_loss.detach()
        if self.allreduce:
            allreduce_gradients(self.supernet.parameters(), self.context)
        max_norm = self.config.max_grad_norm if self.config.max_grad_norm else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), max_norm)
        finite = torch.isfinite(loss.detach()) & torch.isfinite(grad_norm)
        if not bool(finite):
            check_finite("loss", loss, iteration, f"path {path.encode()}")
            check_finite("gradient norm", grad_norm, iteration, f"path {path.encode()}")
        self.optimizer.step()
        self.scheduler.step()
        self.iteration += 1
        return loss.detach(), path

    def _record(self, iteration: int) -> dict[str, Any]:
        """The supernet's fields of a metrics record: the last step's path and resolution."""
        active = self.supernet.active
        return {
            "resolution": active.resolution if active else 0,
            "path": active.path.encode() if active else "",
        }

    def run(self, *, resume: bool = True) -> TrainResult:
        """Train until ``config.iterations`` (resuming from ``out_dir`` when a checkpoint is there).

        Args:
            resume: False refuses to reuse an existing checkpoint (raises instead of overwriting).

        Raises:
            CheckpointError: A checkpoint is there but unusable (or ``resume`` is False).
            NonFiniteError: The loss or the gradient norm became NaN/inf.
        """
        config = self.config
        loop_config = LoopConfig.of(
            config, total=config.iterations, desc="supernet", kill_env=KILL_ENV
        )
        result = self.loop.run(
            loop_config,
            step=lambda images, labels: self.step(images, labels)[0],
            batches=self.batches,
            state=self.state,
            load=self.load,
            lr=lambda: float(self.scheduler.get_last_lr()[0]),
            record=self._record,
            model=self.model,
            resume=resume,
        )
        return TrainResult(**asdict(result))
