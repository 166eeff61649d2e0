"""A prepared folder's splits as batches: one :func:`open_split` for the memory and FFCV loaders.

A folder written by :func:`~scalenet.data.writer.prepare_dataset` (the ``prepare`` stage) holds
``train.beton``, ``minival.beton`` and ``test.beton`` (Fashion-MNIST) or ``val.beton``
(ImageFolder), and a ``manifest.json``. Two loaders read it:

* ``memory`` (the embedded default): the split is decoded into memory once
  (:func:`read_split`) and batched by :class:`~scalenet.data.memory.ShuffledBatches`, whose
  position is checkpointable: a killed training resumes with the exact data order;
* ``ffcv`` (ImageNet scale): the split is streamed by :func:`~scalenet.data.loaders.train_loader`
  (random-resized crops) or :func:`~scalenet.data.loaders.eval_loader` (centre crops) onto the
  process's device; a resumed run then starts a fresh epoch order.

Every failure is a :class:`~scalenet.data.errors.DataError` with a one-line message naming the
file or the split.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from scalenet.data.beton import BetonReader
from scalenet.data.errors import DataError
from scalenet.data.memory import ImageSet, ShuffledBatches, fixed_batches

__all__ = [
    "LOADERS",
    "LOADER_WORKERS",
    "Loader",
    "held_out_split",
    "manifest_digest",
    "num_classes",
    "open_split",
    "read_split",
    "split_size",
    "subset_indices",
]

Loader = Literal["memory", "ffcv"]
#: The loaders :func:`open_split` knows.
LOADERS: tuple[str, ...] = ("memory", "ffcv")
#: FFCV worker processes per training process.
LOADER_WORKERS = max(1, min(8, (os.cpu_count() or 2) - 1))
_HINT = "(run the prepare stage: dvc repro prepare)"

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def _manifest(folder: str | os.PathLike[str]) -> Path:
    manifest = Path(folder) / "manifest.json"
    if not manifest.is_file():
        raise DataError(f"{manifest} does not exist {_HINT}")
    return manifest


def manifest_digest(folder: str | os.PathLike[str]) -> str:
    """SHA-256 of the folder's ``manifest.json`` (part of a training run's fingerprint)."""
    return hashlib.sha256(_manifest(folder).read_bytes()).hexdigest()


def split_size(folder: str | os.PathLike[str], split: str) -> int:
    """Images in a prepared split (from the manifest)."""
    splits = json.loads(_manifest(folder).read_text(encoding="utf-8"))["splits"]
    if split not in splits:
        raise DataError(f"{folder} has no {split} split (splits: {', '.join(sorted(splits))})")
    return int(splits[split]["num_samples"])


def num_classes(folder: str | os.PathLike[str]) -> int:
    """Classes of a prepared data set (from the manifest)."""
    return len(json.loads(_manifest(folder).read_text(encoding="utf-8"))["classes"])


def held_out_split(folder: str | os.PathLike[str]) -> str:
    """The split to report accuracy on: ``test`` (Fashion-MNIST) or ``val`` (ImageFolder)."""
    for split in ("test", "val"):
        if (Path(folder) / f"{split}.beton").is_file():
            return split
    raise DataError(f"{folder} has neither test.beton nor val.beton {_HINT}")


def subset_indices(size: int, count: int | None, seed: int) -> list[int] | None:
    """A seeded, sorted subset of ``count`` of ``size`` indices (None: all of them)."""
    if count is None or count >= size:
        return None
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.permutation(size)[:count])


def read_split(folder: str | os.PathLike[str], split: str) -> ImageSet:
    """One split (``train``, ``minival``, ``test`` or ``val``) of a prepared folder, in memory.

    Grey sources are stored as three equal channels; they are kept as one (the batches repeat it).
    """
    file = Path(folder) / f"{split}.beton"
    if not file.is_file():
        raise DataError(f"{file} does not exist {_HINT}")
    reader = BetonReader(file)
    images = np.stack([reader.image(index) for index in range(len(reader))])
    if np.array_equal(images[..., 0], images[..., 1]) and np.array_equal(
        images[..., 0], images[..., 2]
    ):
        pixels = images[..., 0]
    else:
        pixels = images.transpose(0, 3, 1, 2)
    return ImageSet(np.ascontiguousarray(pixels), reader.labels.copy())


def open_split(
    folder: str | os.PathLike[str],
    split: str,
    *,
    batch_size: int,
    loader: str = "memory",
    train: bool = False,
    seed: int = 0,
    resolution: int | None = None,
    indices: Sequence[int] | None = None,
    rank: int = 0,
    world_size: int = 1,
    distributed: bool = False,
    device: torch.device | str = "cpu",
    randaugment: bool = False,
    num_workers: int = LOADER_WORKERS,
) -> Batches:
    """Batches of one split of a prepared folder.

    Args:
        folder: The prepared folder.
        split: ``train``, ``minival``, ``test`` or ``val``.
        batch_size: Images per batch (per process when training).
        loader: ``memory`` or ``ffcv`` (module docstring).
        train: Shuffled training batches (this process's share of every epoch, re-iterable
            epoch after epoch) instead of the split once in file order.
        seed: The shuffling seed (``train``).
        resolution: Output side of the FFCV loader's crops (required with ``ffcv``); in memory
            the images keep their size and the network resizes them.
        indices: Only these images of the split (a subset), in this order's sorted form.
        rank: This process's rank (memory loader, ``train``: its share of each epoch).
        world_size: The number of processes sharing the epoch (memory loader, ``train``).
        distributed: The FFCV loader shards over the process group.
        device: Where the FFCV loader puts the batches (the memory loader yields CPU tensors).
        randaugment: RandAugment on the batch's device (FFCV loader, ``train``); in memory the
            retraining recipe applies it itself.
        num_workers: FFCV worker processes.

    Raises:
        DataError: An unknown loader, a missing or unreadable file, or no resolution for FFCV.
    """
    if loader not in LOADERS:
        raise DataError(f"loader {loader!r} not in {{{', '.join(LOADERS)}}}")
    if loader == "memory":
        images = read_split(folder, split)
        if indices is not None:
            images = images.subset(np.asarray(indices, dtype=np.int64))
        if train:
            return ShuffledBatches(images, batch_size, seed, rank=rank, world_size=world_size)
        return fixed_batches(images, batch_size)
    if resolution is None:
        raise DataError("open_split: the ffcv loader needs a resolution")
    from scalenet.data.loaders import eval_loader, train_loader
    from scalenet.data.transforms import BatchRandAugment

    file = Path(folder) / f"{split}.beton"
    if train:
        return train_loader(
            file,
            batch_size=batch_size,
            resolution=resolution,
            device=device,
            distributed=distributed,
            seed=seed,
            num_workers=num_workers,
            indices=indices,
            randaugment=BatchRandAugment() if randaugment else None,
        )
    return eval_loader(
        file,
        batch_size=batch_size,
        resolution=resolution,
        device=device,
        num_workers=num_workers,
        indices=indices,
    )
