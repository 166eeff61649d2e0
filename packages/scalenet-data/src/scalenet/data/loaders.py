"""Train / eval / minival loaders over ``.beton`` files: FFCV, or a torchvision fallback.

Both backends read the same files and yield the same thing: ``(images, labels)`` with
``images`` an ``N x 3 x R x R`` float batch (normalized, channels-last) and ``labels`` ``int64``,
both on ``device``. The backend is chosen automatically: FFCV when it imports, else the
torchvision fallback with a warning; ``backend=`` or the environment variable
``SCALENET_DATA_BACKEND`` forces one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from scalenet.data.beton import BetonReader
from scalenet.data.errors import BetonError, DataError, FfcvUnavailableError
from scalenet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchRandAugment,
    normalize_batch,
)

__all__ = [
    "BACKEND_ENV",
    "DECODE_CHECK_SAMPLES",
    "DEFAULT_CROP_RATIO",
    "Backend",
    "ImageLoader",
    "LoaderSpec",
    "eval_loader",
    "minival_loader",
    "resolve_backend",
    "train_loader",
]

Backend = Literal["auto", "ffcv", "torchvision"]
BACKEND_ENV = "SCALENET_DATA_BACKEND"
# Eval crops the centre 224/256 of the shorter side, then resizes (the ImageNet convention).
DEFAULT_CROP_RATIO = 224 / 256
# Images decoded when a loader opens a file (a few milliseconds): FFCV's decoder ignores JPEG
# errors and would silently hand out garbage, so a file damaged throughout must fail up front.
DECODE_CHECK_SAMPLES = 8


def resolve_backend(backend: Backend = "auto") -> Literal["ffcv", "torchvision"]:
    """Pick the loader backend.

    ``"auto"`` honours ``$SCALENET_DATA_BACKEND`` if set, else uses FFCV when it imports and
    falls back to torchvision with a ``UserWarning`` when it does not.

    Raises:
        ValueError: Unknown backend name.
        FfcvUnavailableError: ``"ffcv"`` was requested but FFCV does not import.
    """
    if backend == "auto":
        backend = os.environ.get(BACKEND_ENV, "auto")  # type: ignore[assignment]
    if backend not in ("auto", "ffcv", "torchvision"):
        raise ValueError(f"backend: {backend!r} not in {{'auto', 'ffcv', 'torchvision'}}")
    if backend == "torchvision":
        return "torchvision"
    try:
        import ffcv.loader  # noqa: F401
    except ImportError as exc:
        if backend == "ffcv":
            raise FfcvUnavailableError("backend='ffcv'") from exc
        warnings.warn(
            "FFCV is not installed; using the torchvision fallback loader (slower). "
            "pip install 'scalenet-data[ffcv]' for the fast path.",
            UserWarning,
            stacklevel=3,
        )
        return "torchvision"
    return "ffcv"


@dataclass(frozen=True)
class LoaderSpec:
    """Everything that defines a loader's output (shared by both backends).

    Attributes:
        train: Random-resized-crop + horizontal flip and shuffling; else centre crop, in order.
        resolution: Output side in pixels.
        scale: Area range of the random crop (train).
        ratio: Aspect-ratio range of the random crop (train).
        crop_ratio: Centre-crop side / shorter image side (eval).
        randaugment: Per-image RandAugment after the crop (train only), or None.
        mean: Normalization mean (of ``x / 255``).
        std: Normalization standard deviation.
    """

    train: bool
    resolution: int
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    crop_ratio: float = DEFAULT_CROP_RATIO
    randaugment: BatchRandAugment | None = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.resolution < 1:
            raise ValueError(f"resolution: must be >= 1, got {self.resolution}")
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"scale: need 0 < low <= high <= 1, got {self.scale}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"ratio: need 0 < low <= high, got {self.ratio}")
        if not 0 < self.crop_ratio <= 1:
            raise ValueError(f"crop_ratio: must lie in (0, 1], got {self.crop_ratio}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean, std: need three channels each")


def _check_distributed(distributed: bool) -> None:
    if distributed and not (
        torch.distributed.is_available() and torch.distributed.is_initialized()
    ):
        raise DataError(
            "distributed: True needs torch.distributed to be initialized first "
            "(e.g. under torchrun: torch.distributed.init_process_group())"
        )


def _decode_check(reader: BetonReader, indices: Sequence[int] | None) -> None:
    """Decode :data:`DECODE_CHECK_SAMPLES` evenly spaced images (first and last included).

    Raises:
        BetonError: One of them does not decode (the message names the file and the sample).
    """
    pool = np.arange(len(reader)) if indices is None else np.asarray(indices, dtype=np.int64)
    if len(pool) == 0:
        return
    positions = np.unique(np.linspace(0, len(pool) - 1, DECODE_CHECK_SAMPLES).round())
    for index in pool[positions.astype(np.int64)]:
        try:
            reader.image(int(index))
        except BetonError as exc:
            raise BetonError(
                f"{exc} (found by the loader's check of {DECODE_CHECK_SAMPLES} images; "
                f"`scalenet-data inspect --decode {reader.path}` checks every image)"
            ) from exc


class _BetonDataset(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """Map-style dataset over a ``.beton`` for the torchvision fallback."""

    def __init__(self, reader: BetonReader, spec: LoaderSpec) -> None:
        self.reader = reader
        self.spec = spec

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from torchvision.transforms.v2 import functional as TF  # noqa: N812

        spec = self.spec
        image = torch.from_numpy(self.reader.image(index)).permute(2, 0, 1)
        height, width = image.shape[1:]
        size = [spec.resolution, spec.resolution]
        if spec.train:
            from torchvision.transforms import v2

            top, left, crop_h, crop_w = v2.RandomResizedCrop.get_params(
                image, list(spec.scale), list(spec.ratio)
            )
            image = TF.resized_crop(image, top, left, crop_h, crop_w, size, antialias=True)
            if torch.rand(()) < 0.5:
                image = TF.horizontal_flip(image)
        else:
            # Same crop as FFCV's CenterCropRGBImageDecoder.
            side = int(spec.crop_ratio * min(height, width))
            top, left = (height - side) // 2, (width - side) // 2
            image = TF.resized_crop(image, top, left, side, side, size, antialias=True)
        if spec.train and spec.randaugment is not None:
            image = spec.randaugment.augment_image(image)
        # Normalize here, in the worker processes, not in the training loop's process.
        mean = torch.tensor(spec.mean).view(3, 1, 1) * 255.0
        std = torch.tensor(spec.std).view(3, 1, 1) * 255.0
        return (image.float() - mean) / std, int(self.reader.labels[index])


class ImageLoader:
    """An epoch iterable of ``(images, labels)`` batches on ``device``.

    Build it with :func:`train_loader`, :func:`eval_loader` or :func:`minival_loader`.
    As with FFCV itself, the image tensor of a batch may be reused by the FFCV backend a few
    batches later: use it in the step that receives it, or ``clone()`` it. Labels are copies.

    Opening a file checks its structure and decodes :data:`DECODE_CHECK_SAMPLES` evenly spaced
    images; damage elsewhere in a JPEG file is not detected by the FFCV backend (see
    docs/data.md, "Integrity").

    With ``distributed=True`` each of the ``W`` ranks reads ``ceil(N / W)`` samples per epoch,
    as ``DistributedSampler(drop_last=False)`` deals them (the same on both backends): the
    epoch's order (file order for eval) is padded with its first ``W * ceil(N / W) - N``
    samples, and rank ``r`` takes positions ``r, r + W, ...``. So the ranks' shards are
    disjoint except for that padding and together cover the file; ``drop_last`` then drops
    each rank's last partial batch.

    Attributes:
        backend: ``"ffcv"`` or ``"torchvision"``.
        spec: The output definition.
        path: The ``.beton`` file.
        batch_size: Images per batch (per process when distributed).
        num_samples: Images in the file.
        device: Where batches are delivered.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        spec: LoaderSpec,
        *,
        batch_size: int,
        num_workers: int = 2,
        device: str | torch.device = "cpu",
        distributed: bool = False,
        seed: int = 0,
        drop_last: bool | None = None,
        backend: Backend = "auto",
        indices: Sequence[int] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers: must be >= 0, got {num_workers}")
        _check_distributed(distributed)
        # Structural check first: a truncated file gets one clear error naming it.
        reader = BetonReader(path)
        _decode_check(reader, indices)
        self.path = Path(path)
        self.spec = spec
        self.batch_size = batch_size
        self.num_samples = len(reader) if indices is None else len(indices)
        self.device = torch.device(device)
        self.distributed = distributed
        self.seed = seed
        self.drop_last = spec.train if drop_last is None else drop_last
        self.backend = resolve_backend(backend)
        self._epoch = 0
        self._sampler: torch.utils.data.DistributedSampler[Any] | None = None
        # Whether batches come out of the backend already normalized (float).
        self._normalized = True
        self._inner: Iterable[Any]
        if self.backend == "ffcv":
            self._inner = self._ffcv_loader(num_workers, indices)
        else:
            self._inner = self._torch_loader(reader, num_workers, indices)

    def _ffcv_loader(self, num_workers: int, indices: Sequence[int] | None) -> Any:
        from ffcv.fields.basics import IntDecoder
        from ffcv.fields.rgb_image import (
            CenterCropRGBImageDecoder,
            RandomResizedCropRGBImageDecoder,
        )
        from ffcv.loader import Loader, OrderOption
        from ffcv.transforms import (
            NormalizeImage,
            RandomHorizontalFlip,
            Squeeze,
            ToDevice,
            ToTensor,
            ToTorchImage,
        )

        spec = self.spec
        size = (spec.resolution, spec.resolution)
        image_ops: list[Any]
        if spec.train:
            image_ops = [
                RandomResizedCropRGBImageDecoder(size, scale=spec.scale, ratio=spec.ratio),
                RandomHorizontalFlip(),
            ]
        else:
            image_ops = [CenterCropRGBImageDecoder(size, ratio=spec.crop_ratio)]
        # On CPU, normalize inside FFCV's compiled pipeline (its threads, a lookup table); on an
        # accelerator, ship uint8 and normalize there. RandAugment needs uint8, so it forces the
        # latter.
        self._normalized = self.device.type == "cpu" and spec.randaugment is None
        if self._normalized:
            mean = np.asarray(spec.mean) * 255.0
            std = np.asarray(spec.std) * 255.0
            image_ops.append(NormalizeImage(mean, std, np.dtype(np.float32)))
        image_ops.append(ToTensor())
        label_ops: list[Any] = [IntDecoder(), ToTensor(), Squeeze(1)]
        if self.device.type != "cpu":
            image_ops.append(ToDevice(self.device, non_blocking=True))
            label_ops.append(ToDevice(self.device, non_blocking=True))
        image_ops.append(ToTorchImage(channels_last=True, convert_back_int16=False))
        return Loader(
            str(self.path),
            batch_size=self.batch_size,
            num_workers=max(1, num_workers),
            order=OrderOption.RANDOM if spec.train else OrderOption.SEQUENTIAL,
            distributed=self.distributed,
            seed=self.seed,
            indices=None if indices is None else np.asarray(indices),
            pipelines={"image": image_ops, "label": label_ops},
            drop_last=self.drop_last,
            os_cache=True,
        )

    def _torch_loader(
        self, reader: BetonReader, num_workers: int, indices: Sequence[int] | None
    ) -> torch.utils.data.DataLoader[Any]:
        dataset: _BetonDataset | torch.utils.data.Subset[Any] = _BetonDataset(reader, self.spec)
        if indices is not None:
            dataset = torch.utils.data.Subset(dataset, list(indices))
        sampler: torch.utils.data.Sampler[int]
        if self.distributed:
            # Padded, never truncated, as FFCV's distributed traversal orders do: both backends
            # then give every rank the same samples (``drop_last`` only drops partial batches).
            distributed: torch.utils.data.DistributedSampler[Any] = (
                torch.utils.data.DistributedSampler(
                    dataset, shuffle=self.spec.train, seed=self.seed, drop_last=False
                )
            )
            self._sampler = distributed
            sampler = distributed
        elif self.spec.train:
            generator = torch.Generator().manual_seed(self.seed)
            sampler = torch.utils.data.RandomSampler(dataset, generator=generator)
        else:
            sampler = torch.utils.data.SequentialSampler(dataset)
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=num_workers,
            pin_memory=self.device.type == "cuda",
            drop_last=self.drop_last,
            persistent_workers=num_workers > 0,
        )

    def __len__(self) -> int:
        """Batches per epoch (for this process when distributed)."""
        return len(self._inner)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch for the shuffling order (FFCV counts epochs itself)."""
        self._epoch = epoch
        if self._sampler is not None:
            self._sampler.set_epoch(epoch)
        elif self.backend == "ffcv":
            self._inner.next_epoch = epoch  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        spec = self.spec
        for images, labels in self._inner:
            images = images.to(self.device, non_blocking=True)
            # FFCV reuses its label buffers a few batches later: hand out a copy (it is tiny).
            labels = labels.to(self.device, non_blocking=True).view(-1).to(torch.int64, copy=True)
            if not self._normalized:
                if spec.randaugment is not None and spec.train:
                    images = spec.randaugment(images)
                images = normalize_batch(images, spec.mean, spec.std)
            yield images.contiguous(memory_format=torch.channels_last), labels
        self._epoch += 1
        if self._sampler is not None:
            self._sampler.set_epoch(self._epoch)


def train_loader(
    path: str | os.PathLike[str],
    *,
    batch_size: int,
    resolution: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    randaugment: BatchRandAugment | None = None,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    **options: Any,
) -> ImageLoader:
    """Shuffled training batches: random-resized-crop to ``resolution`` + horizontal flip.

    Args:
        path: ``train.beton``.
        batch_size: Images per batch (per process when distributed).
        resolution: Output side.
        scale: Area range of the random crop.
        ratio: Aspect-ratio range of the random crop.
        randaugment: Per-image RandAugment (retraining), applied on ``device``.
        mean: Normalization mean.
        std: Normalization standard deviation.
        **options: ``num_workers``, ``device``, ``distributed``, ``seed``, ``drop_last``
            (default True), ``backend``, ``indices`` (see :class:`ImageLoader`).
    """
    spec = LoaderSpec(
        train=True,
        resolution=resolution,
        scale=scale,
        ratio=ratio,
        randaugment=randaugment,
        mean=mean,
        std=std,
    )
    return ImageLoader(path, spec, batch_size=batch_size, **options)


def eval_loader(
    path: str | os.PathLike[str],
    *,
    batch_size: int,
    resolution: int,
    crop_ratio: float = DEFAULT_CROP_RATIO,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    **options: Any,
) -> ImageLoader:
    """Evaluation batches in file order: centre crop (``crop_ratio``), resized to ``resolution``.

    Args:
        path: ``val.beton``, ``test.beton`` or ``minival.beton``.
        batch_size: Images per batch.
        resolution: Output side.
        crop_ratio: Centre-crop side / shorter image side (1.0 keeps the whole square).
        mean: Normalization mean.
        std: Normalization standard deviation.
        **options: As for :func:`train_loader`; ``drop_last`` defaults to False.
    """
    spec = LoaderSpec(train=False, resolution=resolution, crop_ratio=crop_ratio, mean=mean, std=std)
    return ImageLoader(path, spec, batch_size=batch_size, **options)


def minival_loader(
    data_dir: str | os.PathLike[str],
    *,
    batch_size: int,
    resolution: int,
    **options: Any,
) -> ImageLoader:
    """Eval loader over ``data_dir/minival.beton`` (the held-out search validation set).

    Args:
        data_dir: A folder written by ``scalenet-data prepare``.
        batch_size: Images per batch.
        resolution: Output side.
        **options: As for :func:`eval_loader`.

    Raises:
        DataError: ``data_dir`` has no ``minival.beton``.
    """
    path = Path(data_dir) / "minival.beton"
    if not path.is_file():
        raise DataError(f"{path}: not found (prepared with --minival-per-class 0?)")
    return eval_loader(path, batch_size=batch_size, resolution=resolution, **options)
