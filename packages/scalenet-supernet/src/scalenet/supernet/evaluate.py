"""Path evaluation: BN recalibration at the path's resolution, then top-1 on the mini-val set.

BatchNorm running statistics of a weight-sharing network belong to no path, so each evaluation
first re-estimates them for the path (cumulative average over a few training batches, resized to
the path's resolution by the supernet), then measures top-1 accuracy. The supernet's own
statistics are restored afterwards: evaluating never changes the supernet.

Every path is recalibrated on the *same* images: :class:`SupernetEvaluator` takes the first
``recalib_batches`` batches of what it is given once, when it is built, and reuses them (on the
CPU) for every path. A path's accuracy is then a pure function of (weights, path, mini-val),
whatever was evaluated before it; a stream that advances (a shuffled loader) would recalibrate
each path on other images and make the accuracy depend on the evaluation order.

:class:`SupernetEvaluator` is the evaluator scalenet-search expects: it accepts ``evaluator(path)``
and ``evaluator(base, scaling)``, and caches results by path string.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from scalenet.space import BaseArch, Path, Scaling
from scalenet.supernet.bn import recalibrate_bn
from scalenet.supernet.dynamic.model import SuperSupernet
from scalenet.supernet.standalone.static import combine_sides

__all__ = ["SupernetEvaluator", "top1"]

Batches = Iterable[tuple[Tensor, Tensor]]


def _as_batches(data: Batches | tuple[Tensor, Tensor], batch_size: int | None) -> Batches:
    """Batches as given, or a ``(images, labels)`` tensor pair cut into ``batch_size`` chunks."""
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor):
        images, labels = data
        size = batch_size or len(images)
        return [(images[i : i + size], labels[i : i + size]) for i in range(0, len(images), size)]
    return data


#: Images per eval-mode forward of the mini-val (a bigger batch is cut): on the CPU the
#: activations of ~100 small images stay in cache, 1.2-1.4x faster than one batch of 200-1,000.
FORWARD_CHUNK = 100
#: Bytes of batches kept resized to the resolutions of recently evaluated paths (CPU only).
RESIZED_CACHE_BYTES = 256 * 2**20


@torch.inference_mode()
def _logits(
    supernet: SuperSupernet, batches: Batches, chunk: int = FORWARD_CHUNK
) -> tuple[Tensor, Tensor]:
    device = supernet.classifier.weight.device
    outputs, targets = [], []
    for images, labels in batches:
        for start in range(0, len(images), chunk):
            piece = images[start : start + chunk]
            outputs.append(supernet(piece.to(device)).float().cpu())
        targets.append(labels.cpu())
    return torch.cat(outputs), torch.cat(targets)


def top1(logits: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy in percent."""
    if len(labels) == 0:
        raise ValueError("top1: no samples")
    return float((logits.argmax(1) == labels).float().mean().item() * 100.0)


