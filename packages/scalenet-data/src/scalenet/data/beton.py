"""Read and check FFCV ``.beton`` files with numpy alone (no FFCV needed).

The layout (FFCV 1.0, format version 2): a header, one descriptor per field, one metadata record
per sample, pages of sample data, and an allocation table ``(sample_id, ptr, size)`` at the end.
Reading it directly lets the torchvision fallback loader use the very files FFCV would, and lets
``inspect`` report a truncated or corrupted file by name instead of crashing inside FFCV.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scalenet.data.errors import BetonError

__all__ = ["BetonInfo", "BetonReader", "decode_jpeg", "inspect_beton"]

FORMAT_VERSION = 2
_HEADER = np.dtype(
    [
        ("version", "<u2"),
        ("num_fields", "<u2"),
        ("page_size", "<u4"),
        ("num_samples", "<u8"),
        ("alloc_table_ptr", "<u8"),
    ],
    align=True,
)
_FIELD_DESC = np.dtype(
    [("type_id", "<u1"), ("name", ("<u1", 16)), ("arguments", ("<u1", (1024,)))], align=True
)
_ALLOC = np.dtype([("sample_id", "<u8"), ("ptr", "<u8"), ("size", "<u8")])
# Packed (FFCV's RGBImageField declares it without align); the per-sample record is aligned.
_IMAGE_META = np.dtype([("mode", "<u1"), ("width", "<u2"), ("height", "<u2"), ("data_ptr", "<u8")])
# FFCV type ids (ffcv/types.py) of the fields this reader understands.
_FIELD_TYPES: dict[int, tuple[str, np.dtype[Any]]] = {
    0: ("float", np.dtype("<f8")),
    1: ("int", np.dtype("<i8")),
    2: ("rgb_image", _IMAGE_META),
}
MODE_JPEG = 0
MODE_RAW = 1
_MODE_NAMES = {MODE_JPEG: "jpeg", MODE_RAW: "raw"}


def decode_jpeg(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8] | None:
    """Decode JPEG bytes to ``H x W x 3`` RGB (OpenCV if present, else PIL).

    Returns:
        The image, or None when the bytes are not a decodable JPEG.
    """
    try:
        import cv2
    except ImportError:
        pass
    else:
        bgr = cv2.imdecode(np.ascontiguousarray(data), cv2.IMREAD_COLOR)
        if bgr is None:
            return None
        return np.ascontiguousarray(bgr[:, :, ::-1])
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data.tobytes())) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except OSError:
        return None


class BetonReader:
    """Random access to the samples of a ``.beton`` file with one RGB image field.

    Opening the file checks its structure (header, field table, metadata, allocation table and
    every image pointer); decoding errors are reported per sample by :meth:`image`.

    Args:
        path: The ``.beton`` file.

    Raises:
        BetonError: Missing, truncated or corrupted file (the message names it).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise BetonError(f"{self.path}: .beton file not found")
        self.file_size = self.path.stat().st_size
        if self.file_size < _HEADER.itemsize:
            raise BetonError(f"{self.path}: not a .beton file ({self.file_size} bytes)")
        self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        header = self._data[: _HEADER.itemsize].view(_HEADER)[0]
        if int(header["version"]) != FORMAT_VERSION:
            raise BetonError(
                f"{self.path}: not a .beton file of format version {FORMAT_VERSION} "
                f"(header says {int(header['version'])})"
            )
        self.num_samples = int(header["num_samples"])
        self.page_size = int(header["page_size"])
        num_fields = int(header["num_fields"])
        alloc_ptr = int(header["alloc_table_ptr"])
        desc_end = _HEADER.itemsize + num_fields * _FIELD_DESC.itemsize
        if not 1 <= num_fields <= 64 or desc_end > self.file_size:
            raise BetonError(f"{self.path}: corrupted header ({num_fields} fields)")
        descs = self._data[_HEADER.itemsize : desc_end].view(_FIELD_DESC)
        self.fields: dict[str, str] = {}
        meta_parts: list[tuple[str, np.dtype[Any]]] = []
        for desc in descs:
            name = bytes(desc["name"]).split(b"\0", 1)[0].decode("ascii", "replace")
            type_id = int(desc["type_id"])
            if type_id not in _FIELD_TYPES:
                raise BetonError(f"{self.path}: field {name!r} has unsupported type id {type_id}")
            kind, dtype = _FIELD_TYPES[type_id]
            self.fields[name] = kind
            meta_parts.append((name, dtype))
        meta_dtype = np.dtype(meta_parts, align=True)
        meta_end = desc_end + self.num_samples * meta_dtype.itemsize
        if meta_end > self.file_size or alloc_ptr > self.file_size or alloc_ptr < meta_end:
            raise BetonError(
                f"{self.path}: truncated or corrupted ({self.file_size} bytes; header expects "
                f"metadata up to byte {meta_end} and the allocation table at byte {alloc_ptr})"
            )
        if (self.file_size - alloc_ptr) % _ALLOC.itemsize:
            raise BetonError(f"{self.path}: truncated (allocation table cut short)")
        self.metadata = self._data[desc_end:meta_end].view(meta_dtype)
        alloc = self._data[alloc_ptr:].view(_ALLOC)
        order = np.argsort(alloc["ptr"])
        self._ptrs = alloc["ptr"][order].astype(np.int64)
        self._sizes = alloc["size"][order].astype(np.int64)
        if len(alloc) and (
            int((self._ptrs + self._sizes).max()) > alloc_ptr
            or int(alloc["sample_id"].max()) >= max(self.num_samples, 1)
        ):
            raise BetonError(f"{self.path}: corrupted allocation table")
        images = [name for name, kind in self.fields.items() if kind == "rgb_image"]
        labels = [name for name, kind in self.fields.items() if kind == "int"]
        if len(images) != 1 or len(labels) != 1:
            raise BetonError(
                f"{self.path}: expected one image and one int label field, found {self.fields}"
            )
        self.image_field, self.label_field = images[0], labels[0]
        image_meta = self.metadata[self.image_field]
        self._image_ptrs = image_meta["data_ptr"].astype(np.int64)
        self.heights = image_meta["height"].astype(np.int64)
        self.widths = image_meta["width"].astype(np.int64)
        self.modes = image_meta["mode"].astype(np.int64)
        self.labels = np.asarray(self.metadata[self.label_field], dtype=np.int64)
        slot = np.searchsorted(self._ptrs, self._image_ptrs)
        slot_ok = slot < len(self._ptrs)
        found = np.zeros(self.num_samples, dtype=bool)
        found[slot_ok] = self._ptrs[slot[slot_ok]] == self._image_ptrs[slot_ok]
        if not found.all():
            bad = int(np.flatnonzero(~found)[0])
            raise BetonError(f"{self.path}: corrupted metadata (sample {bad} points nowhere)")
        self._image_sizes = self._sizes[slot]
        if not np.isin(self.modes, list(_MODE_NAMES)).all():
            raise BetonError(f"{self.path}: corrupted metadata (unknown image mode)")
        raw = self.modes == MODE_RAW
        if (self._image_sizes[raw] != self.heights[raw] * self.widths[raw] * 3).any():
            raise BetonError(f"{self.path}: corrupted metadata (raw image size mismatch)")

    def __len__(self) -> int:
        return self.num_samples

    def __getstate__(self) -> dict[str, Any]:
        # Reopen in the receiving process (DataLoader workers) instead of pickling the memmap.
        return {"path": str(self.path)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def image_bytes(self, index: int) -> npt.NDArray[np.uint8]:
        """The stored bytes of image ``index`` (JPEG or raw pixels)."""
        start = int(self._image_ptrs[index])
        return self._data[start : start + int(self._image_sizes[index])]

    def image(self, index: int) -> npt.NDArray[np.uint8]:
        """Decode image ``index`` as ``H x W x 3`` RGB.

        Raises:
            BetonError: The stored JPEG is corrupted.
        """
        data = self.image_bytes(index)
        height, width = int(self.heights[index]), int(self.widths[index])
        if self.modes[index] == MODE_RAW:
            return np.array(data).reshape(height, width, 3)
        image = decode_jpeg(data)
        if image is None or image.shape != (height, width, 3):
            raise BetonError(f"{self.path}: sample {index}: corrupted JPEG data")
        return image

    def content_hash(self) -> str:
        """SHA-256 of every sample's label, image mode, size and stored bytes, in sample order.

        Unlike a hash of the file, it does not depend on how FFCV's writer processes laid out
        pages, so it identifies the data set's content.
        """
        digest = hashlib.sha256()
        for index in range(self.num_samples):
            digest.update(
                np.array(
                    [
                        self.labels[index],
                        self.modes[index],
                        self.heights[index],
                        self.widths[index],
                    ],
                    dtype="<i8",
                ).tobytes()
            )
            digest.update(self.image_bytes(index).tobytes())
        return "sha256:" + digest.hexdigest()


@dataclass(frozen=True)
class BetonInfo:
    """Summary of a ``.beton`` file (what ``scalenet-data inspect`` prints)."""

    path: str
    file_size: int
    num_samples: int
    fields: dict[str, str]
    image_modes: dict[str, int]
    height_range: tuple[int, int]
    width_range: tuple[int, int]
    label_counts: dict[int, int] = field(default_factory=dict)
    decoded: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "path": self.path,
            "file_size": self.file_size,
            "num_samples": self.num_samples,
            "fields": self.fields,
            "image_modes": self.image_modes,
            "height_range": list(self.height_range),
            "width_range": list(self.width_range),
            "label_counts": {str(k): v for k, v in self.label_counts.items()},
            "decoded": self.decoded,
        }


def inspect_beton(path: str | os.PathLike[str], decode: bool = False) -> BetonInfo:
    """Check a ``.beton`` file's structure and summarize it.

    Args:
        path: The file.
        decode: Also decode every image (slow on big files; finds corrupted JPEG data).

    Raises:
        BetonError: Missing, truncated or corrupted (the message names the file).
    """
    reader = BetonReader(path)
    decoded = 0
    if decode:
        for index in range(len(reader)):
            reader.image(index)
            decoded += 1
    values, counts = np.unique(reader.labels, return_counts=True)
    modes = {_MODE_NAMES[m]: int((reader.modes == m).sum()) for m in _MODE_NAMES}

    def span(values: npt.NDArray[np.int64]) -> tuple[int, int]:
        return (int(values.min()), int(values.max())) if len(values) else (0, 0)

    return BetonInfo(
        path=str(reader.path),
        file_size=reader.file_size,
        num_samples=len(reader),
        fields=dict(reader.fields),
        image_modes={k: v for k, v in modes.items() if v},
        height_range=span(reader.heights),
        width_range=span(reader.widths),
        label_counts={int(v): int(c) for v, c in zip(values, counts, strict=True)},
        decoded=decoded,
    )
