"""Write sources to FFCV ``.beton`` files: train, a seeded minival split, held-out splits, manifest.

Every file is written under a temporary name in the output folder and renamed when complete, so
a failure leaves no half-written ``.beton`` behind; ``manifest.json`` is written last.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import multiprocessing
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from scalenet.data.beton import BetonReader
from scalenet.data.errors import BetonError, DataError, FfcvUnavailableError
from scalenet.data.sources import (
    ArraySource,
    ImageFolderSource,
    ImageSource,
    find_idx_file,
    idx_source,
)
from scalenet.data.splits import DEFAULT_MINIVAL_PER_CLASS, minival_split

__all__ = [
    "IMAGE_FORMATS",
    "MANIFEST_NAME",
    "ImageFormat",
    "Manifest",
    "SplitRecord",
    "atomic_write_text",
    "ffcv_available",
    "prepare_dataset",
    "prepare_idx",
    "prepare_imagefolder",
    "verify_beton",
    "write_beton",
]

ImageFormat = Literal["jpeg", "raw"]
IMAGE_FORMATS: tuple[str, ...] = ("jpeg", "raw")
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
# FFCV stores each sample inside one page and pads the file to whole pages: small pages keep
# small data sets small, large ones are needed for big images (8 MiB: raw 1670 x 1670 RGB).
MIN_PAGE_SIZE = 1 << 21
PAGE_SIZE = 1 << 23
_FFCV_MODE = {"jpeg": "jpg", "raw": "raw"}


def ffcv_available() -> bool:
    """Whether FFCV can be imported (without importing it)."""
    return importlib.util.find_spec("ffcv") is not None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to a temporary name next to ``path``, then rename it onto ``path``."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class SplitRecord:
    """One written split: its file, size, per-class counts and content hash."""

    file: str
    num_samples: int
    counts_per_class: dict[str, int]
    content_hash: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "file": self.file,
            "num_samples": self.num_samples,
            "counts_per_class": dict(self.counts_per_class),
            "content_hash": self.content_hash,
        }


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` records about a prepared data set."""

    classes: tuple[str, ...]
    image_format: str
    max_side: int | None
    jpeg_quality: int
    minival_per_class: int
    split_seed: int
    splits: dict[str, SplitRecord]
    source: dict[str, str] = field(default_factory=dict)
    version: int = MANIFEST_VERSION

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (no timestamps or host names, so reruns give the same file)."""
        return {
            "version": self.version,
            "source": dict(self.source),
            "classes": list(self.classes),
            "image_format": self.image_format,
            "max_side": self.max_side,
            "jpeg_quality": self.jpeg_quality,
            "minival_per_class": self.minival_per_class,
            "split_seed": self.split_seed,
            "splits": {name: record.to_json() for name, record in self.splits.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        """Inverse of :meth:`to_json`."""
        return cls(
            classes=tuple(data["classes"]),
            image_format=data["image_format"],
            max_side=data["max_side"],
            jpeg_quality=int(data["jpeg_quality"]),
            minival_per_class=int(data["minival_per_class"]),
            split_seed=int(data["split_seed"]),
            splits={name: SplitRecord(**record) for name, record in data["splits"].items()},
            source=dict(data.get("source", {})),
            version=int(data.get("version", MANIFEST_VERSION)),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read a ``manifest.json`` (or the one inside a prepared folder).

        Raises:
            DataError: Missing or malformed (the message names the file).
        """
        file = Path(path)
        if file.is_dir():
            file = file / MANIFEST_NAME
        try:
            return cls.from_json(json.loads(file.read_text()))
        except FileNotFoundError as exc:
            raise DataError(f"{file}: manifest not found") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{file}: malformed manifest ({exc!r})") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically as indented JSON."""
        atomic_write_text(path, json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")


def verify_beton(path: str | os.PathLike[str]) -> SplitRecord:
    """Check that a ``.beton`` still holds what was written: its content hash vs the manifest.

    Reads the whole file (about as fast as the disk): the only check that finds every change,
    including damaged JPEG data that still decodes and damaged raw pixels.

    Args:
        path: A ``.beton`` file in a folder written by :func:`prepare_dataset`.

    Returns:
        The file's record in the ``manifest.json`` next to it.

    Raises:
        DataError: No manifest there, or it does not list the file.
        BetonError: Truncated or corrupted, or its content differs from the manifest's hash.
    """
    file = Path(path)
    manifest = Manifest.load(file.parent)
    records = [record for record in manifest.splits.values() if record.file == file.name]
    if not records:
        raise DataError(f"{file}: not listed in {file.parent / MANIFEST_NAME}")
    actual = BetonReader(file).content_hash()
    if actual != records[0].content_hash:
        raise BetonError(
            f"{file}: content hash {actual} differs from {records[0].content_hash} in "
            f"{file.parent / MANIFEST_NAME}: the file changed after it was written"
        )
    return records[0]


class _WriterDataset:
    """What FFCV's writer indexes: ``(image, label)`` per output sample.

    A sample that cannot be loaded is reported in ``errors_path`` before the exception ends the
    writer process (FFCV only sees that the process died).
    """

    def __init__(
        self,
        source: ImageSource,
        indices: npt.NDArray[np.int64],
        errors_path: Path,
        max_pixels: int | None,
    ) -> None:
        self.source = source
        self.indices = indices
        self.labels = source.labels
        self.errors_path = errors_path
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[npt.NDArray[np.uint8], int]:
        index = int(self.indices[position])
        try:
            image = self.source.load(index)
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise DataError(f"{self.source.describe(index)}: not an H x W x 3 uint8 image")
            if self.max_pixels is not None and image.shape[0] * image.shape[1] > self.max_pixels:
                raise DataError(
                    f"{self.source.describe(index)}: {image.shape[1]}x{image.shape[0]} image is "
                    "too large for raw mode; set max_side"
                )
        except Exception as exc:
            message = str(exc) if isinstance(exc, DataError) else f"{exc!r}"
            if self.source.describe(index) not in message:
                message = f"{self.source.describe(index)}: {message}"
            # Written under a temporary name and renamed: the parent acts as soon as it exists.
            partial = self.errors_path.with_name(f"{self.errors_path.name}.{os.getpid()}")
            partial.write_text(message.replace("\n", " ") + "\n")
            os.replace(partial, self.errors_path)
            raise
        return image, int(self.labels[index])


def _write_in_own_group(writer: Any, dataset: _WriterDataset, chunk: int) -> None:
    """Child process body: FFCV's writer, in a new process group so it can be killed whole."""
    os.setsid()
    writer.from_indexed_dataset(dataset, chunksize=chunk)


def _run_ffcv_writer(writer: Any, dataset: _WriterDataset, chunk: int, target: Path) -> None:
    """Run FFCV's writer in a child process; fail fast (and kill it) if a sample fails.

    FFCV's writer polls a shared counter until every sample is written: if one of its workers
    dies the counter never gets there, the writer waits forever and the other workers wait for
    the dead one's page turn. So the writer runs in its own process group, workers report a
    failing sample in ``dataset.errors_path`` before dying, and on any failure the whole group
    is killed.

    Raises:
        DataError: A sample failed (its message names the file) or a writer process died.
    """
    # The child must reuse this process's resource tracker (shared memory clean-up), not start
    # one inside the group that gets killed.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    child = context.Process(
        target=_write_in_own_group, args=(writer, dataset, chunk), name="beton-writer"
    )
    child.start()
    group = child.pid
    assert group is not None
    errors_path = dataset.errors_path
    try:
        while child.exitcode is None and not errors_path.exists():
            child.join(timeout=0.05)
    finally:
        # Also on KeyboardInterrupt: the group lives in its own session and would outlive us.
        if child.exitcode != 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
            child.join()
    if child.exitcode == 0:
        return
    reasons = errors_path.read_text().splitlines() if errors_path.exists() else []
    if reasons:
        raise DataError(f"{reasons[0]}; nothing written to {target}")
    raise DataError(
        f"{target}: FFCV writer exited with code {child.exitcode} (see its traceback above); "
        "nothing written"
    )