class SupernetEvaluator:
    """A path's mini-val top-1 (%) after BN recalibration; cached by path string.

    Args:
        supernet: The trained super-supernet.
        train_batches: Training batches for recalibration (or an ``(images, labels)`` tensor
            pair, cut with ``batch_size``); the first ``recalib_batches`` are taken once, kept on
            the CPU, and recalibrate every path.
        val_batches: Mini-val batches (or a tensor pair).
        recalib_batches: Number of recalibration batches.
        batch_size: Batch size when tensor pairs are given.
        side: ``left``, ``right`` or ``both`` (the logits of both sides summed, as the official
            tester does, each side recalibrated on its own); None takes the supernet's
            ``eval_side``.
        forward_chunk: Most images per mini-val forward (eval mode: the chunking does not
            change the logits beyond float rounding; the recalibration batches are kept whole,
            since their batch statistics are what is estimated).
        resized_cache_bytes: On the CPU, when the mini-val is a list of batches, both image
            sets are kept resized to the resolutions of the paths evaluated last (in the
            supernet's memory format), up to this many bytes: a space has a few resolutions
            and a search evaluates hundreds of paths, each of which would resize the same
            images again (:meth:`SuperSupernet.prepare_input`, what the forward pass does).
            0 turns the cache off.

    Example:
        >>> evaluator = SupernetEvaluator(net, train_batches, val_batches, recalib_batches=10)
        >>> evaluator(path)            # or evaluator(base_arch, scaling)
        83.4
    """

    def __init__(
        self,
        supernet: SuperSupernet,
        train_batches: Batches | tuple[Tensor, Tensor],
        val_batches: Batches | tuple[Tensor, Tensor],
        *,
        recalib_batches: int = 10,
        batch_size: int | None = None,
        side: str | None = None,
        forward_chunk: int = FORWARD_CHUNK,
        resized_cache_bytes: int = RESIZED_CACHE_BYTES,
    ) -> None:
        if recalib_batches < 0:
            raise ValueError(f"recalib_batches must be >= 0, got {recalib_batches}")
        if forward_chunk < 1:
            raise ValueError(f"forward_chunk must be >= 1, got {forward_chunk}")
        self.forward_chunk = forward_chunk
        self.supernet = supernet
        self.train_batches = _fixed_prefix(_as_batches(train_batches, batch_size), recalib_batches)
        self.val_batches = _as_batches(val_batches, batch_size)
        self.recalib_batches = recalib_batches
        self.side = supernet.eval_side if side is None else side
        supernet.configure(Path(supernet.space.largest_arch()), self.side)  # checks the side
        self.cache: dict[str, float] = {}
        self.calls = 0
        self.resized_cache_bytes = resized_cache_bytes
        self._resized: dict[
            int, tuple[list[tuple[Tensor, Tensor]], list[tuple[Tensor, Tensor]]]
        ] = {}

    def __call__(
        self, path_or_base: Path | BaseArch | str, scaling: Scaling | None = None
    ) -> float:
        """Top-1 (%) of a path, given as a Path, its string, or (BaseArch, Scaling)."""
        path = _to_path(path_or_base, scaling)
        key = path.encode()
        self.calls += 1
        if key not in self.cache:
            self.cache[key] = self.evaluate(path)
        return self.cache[key]

    def evaluate_many(self, paths: Sequence[Path]) -> list[float]:
        """Top-1 of several paths (cached)."""
        return [self(path) for path in paths]

    def evaluate(self, path: Path) -> float:
        """Top-1 (%) of ``path`` without the cache; the supernet is left as it was found."""
        supernet = self.supernet
        previous = supernet.active
        buffers = {
            name: buffer.clone() for name, buffer in supernet.named_buffers() if "running_" in name
        }
        was_training = supernet.training
        sides = ("left", "right") if self.side == "both" else (self.side,)
        try:
            summed: Tensor | None = None
            labels: Tensor | None = None
            for side in sides:
                active = supernet.set_active(path, side)
                train_batches, val_batches = self._at_resolution(active.resolution)
                recalibrate_bn(supernet, train_batches, self.recalib_batches)
                supernet.eval()
                logits, labels = _logits(supernet, val_batches, self.forward_chunk)
                summed = logits if summed is None else combine_sides(summed, logits)
            assert summed is not None and labels is not None
            return top1(summed, labels)
        finally:
            with torch.no_grad():
                for name, buffer in supernet.named_buffers():
                    if name in buffers:
                        buffer.copy_(buffers[name])
            supernet.train(was_training)
            if previous is not None:
                supernet.set_active(previous.path, previous.side)

    def _at_resolution(self, resolution: int) -> tuple[Batches, Batches]:
        """The recalibration and mini-val batches, resized to ``resolution`` where cached."""
        if resolution in self._resized:
            self._resized[resolution] = self._resized.pop(resolution)  # most recent last
            return self._resized[resolution]
        supernet = self.supernet
        if (
            self.resized_cache_bytes <= 0
            or supernet.classifier.weight.device.type != "cpu"
            or not isinstance(self.val_batches, list)
        ):
            return self.train_batches, self.val_batches
        images = sum(len(batch[0]) for batch in [*self.train_batches, *self.val_batches])
        first = (self.val_batches or self.train_batches or [(torch.zeros(0, 1, 1, 1), None)])[0]
        size = images * first[0].shape[1] * resolution * resolution * first[0].element_size()
        if size > self.resized_cache_bytes:
            return self.train_batches, self.val_batches
        while self._resized and size + self._cached_bytes() > self.resized_cache_bytes:
            del self._resized[next(iter(self._resized))]  # the least recently used

        def resized(batches: list[tuple[Tensor, Tensor]]) -> list[tuple[Tensor, Tensor]]:
            return [
                (supernet.prepare_input(images, resolution), labels) for images, labels in batches
            ]

        pair = (resized(self.train_batches), resized(self.val_batches))
        self._resized[resolution] = pair
        return pair

    def _cached_bytes(self) -> int:
        return sum(
            images.numel() * images.element_size()
            for pair in self._resized.values()
            for batches in pair
            for images, _labels in batches
        )

    def stats(self) -> dict[str, Any]:
        """Calls, cache size and hit count."""
        return {
            "calls": self.calls,
            "cached": len(self.cache),
            "hits": self.calls - len(self.cache),
        }


def _fixed_prefix(batches: Batches, count: int) -> list[tuple[Tensor, Tensor]]:
    """The first ``count`` batches of ``batches``, taken now and kept on the CPU."""
    prefix: list[tuple[Tensor, Tensor]] = []
    if count == 0:
        return prefix
    for images, labels in batches:
        prefix.append((images.detach().cpu(), labels.detach().cpu()))
        if len(prefix) == count:
            break
    return prefix


def _to_path(path_or_base: Path | BaseArch | str, scaling: Scaling | None) -> Path:
    if isinstance(path_or_base, BaseArch):
        return Path(path_or_base, scaling if scaling is not None else Scaling())
    if scaling is not None:
        raise TypeError("a scaling goes with a BaseArch, not with a Path")
    if isinstance(path_or_base, str):
        return Path.decode(path_or_base)
    if isinstance(path_or_base, Path):
        return path_or_base
    raise TypeError(
        f"expected a Path, its string or (BaseArch, Scaling), got {type(path_or_base).__name__}"
    )
