"""Retraining and fine-tuning of static networks (supplementary A), plus their evaluation.

The recipe (EfficientNet's, as the paper retrains its searched models):

* RMSProp, TF style: ``torch.optim.RMSprop(alpha=0.9, momentum=0.9)``. TensorFlow divides by
  ``sqrt(v + eps_tf)``, PyTorch by ``sqrt(v) + eps``; with the paper's ``eps_tf = 1e-3`` the two
  bound the step the same way when ``v`` is small for ``eps = sqrt(eps_tf) ~= 0.0316``
  (:func:`torch_rmsprop_eps`; ``RetrainConfig.eps_style='torch'`` passes ``eps`` unchanged);
* weight decay 1e-5 on conv / linear weights only (:func:`scalenet.supernet.engine.param_groups`);
* lr 0.08 per 1024 images, scaled linearly with the global batch size; linear warm-up over
  ``warmup_epochs`` (3), then x0.97 every 2.4 epochs (:func:`warmup_step_decay`);
* EMA of the weights and BN buffers (``torch.optim.swa_utils.AveragedModel`` with
  ``get_ema_multi_avg_fn``; 0.9999 on ImageNet, ~0.99 on small data, None: no EMA), with TF's
  ``num_updates`` warm-up ``decay_t = min(decay, (1 + t) / (10 + t))`` (:func:`ema_avg_fn`) so
  short runs are not dominated by the initial weights;
* label smoothing 0.1, dropout before the classifier, optional RandAugment
  (``torchvision.transforms.v2.RandAugment``, per image, on the uint8 images recovered from the
  normalized batch); the input is resized to the path's resolution by the network itself.

The loop is the supernet trainer's :class:`scalenet.supernet.engine.TrainingLoop` (resume or
fresh start, atomic checkpoints with RNG states, JSON-lines metrics, throughput, progress bar, the
kill hook of the tests), with the engine's distributed context, parameter groups and non-finite
guard: a run killed at any point and restarted with the same arguments reaches the same weights.
Fine-tuning (supplementary A, "Fine-tuning tasks") is the same recipe without EMA on a retrained
backbone with a new classifier (:func:`scalenet.supernet.standalone.zoo.finetune`,
:meth:`RetrainConfig.finetuning`).

:meth:`Retrainer.recalibrate_bn` re-estimates the final weights' BN statistics after training.
Evaluation (:func:`evaluate_model`): top-1, top-5 (with >= 5 classes), FLOPs, parameters and the
median CPU latency at batch 1 (:func:`cpu_latency_ms`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path as FilePath
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from scalenet.supernet.bn import recalibrate_bn
from scalenet.supernet.engine import (
    DistContext,
    LoopConfig,
    LoopResult,
    LoopTrainer,
    batches_state,
    capture_rng,
    check_finite,
    param_groups,
    restore_rng,
)
from scalenet.supernet.standalone.static import StaticNet, save_static
from scalenet.supernet.standalone.zoo import counted_flops, num_params, set_dropout
from scalenet.supernet.trainer import AMP_MODES

__all__ = [
    "CHECKPOINT_KIND",
    "EPS_STYLES",
    "KILL_ENV",
    "RetrainConfig",
    "RetrainResult",
    "Retrainer",
    "accuracy",
    "cpu_latency_ms",
    "ema_avg_fn",
    "evaluate_model",
    "randaugment",
    "torch_rmsprop_eps",
    "warmup_step_decay",
]

CHECKPOINT_KIND = "retrain"
EPS_STYLES = ("tf", "torch")
#: Test hook: the process sends itself SIGKILL right after this iteration (resume tests).
KILL_ENV = "SCALENET_RETRAIN_SIGKILL_AT"

Batches = Iterable[tuple[Tensor, Tensor]]


def torch_rmsprop_eps(eps: float, style: str = "tf") -> float:
    """PyTorch's RMSprop ``eps`` for a TF-style ``eps`` (inside the square root): ``sqrt(eps)``.

    ``style='torch'`` returns ``eps`` unchanged.
    """
    if style not in EPS_STYLES:
        raise ValueError(f"eps_style {style!r} not in {{{', '.join(EPS_STYLES)}}}")
    return math.sqrt(eps) if style == "tf" else eps


def warmup_step_decay(iteration: int, warmup: int, decay_every: float, rate: float) -> float:
    """The lr factor: linear 0 -> 1 over ``warmup`` iterations, then ``rate ** floor(i / every)``.

    The staircase counts from iteration 0 (as timm's step scheduler), the warm-up overrides it.
    """
    if warmup > 0 and iteration < warmup:
        return (iteration + 1) / warmup
    return float(rate ** math.floor(iteration / max(decay_every, 1e-9)))


def ema_avg_fn(decay: float, warmup: bool = True) -> Callable[..., None]:
    """An ``AveragedModel`` ``multi_avg_fn``: torch's EMA, with TF's ``num_updates`` warm-up.

    With ``warmup`` the decay of update ``t`` (0-based count of previous averages) is
    ``min(decay, (1 + t) / (10 + t))`` as ``tf.train.ExponentialMovingAverage(num_updates=step)``
    in the EfficientNet recipe; otherwise it is ``decay`` throughout.
    """
    if not warmup:
        return get_ema_multi_avg_fn(decay)

    def average(averaged: Any, current: Any, num_averaged: Tensor | int) -> None:
        step = int(num_averaged)
        get_ema_multi_avg_fn(min(decay, (1 + step) / (10 + step)))(averaged, current, num_averaged)

    return average


@dataclass(frozen=True)
class RetrainConfig:
    """Hyper-parameters of retraining (supplementary A defaults).

    Attributes:
        epochs: Training epochs (fractions allowed; iterations = ceil(epochs * batches/epoch)).
        batch_size: Global batch size (all ranks), for the linear lr scaling.
        lr_per_1024: Peak lr per 1024 images (0.08 scaled by ``batch_size / 1024``).
        warmup_epochs: Linear warm-up length.
        decay_epochs: Epochs between two lr decays.
        decay_rate: Factor of each decay.
        weight_decay: L2 on conv / linear weights (none on BN and biases).
        alpha: RMSProp squared-gradient decay (TF ``decay``).
        momentum: RMSProp momentum.
        eps: RMSProp epsilon, TF convention unless ``eps_style='torch'``.
        eps_style: ``tf`` (``eps`` inside the square root, mapped by :func:`torch_rmsprop_eps`) or
            ``torch``.
        ema_decay: EMA decay per step (None: no EMA, the fine-tuning recipe).
        ema_warmup: Warm the EMA decay up as TF's ``num_updates`` does (:func:`ema_avg_fn`).
        label_smoothing: Cross-entropy label smoothing.
        drop_rate: Dropout before the classifier.
        randaugment: Apply RandAugment (needs torchvision).
        randaugment_ops: RandAugment ``num_ops``.
        randaugment_magnitude: RandAugment ``magnitude`` (0..30).
        amp: ``auto`` (bf16 on GPU), ``bf16`` or ``off``.
        channels_last: Channels-last memory format for the network and the batches (``None``:
            yes, on every device; ``False``: NCHW).
        max_grad_norm: Gradient clipping norm (None: none; the norm is still checked).
        checkpoint_every: Iterations between checkpoints (0: only at the end).
        log_every: Iterations between metric records.
        seed: Seed of torch (initialization order, dropout, RandAugment).
        progress: Show a progress bar on rank 0.
    """

    epochs: float
    batch_size: int
    lr_per_1024: float = 0.08
    warmup_epochs: float = 3.0
    decay_epochs: float = 2.4
    decay_rate: float = 0.97
    weight_decay: float = 1e-5
    alpha: float = 0.9
    momentum: float = 0.9
    eps: float = 1e-3
    eps_style: str = "tf"
    ema_decay: float | None = 0.9999
    ema_warmup: bool = True
    label_smoothing: float = 0.1
    drop_rate: float = 0.2
    randaugment: bool = False
    randaugment_ops: int = 2
    randaugment_magnitude: int = 9
    amp: str = "auto"
    channels_last: bool | None = None
    max_grad_norm: float | None = None
    checkpoint_every: int = 200
    log_every: int = 10
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr_per_1024 <= 0 or self.decay_epochs <= 0 or not 0 < self.decay_rate <= 1:
            raise ValueError("lr_per_1024 and decay_epochs must be > 0, decay_rate in (0, 1]")
        if self.warmup_epochs < 0 or self.checkpoint_every < 0 or self.log_every < 1:
            raise ValueError("warmup_epochs and checkpoint_every must be >= 0, log_every >= 1")
        if self.eps_style not in EPS_STYLES:
            raise ValueError(f"eps_style {self.eps_style!r} not in {{{', '.join(EPS_STYLES)}}}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp {self.amp!r} not in {{{', '.join(AMP_MODES)}}}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {self.ema_decay}")
        if not 0 <= self.drop_rate < 1:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate}")

    @property
    def lr(self) -> float:
        """Peak lr: ``lr_per_1024 * batch_size / 1024``."""
        return self.lr_per_1024 * self.batch_size / 1024

    def finetuning(self, **changes: Any) -> RetrainConfig:
        """The fine-tuning recipe: this one without EMA (plus ``changes``)."""
        return dataclasses.replace(self, ema_decay=None, **changes)


@dataclass(frozen=True)
class RetrainResult(LoopResult):
    """What a finished retraining run reports (the fields of :class:`~.engine.LoopResult`)."""


def randaugment(
    mean: float, std: float, num_ops: int = 2, magnitude: int = 9
) -> Callable[[Tensor], Tensor]:
    """A batch transform: RandAugment on each image of a normalized float batch.

    The batch is mapped back to ``uint8`` (``round(x * std + mean) * 255``: exact for images that
    were ``uint8``), each image gets its own random ops (torchvision's global torch RNG, which the
    checkpoints capture), then it is normalized again.

    Raises:
        ImportError: If torchvision is not installed.
    """
    try:
        from torchvision.transforms import v2
    except ImportError:
        raise ImportError(
            "randaugment needs torchvision: pip install 'scalenet-supernet[augment]' "
            "(or pip install torchvision)"
        ) from None
    transform = v2.RandAugment(num_ops=num_ops, magnitude=magnitude)

    def apply(images: Tensor) -> Tensor:
        raw = (images * std + mean).mul(255.0).round().clamp(0, 255).to(torch.uint8)
        augmented = torch.stack([transform(image) for image in raw])
        return augmented.float().div(255.0).sub(mean).div(std)

    return apply


class Retrainer(LoopTrainer):
    """Trains a static network with the retraining (or fine-tuning) recipe.

    Args:
        model: The static network (dropout from ``config.drop_rate`` is set here).
        batches: Training ``(images, labels)`` batches, re-iterated every epoch; needs ``len``;
            its position is checkpointed when it has ``state_dict``/``load_state_dict``.
        config: Hyper-parameters.
        out_dir: Receives ``checkpoint.pt``, ``metrics.jsonl`` and ``model.pt`` (the final weights,
            EMA when enabled, as :func:`~scalenet.supernet.standalone.static.save_static`).
        context: Distributed context (single process by default).
        augment: A batch transform applied to the images (e.g. :func:`randaugment`); by default
            RandAugment with the data's normalization when ``config.randaugment`` is set.
        fingerprint: Resume only a checkpoint made with these settings (``TrainingLoop``).
        name: The label of the resume or start-over line (default ``retrain``).
        loggers: Where the metrics go besides ``metrics.jsonl`` (default ``("csv",)``).
    """

    def __init__(
        self,
        model: StaticNet,
        batches: Batches,
        config: RetrainConfig,
        out_dir: str | os.PathLike[str],
        context: DistContext | None = None,
        augment: Callable[[Tensor], Tensor] | None = None,
        *,
        fingerprint: Mapping[str, Any] | None = None,
        name: str | None = None,
        loggers: Iterable[str] = ("csv",),
    ) -> None:
        self.context = context or DistContext()
        self.config = config
        self.net = set_dropout(model, config.drop_rate)
        self.batches = batches
        self.out_dir = FilePath(out_dir)
        try:
            self.steps_per_epoch = len(batches)  # type: ignore[arg-type]
        except TypeError:
            raise ValueError("batches need a length (batches per epoch)") from None
        if self.steps_per_epoch < 1:
            raise ValueError("the training batches are empty")
        self.iterations = max(1, math.ceil(config.epochs * self.steps_per_epoch))
        device = self.context.device
        self.amp = config.amp == "bf16" or (config.amp == "auto" and device.type == "cuda")
        self.net.to(device)
        self.channels_last = config.channels_last is not False
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.model: nn.Module = self.net
        if self.context.distributed:
            self.model = DistributedDataParallel(
                self.net, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.optimizer = torch.optim.RMSprop(
            param_groups(self.net, config.weight_decay),
            lr=config.lr,
            alpha=config.alpha,
            eps=torch_rmsprop_eps(config.eps, config.eps_style),
            momentum=config.momentum,
        )
        warmup = round(config.warmup_epochs * self.steps_per_epoch)
        decay_every = config.decay_epochs * self.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: warmup_step_decay(step, warmup, decay_every, config.decay_rate),
        )
        self.ema: AveragedModel | None = None
        if config.ema_decay is not None:
            self.ema = AveragedModel(
                self.net,
                multi_avg_fn=ema_avg_fn(config.ema_decay, config.ema_warmup),
                use_buffers=True,
            )
        if augment is None and config.randaugment:
            data = getattr(batches, "data", None)
            mean, std = (data.mean, data.std) if data is not None else (0.5, 0.5)
            augment = randaugment(mean, std, config.randaugment_ops, config.randaugment_magnitude)
        self.augment = augment
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.open_loop(
            self.out_dir, CHECKPOINT_KIND, self.context,
            fingerprint=fingerprint, name=name, loggers=loggers,
        )  # fmt: skip

    @property
    def final_model(self) -> StaticNet:
        """The network to evaluate and export: the EMA copy when EMA is on, else the trained one."""
        if self.ema is not None:
            module = self.ema.module
            assert isinstance(module, StaticNet)
            return module
        return self.net

    # -- checkpoints -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything an exact resume needs (the iteration is added by the checkpointer)."""
        return {
            "model": self.net.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": capture_rng(),
            "data": batches_state(self.batches),
            "path": self.net.path,
            "space": self.net.space_name,
            "config": json.dumps(asdict(self.config)),
        }

    def load(self) -> int:
        """Restore the checkpoint of ``out_dir``; returns its iteration.

        Raises:
            CheckpointError: If it is corrupted or belongs to another path.
        """

        def restore(payload: dict[str, Any]) -> None:
            self.net.load_state_dict(payload["model"])
            if self.ema is not None:
                self.ema.load_state_dict(payload["ema"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scheduler.load_state_dict(payload["scheduler"])
            restore_rng(payload["rng"])

        return self.loop.load(restore, identity={"path": self.net.path}, batches=self.batches)

    # -- training --------------------------------------------------------------------------------

    def step(self, images: Tensor, labels: Tensor) -> Tensor:
        """One optimizer step (plus the EMA update); returns the detached loss."""
        device = self.context.device
        if self.augment is not None:
            images = self.augment(images)
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if self.amp else nullcontext()
        with autocast:
            loss = self.criterion(self.model(images).float(), labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = self.config.max_grad_norm if self.config.max_grad_norm else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), max_norm)
        if not bool(torch.isfinite(loss.detach()) & torch.isfinite(grad_norm)):
            check_finite("loss", loss, self.iteration, f"path {self.net.path}")
            check_finite("gradient norm", grad_norm, self.iteration, f"path {self.net.path}")
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.net)
        self.iteration += 1
        return loss.detach()

    def run(self, *, resume: bool = True) -> RetrainResult:
        """Train for ``config.epochs`` (resuming from ``out_dir`` when a checkpoint is there).

        Args:
            resume: False refuses to reuse an existing checkpoint (raises instead of overwriting).

        Raises:
            CheckpointError: A checkpoint is there but unusable (or ``resume`` is False).
            NonFiniteError: The loss or the gradient norm became NaN/inf.
        """
        config = self.config
        loop_config = LoopConfig.of(
            config, total=self.iterations, desc="retrain", kill_env=KILL_ENV
        )
        result = self.loop.run(
            loop_config,
            step=self.step,
            batches=self.batches,
            state=self.state,
            load=self.load,
            lr=lambda: float(self.scheduler.get_last_lr()[0]),
            record=lambda done: {"epoch": round(done / self.steps_per_epoch, 4)},
            model=self.model,
            resume=resume,
        )
        if self.context.is_main:
            save_static(self.final_model, self.out_dir / "model.pt")
        return RetrainResult(**asdict(result))

    def recalibrate_bn(self, num_batches: int) -> int:
        """Re-estimate the BN statistics of :attr:`final_model` and save it again ("precise BN").

        After a short schedule the running averages lag the weights so far that evaluation
        collapses to one class; :func:`~scalenet.supernet.bn.recalibrate_bn` replaces them by the
        exact mean over the next ``num_batches`` training batches (the same batches on every
        run: the data position is in the checkpoint) and ``out_dir/model.pt`` is rewritten
        (main rank). 0 changes nothing.

        Returns:
            The number of batches used.
        """
        used = recalibrate_bn(self.final_model, self.batches, num_batches)
        if used and self.context.is_main:
            save_static(self.final_model, self.out_dir / "model.pt")
        return used


# -- evaluation ------------------------------------------------------------------------------------


@torch.no_grad()
def accuracy(
    model: nn.Module,
    batches: Batches,
    topk: tuple[int, ...] = (1, 5),
    *,
    keep_predictions: bool = False,
) -> dict[str, Any]:
    """Top-k accuracies (in [0, 1]) of ``model`` in eval mode over ``batches``.

    ``k`` larger than the number of classes is skipped. With ``keep_predictions`` the result also
    has ``predictions`` and ``labels``: the top-1 class and the label of every image, in batch
    order (what a paired comparison of two models on the same images needs).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct: dict[int, int] = {}
    predicted: list[Tensor] = []
    targets: list[Tensor] = []
    total = 0
    try:
        for images, labels in batches:
            logits = model(images.to(device))
            labels = labels.to(device)
            kept = [k for k in topk if k <= logits.shape[1]]
            ranked = logits.topk(max(kept), dim=1).indices
            hits = ranked == labels[:, None]
            for k in kept:
                correct[k] = correct.get(k, 0) + int(hits[:, :k].any(dim=1).sum())
            if keep_predictions:
                predicted.append(ranked[:, 0].cpu())
                targets.append(labels.cpu())
            total += len(labels)
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("no evaluation images")
    result: dict[str, Any] = {f"top{k}": value / total for k, value in sorted(correct.items())}
    if keep_predictions:
        result["predictions"] = torch.cat(predicted).tolist()
        result["labels"] = torch.cat(targets).tolist()
    return result


@torch.no_grad()
def cpu_latency_ms(
    model: nn.Module, resolution: int, *, repeats: int = 30, warmup: int = 5, threads: int = 1
) -> float:
    """Median wall time (ms) of one forward at batch 1 on the CPU, with ``threads`` threads.

    The model is copied to the CPU (the original is left where it is).
    """
    import copy

    cpu_model = copy.deepcopy(model).cpu().eval()
    images = torch.randn(1, 3, resolution, resolution)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for _ in range(warmup):
            cpu_model(images)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            cpu_model(images)
            times.append((time.perf_counter() - start) * 1000)
    finally:
        torch.set_num_threads(previous)
    return float(statistics.median(times))


def evaluate_model(
    model: StaticNet,
    batches: Batches,
    *,
    latency_repeats: int = 30,
    threads: int = 1,
    keep_predictions: bool = False,
) -> dict[str, Any]:
    """Top-1 (and top-5 with >= 5 classes) on ``batches``, FLOPs, params and CPU latency.

    Returns:
        ``{path, resolution, top1, [top5], flops, params, latency_ms}`` (accuracies in [0, 1],
        FLOPs as multiply-accumulates measured by ``FlopCounterMode``), plus ``predictions`` and
        ``labels`` per image with ``keep_predictions`` (:func:`accuracy`).
    """
    metrics: dict[str, Any] = {"path": model.path, "resolution": model.resolution}
    metrics.update(accuracy(model, batches, keep_predictions=keep_predictions))
    metrics["flops"] = counted_flops(model, model.resolution)
    metrics["params"] = num_params(model)
    metrics["latency_ms"] = round(
        cpu_latency_ms(model, model.resolution, repeats=latency_repeats, threads=threads), 4
    )
    return metrics