def _page_size(source: ImageSource, max_side: int | None) -> int:
    """Smallest power-of-two page (>= 2 MiB) holding one raw image of known size, else 8 MiB."""
    if max_side is not None:
        side = max_side
    elif isinstance(source, ArraySource):
        side = max(source.images.shape[1:3])
    else:
        return PAGE_SIZE
    need = 2 * side * side * 3 + 4096
    return max(MIN_PAGE_SIZE, 1 << (need - 1).bit_length())


def _check_options(image_format: str, max_side: int | None, jpeg_quality: int) -> None:
    if image_format not in IMAGE_FORMATS:
        raise DataError(f"image_format: {image_format!r} not in {set(IMAGE_FORMATS)}")
    if max_side is not None and max_side < 1:
        raise DataError(f"max_side: must be >= 1 or None, got {max_side}")
    if not 1 <= jpeg_quality <= 100:
        raise DataError(f"jpeg_quality: must lie in [1, 100], got {jpeg_quality}")


def write_beton(
    source: ImageSource,
    path: str | os.PathLike[str],
    indices: Sequence[int] | npt.NDArray[np.int64] | None = None,
    *,
    image_format: ImageFormat = "jpeg",
    max_side: int | None = None,
    jpeg_quality: int = 90,
    num_workers: int | None = None,
) -> SplitRecord:
    """Write ``source[indices]`` to one ``.beton`` file (fields ``image`` and ``label``).

    Args:
        source: Images and labels.
        path: Output file; written under a temporary name and renamed when complete.
        indices: Which samples, in output order (default: all).
        image_format: ``"jpeg"`` (compressed; decode costs CPU) or ``"raw"`` (uint8 pixels).
        max_side: Shrink images whose longer side exceeds this (area interpolation).
        jpeg_quality: JPEG quality, 1..100.
        num_workers: Writer processes (default: CPU count, at most 16).

    Returns:
        The split's record (counts per class and content hash, read back from the file).

    Raises:
        FfcvUnavailableError: FFCV is not installed.
        DataError: Bad option, or an image cannot be loaded (the message names its file).
    """
    _check_options(image_format, max_side, jpeg_quality)
    if not ffcv_available():
        raise FfcvUnavailableError("writing .beton files")
    from ffcv.fields import IntField, RGBImageField
    from ffcv.writer import DatasetWriter

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    order = np.arange(len(source), dtype=np.int64) if indices is None else np.asarray(indices)
    if len(order) == 0:
        raise DataError(f"{target}: nothing to write (no samples selected)")
    workers = num_workers if num_workers is not None else min(os.cpu_count() or 1, 16)
    workers = max(1, min(workers, len(order)))
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    errors_path = target.with_name(f".{target.name}.errors-{os.getpid()}")
    page_size = _page_size(source, max_side)
    # Raw pixels must fit one page; with max_side the page was sized for the shrunk image.
    max_pixels = None if image_format == "jpeg" or max_side else (page_size - 4096) // 3
    dataset = _WriterDataset(source, order, errors_path, max_pixels)
    fields = {
        "image": RGBImageField(
            write_mode=_FFCV_MODE[image_format], max_resolution=max_side, jpeg_quality=jpeg_quality
        ),
        "label": IntField(),
    }
    writer = DatasetWriter(str(tmp), fields, page_size=page_size, num_workers=workers)
    try:
        # ~100 samples per work item, fewer on small sets so every worker gets some.
        chunk = max(1, min(100, len(order) // workers))
        _run_ffcv_writer(writer, dataset, chunk, target)
        reader = BetonReader(tmp)
        if len(reader) != len(order) or not np.array_equal(reader.labels, source.labels[order]):
            raise DataError(f"{target}: read-back check failed; nothing written")
        counts = np.bincount(reader.labels, minlength=len(source.classes))
        record = SplitRecord(
            file=target.name,
            num_samples=len(reader),
            counts_per_class={
                name: int(count) for name, count in zip(source.classes, counts, strict=True)
            },
            content_hash=reader.content_hash(),
        )
        del reader
        os.replace(tmp, target)
        return record
    finally:
        tmp.unlink(missing_ok=True)
        errors_path.unlink(missing_ok=True)


def prepare_dataset(
    train: ImageSource,
    out_dir: str | os.PathLike[str],
    holdout: Mapping[str, ImageSource] | None = None,
    *,
    minival_per_class: int = DEFAULT_MINIVAL_PER_CLASS,
    seed: int = 0,
    image_format: ImageFormat = "jpeg",
    max_side: int | None = None,
    jpeg_quality: int = 90,
    num_workers: int | None = None,
    source_info: Mapping[str, str] | None = None,
) -> Manifest:
    """Write ``train.beton``, ``minival.beton``, one file per held-out split, and the manifest.

    Args:
        train: The training source; ``minival_per_class`` images per class are held out of it.
        out_dir: Output folder (created).
        holdout: Further splits written whole, e.g. ``{"val": ...}`` or ``{"test": ...}``; they
            must have the same classes as ``train``.
        minival_per_class: Images per class in ``minival.beton`` (0: no minival file).
        seed: Seed of the minival split.
        image_format: ``"jpeg"`` or ``"raw"``.
        max_side: Shrink images whose longer side exceeds this.
        jpeg_quality: JPEG quality.
        num_workers: Writer processes.
        source_info: Free-form strings recorded in the manifest (e.g. the source path).

    Returns:
        The manifest, also saved as ``out_dir/manifest.json``.

    Raises:
        DataError: Bad option or source; files already renamed into place are complete.
    """
    _check_options(image_format, max_side, jpeg_quality)
    holdout = dict(holdout or {})
    reserved = {"train", "minival"}
    for name, split in holdout.items():
        if name in reserved:
            raise DataError(f"holdout: split name {name!r} is reserved ({sorted(reserved)})")
        if tuple(split.classes) != tuple(train.classes):
            raise DataError(f"holdout {name!r}: classes differ from the training source's")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # A stale manifest must not describe a half-updated folder.
    (out / MANIFEST_NAME).unlink(missing_ok=True)
    train_idx, minival_idx = minival_split(train.labels, minival_per_class, seed, train.classes)
    options: dict[str, Any] = {
        "image_format": image_format,
        "max_side": max_side,
        "jpeg_quality": jpeg_quality,
        "num_workers": num_workers,
    }
    splits = {"train": write_beton(train, out / "train.beton", train_idx, **options)}
    if len(minival_idx):
        splits["minival"] = write_beton(train, out / "minival.beton", minival_idx, **options)
    for name, split in holdout.items():
        splits[name] = write_beton(split, out / f"{name}.beton", None, **options)
    manifest = Manifest(
        classes=tuple(train.classes),
        image_format=image_format,
        max_side=max_side,
        jpeg_quality=jpeg_quality,
        minival_per_class=minival_per_class,
        split_seed=seed,
        splits=splits,
        source=dict(source_info or {}),
    )
    manifest.save(out / MANIFEST_NAME)
    return manifest


def prepare_imagefolder(
    root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    classes: Sequence[str] | None = None,
    **options: Any,
) -> Manifest:
    """Prepare an ImageNet-layout tree: ``root/train/<class>/*`` and optionally ``root/val``.

    If ``root`` has no ``train/`` folder, ``root`` itself is the training split.

    Args:
        root: The tree.
        out_dir: Output folder.
        classes: Optional class subset (e.g. the ImageNet-100 WordNet ids).
        **options: Passed to :func:`prepare_dataset`.
    """
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"{base}: image folder not found")
    train_dir = base / "train" if (base / "train").is_dir() else base
    train = ImageFolderSource(train_dir, classes)
    holdout: dict[str, ImageSource] = {}
    if train_dir != base and (base / "val").is_dir():
        holdout["val"] = ImageFolderSource(base / "val", train.classes)
    info = {"format": "imagefolder", "path": str(base)}
    return prepare_dataset(train, out_dir, holdout, source_info=info, **options)


def prepare_idx(
    folder: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    class_names: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    **options: Any,
) -> Manifest:
    """Prepare an MNIST-layout IDX folder: ``train-*`` (train + minival), ``t10k-*`` (test).

    Args:
        folder: Folder with the IDX files (gzipped or not).
        out_dir: Output folder.
        class_names: Names of the labels (default ``"0"``, ``"1"``, ...).
        classes: Optional subset of ``class_names``.
        **options: Passed to :func:`prepare_dataset`.
    """
    train = idx_source(folder, "train", class_names)
    tests: dict[str, ArraySource] = {}
    try:
        find_idx_file(folder, "t10k", "images")
    except DataError:
        pass
    else:
        tests["test"] = idx_source(folder, "t10k", train.classes)
    if classes is not None:
        train = train.subset(classes)
        tests = {name: split.subset(classes) for name, split in tests.items()}
    holdout: dict[str, ImageSource] = dict(tests)
    info = {"format": "idx", "path": str(folder)}
    return prepare_dataset(train, out_dir, holdout, source_info=info, **options)
