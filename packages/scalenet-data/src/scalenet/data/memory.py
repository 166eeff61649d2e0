"""Images in memory and resumable batches: the small-data path (the embedded CPU default, tests).

The FFCV loaders (:mod:`scalenet.data.loaders`) serve the large data sets; this module holds a
data set in memory as ``uint8`` arrays. A trainer accepts any iterable of ``(images, labels)``
batches; :class:`ShuffledBatches` also exposes its position (``state_dict``/``load_state_dict``),
so a resumed run sees exactly the batches it would have seen.

Images stay ``uint8`` ``[N, H, W]`` (gray) or ``[N, C, H, W]`` in memory; each batch is converted
to float, normalized and repeated to 3 channels on the fly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from scalenet.data.sources import idx_source

__all__ = [
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "ImageSet",
    "ShuffledBatches",
    "fixed_batches",
    "load_fashion_mnist",
    "synthetic_images",
]

#: Where Debian's ``dataset-fashion-mnist`` installs the IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530


@dataclass(frozen=True)
class ImageSet:
    """Images and labels in memory, plus the normalization applied per batch.

    Attributes:
        images: ``uint8`` ``[N, H, W]`` (gray) or ``[N, C, H, W]``.
        labels: ``int64`` ``[N]``.
        mean: Per-image-channel mean (on the 0..1 scale).
        std: Per-image-channel standard deviation.
        channels: Output channels (gray images are repeated to this many).
    """

    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int64]
    mean: float = FASHION_MNIST_MEAN
    std: float = FASHION_MNIST_STD
    channels: int = 3

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: npt.NDArray[np.int64]) -> ImageSet:
        """The images at ``indices`` (same normalization)."""
        return ImageSet(
            self.images[indices], self.labels[indices], self.mean, self.std, self.channels
        )

    def batch(self, indices: npt.NDArray[np.int64]) -> tuple[Tensor, Tensor]:
        """Float ``[B, channels, H, W]`` normalized images and ``int64`` labels at ``indices``."""
        images = torch.from_numpy(np.ascontiguousarray(self.images[indices])).float().div_(255.0)
        if images.ndim == 3:
            images = images.unsqueeze(1)
        images = images.sub_(self.mean).div_(self.std)
        if images.shape[1] != self.channels:
            images = images.expand(-1, self.channels, -1, -1).contiguous()
        return images, torch.from_numpy(self.labels[indices].astype(np.int64))

    @property
    def num_classes(self) -> int:
        """``max(label) + 1``."""
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def load_fashion_mnist(
    root: str | os.PathLike[str] = FASHION_MNIST_DIR, split: str = "train"
) -> ImageSet:
    """Fashion-MNIST from its IDX files (``train-*`` or ``t10k-*``, gzipped or not).

    The files are read by scalenet-data (:func:`scalenet.data.idx_source`), the one IDX reader.

    Raises:
        DataError: If the files are not under ``root`` or are not valid IDX (a ValueError).
        ValueError: If ``split`` is not ``train`` or ``test``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split {split!r} not in {{train, test}}")
    source = idx_source(root, "train" if split == "train" else "t10k")
    return ImageSet(source.images, source.labels.astype(np.int64))


def synthetic_images(size: int, num_classes: int = 10, side: int = 16, seed: int = 0) -> ImageSet:
    """A learnable stand-in data set: each class is a fixed random pattern plus noise (uint8 gray).

    Tests use it instead of the real data set.
    """
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0, 255, size=(num_classes, side, side))
    labels = rng.integers(0, num_classes, size=size).astype(np.int64)
    noise = rng.normal(0, 40, size=(size, side, side))
    images = np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8)
    return ImageSet(images, labels, mean=0.5, std=0.3)


class ShuffledBatches:
    """Seeded, reshuffled-per-epoch batches whose position can be checkpointed.

    Epoch ``e`` uses the permutation of ``default_rng([seed, e])``; with ``world_size > 1`` rank
    ``r`` takes every ``world_size``-th batch-sized chunk's ``r``-th share, so ranks see disjoint
    images. Iterating continues from the saved position; the state advances as batches are
    yielded, so a checkpoint taken between two steps names exactly the next batch.

    Args:
        data: The images.
        batch_size: Images per batch (per rank).
        seed: Shuffling seed.
        shuffle: False keeps the data order (evaluation).
        drop_last: Drop the last incomplete batch.
        rank: This process's rank.
        world_size: Number of processes.
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        seed: int = 0,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in 0..{world_size - 1}")
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.position = 0

    def __len__(self) -> int:
        per_rank = len(self.data) // self.world_size
        return per_rank // self.batch_size if self.drop_last else -(-per_rank // self.batch_size)

    def _order(self, epoch: int) -> npt.NDArray[np.int64]:
        if not self.shuffle:
            order = np.arange(len(self.data), dtype=np.int64)
        else:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.data))
        per_rank = len(order) // self.world_size
        return order[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        if len(self) == 0:
            raise ValueError(f"{len(self.data)} images give no batch of {self.batch_size}")
        if self.position >= len(self):  # saved right after an epoch's last batch
            self.epoch, self.position = self.epoch + 1, 0
        order = self._order(self.epoch)
        while self.position < len(self):
            start = self.position * self.batch_size
            indices = order[start : start + self.batch_size]
            self.position += 1
            yield self.data.batch(indices)
        self.epoch += 1
        self.position = 0

    def state_dict(self) -> dict[str, int]:
        """``{epoch, position}``: the next batch to yield."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a saved position."""
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])


def fixed_batches(data: ImageSet, batch_size: int) -> list[tuple[Tensor, Tensor]]:
    """The whole set in order as a list of batches (mini-val, recalibration)."""
    return list(ShuffledBatches(data, batch_size, shuffle=False, drop_last=False))
