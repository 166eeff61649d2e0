"""Image sources: an ImageFolder tree, IDX files (MNIST / Fashion-MNIST) and numpy arrays.

A source is an indexable set of labelled images. ``load(i)`` always returns an ``H x W x 3``
``uint8`` RGB array: grayscale sources are replicated to three channels here, once, so that every
later stage (the FFCV ``RGBImageField``, the loaders, the model's 3-channel stem) sees RGB.
"""

from __future__ import annotations

import gzip
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from scalenet.data.errors import DataError

__all__ = [
    "BUILTIN_CLASS_LISTS",
    "DEFAULT_FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "ArraySource",
    "ImageFolderSource",
    "ImageSource",
    "builtin_class_list",
    "find_fashion_mnist",
    "find_idx_file",
    "idx_source",
    "read_class_list",
    "read_idx",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
DEFAULT_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# IDX type codes (http://yann.lecun.com/exdb/mnist/): third byte of the magic number.
_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


# Class lists shipped with the package (scalenet/data/classes/<name>.txt).
BUILTIN_CLASS_LISTS = ("imagenet100",)


def builtin_class_list(name: str) -> Path:
    """Path of a class list shipped with the package, e.g. ``"imagenet100"`` (CMC's list).

    Raises:
        DataError: Unknown name.
    """
    if name not in BUILTIN_CLASS_LISTS:
        raise DataError(f"class list {name!r} not in {set(BUILTIN_CLASS_LISTS)}")
    return Path(__file__).with_name("classes") / f"{name}.txt"


@runtime_checkable
class ImageSource(Protocol):
    """An indexable, labelled image set (what the ``.beton`` writer consumes)."""

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names; label ``i`` is ``classes[i]``."""
        ...

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        """Label of every image, shape ``(len(self),)``."""
        ...

    def __len__(self) -> int: ...

    def load(self, index: int) -> npt.NDArray[np.uint8]:
        """Decode image ``index`` as an ``H x W x 3`` ``uint8`` RGB array."""
        ...

    def describe(self, index: int) -> str:
        """Name image ``index`` for error messages (a file path, or ``arrays[i]``)."""
        ...


def read_class_list(path: str | os.PathLike[str]) -> list[str]:
    """Read a class list: one name (e.g. a WordNet id) per line; ``#`` starts a comment.

    Args:
        path: Text file, or the name of a built-in list (``"imagenet100"``).

    Returns:
        The names in file order, without duplicates.

    Raises:
        DataError: The file is missing, empty or repeats a name.
    """
    file = Path(path)
    if str(path) in BUILTIN_CLASS_LISTS and not file.exists():
        file = builtin_class_list(str(path))
    if not file.is_file():
        raise DataError(
            f"{file}: class list file not found (built-in lists: {', '.join(BUILTIN_CLASS_LISTS)})"
        )
    names: list[str] = []
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if name in names:
            raise DataError(f"{file}:{number}: class {name!r} listed twice")
        names.append(name)
    if not names:
        raise DataError(f"{file}: class list is empty")
    return names


class ImageFolderSource:
    """An ImageNet-style tree: ``root/<class>/<image>``, classes sorted by folder name.

    Args:
        root: The split folder (e.g. ``imagenet/train``).
        classes: Optional subset of class folder names (e.g. the ImageNet-100 WordNet ids).
            Labels follow the sorted order of the kept names, as ``torchvision``'s
            ``ImageFolder`` would give on a tree holding only those classes.
        extensions: File suffixes accepted as images (case-insensitive).

    Raises:
        DataError: ``root`` is missing or holds no class folder, a requested class is absent,
            or a class folder holds no image.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        classes: Sequence[str] | None = None,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: image folder not found")
        present = sorted(entry.name for entry in self.root.iterdir() if entry.is_dir())
        if not present:
            raise DataError(f"{self.root}: no class folders (expected root/<class>/<image>)")
        if classes is None:
            chosen = present
        else:
            missing = [name for name in classes if name not in set(present)]
            if missing:
                shown = ", ".join(repr(name) for name in missing[:5])
                raise DataError(
                    f"{self.root}: {len(missing)} class(es) of the class list are not folders "
                    f"here: {shown}"
                )
            chosen = sorted(set(classes))
        suffixes = {ext.lower() for ext in extensions}
        files: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(chosen):
            class_dir = self.root / name
            images = sorted(
                entry
                for entry in class_dir.iterdir()
                if entry.is_file() and entry.suffix.lower() in suffixes
            )
            if not images:
                raise DataError(
                    f"{class_dir}: class folder has no images ({', '.join(sorted(suffixes))})"
                )
            files.extend(images)
            labels.extend([label] * len(images))
        self._classes = tuple(chosen)
        self.files = tuple(files)
        self._labels = np.asarray(labels, dtype=np.int64)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class folder names; label ``i`` is ``classes[i]``."""
        return self._classes

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        """Label of every image."""
        return self._labels

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> npt.NDArray[np.uint8]:
        """Decode one image file with PIL as RGB.

        Raises:
            DataError: The file cannot be decoded (the message names it).
        """
        from PIL import Image

        path = self.files[index]
        try:
            with Image.open(path) as image:
                # convert() forces a full decode, so a truncated file fails here, not later.
                rgb = image.convert("RGB")
        except Exception as exc:
            raise DataError(f"{path}: unreadable image ({exc})") from exc
        return np.asarray(rgb, dtype=np.uint8)

    def describe(self, index: int) -> str:
        """The image's file path."""
        return str(self.files[index])


class ArraySource:
    """Images held in memory as a numpy array.

    Args:
        images: ``N x H x W`` (grayscale), ``N x H x W x 1`` or ``N x H x W x 3``, ``uint8``.
        labels: ``N`` integer labels in ``[0, len(class_names))``.
        class_names: Name of each label; defaults to ``"0"``, ``"1"``, ...
        name: How error messages refer to the arrays (e.g. the IDX file name).

    Raises:
        DataError: Shapes or dtypes disagree, or a label is out of range.
    """

    def __init__(
        self,
        images: npt.NDArray[np.uint8],
        labels: npt.ArrayLike,
        class_names: Sequence[str] | None = None,
        name: str = "arrays",
    ) -> None:
        images = np.asarray(images)
        label_array = np.asarray(labels)
        if images.dtype != np.uint8:
            raise DataError(f"{name}: images must be uint8, got {images.dtype}")
        if images.ndim == 4 and images.shape[3] == 1:
            images = images[..., 0]
        if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] != 3):
            raise DataError(
                f"{name}: images must be N x H x W or N x H x W x {{1, 3}}, got {images.shape}"
            )
        if label_array.ndim != 1 or len(label_array) != len(images):
            raise DataError(
                f"{name}: {len(images)} images but labels have shape {label_array.shape}"
            )
        if not np.issubdtype(label_array.dtype, np.integer):
            raise DataError(f"{name}: labels must be integers, got {label_array.dtype}")
        if class_names is None:
            num_classes = int(label_array.max()) + 1 if len(label_array) else 0
            class_names = [str(label) for label in range(num_classes)]
        if len(label_array) and (label_array.min() < 0 or label_array.max() >= len(class_names)):
            raise DataError(
                f"{name}: labels must lie in [0, {len(class_names)}), "
                f"got [{label_array.min()}, {label_array.max()}]"
            )
        self.images = images
        self._labels = label_array.astype(np.int64)
        self._classes = tuple(class_names)
        self.name = name

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names; label ``i`` is ``classes[i]``."""
        return self._classes

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        """Label of every image."""
        return self._labels

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> npt.NDArray[np.uint8]:
        """Image ``index`` as ``H x W x 3``; grayscale is replicated to three channels."""
        image = self.images[index]
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        return np.ascontiguousarray(image)

    def describe(self, index: int) -> str:
        """``name[index]``."""
        return f"{self.name}[{index}]"

    def subset(self, classes: Sequence[str]) -> ArraySource:
        """Keep only the named classes; labels are renumbered in the order of ``classes``.

        Raises:
            DataError: A requested class is not one of this source's classes.
        """
        missing = [name for name in classes if name not in self._classes]
        if missing:
            raise DataError(
                f"{self.name}: class(es) {', '.join(map(repr, missing))} not in "
                f"{list(self._classes)}"
            )
        old_labels = [self._classes.index(name) for name in classes]
        remap = np.full(len(self._classes), -1, dtype=np.int64)
        remap[old_labels] = np.arange(len(classes))
        keep = np.flatnonzero(remap[self._labels] >= 0)
        return ArraySource(self.images[keep], remap[self._labels[keep]], classes, self.name)


def read_idx(path: str | os.PathLike[str]) -> npt.NDArray[np.generic]:
    """Read an IDX file (the MNIST format), gzipped or not.

    Args:
        path: e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        The array, in native byte order.

    Raises:
        DataError: The file is missing, not IDX, or truncated.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: IDX file not found")
    try:
        raw = file.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise DataError(f"{file}: cannot decompress ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{file}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{file}: truncated IDX header")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{file}: IDX data has {len(raw) - header} bytes, header {shape} needs {expected}"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def find_idx_file(folder: str | os.PathLike[str], split: str, kind: str) -> Path:
    """Locate ``<split>-<kind>-idx?-ubyte[.gz]`` in ``folder``.

    Args:
        folder: Folder holding the IDX files.
        split: ``"train"`` or ``"t10k"``.
        kind: ``"images"`` or ``"labels"``.

    Raises:
        DataError: No such file (the message lists the names tried).
    """
    base = Path(folder)
    ndim = 3 if kind == "images" else 1
    names = [
        f"{split}-{kind}-idx{ndim}-ubyte.gz",
        f"{split}-{kind}-idx{ndim}-ubyte",
        f"{split}-{kind}.idx{ndim}-ubyte.gz",
        f"{split}-{kind}.idx{ndim}-ubyte",
    ]
    for name in names:
        if (base / name).is_file():
            return base / name
    raise DataError(f"{base}: no IDX {split} {kind} file (tried {', '.join(names)})")


def idx_source(
    folder: str | os.PathLike[str],
    split: str = "train",
    class_names: Sequence[str] | None = None,
) -> ArraySource:
    """Load one split of an MNIST-layout IDX folder as an in-memory source.

    Args:
        folder: Folder with ``train-*`` and ``t10k-*`` IDX files.
        split: ``"train"`` or ``"t10k"``.
        class_names: Names of the labels (e.g. :data:`FASHION_MNIST_CLASSES`).

    Raises:
        DataError: Files missing or inconsistent.
    """
    images_path = find_idx_file(folder, split, "images")
    labels_path = find_idx_file(folder, split, "labels")
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{images_path}: expected N x H x W uint8 images, got {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{labels_path}: {labels.shape[0]} labels for {len(images)} images in {images_path}"
        )
    return ArraySource(
        images.astype(np.uint8, copy=False), labels.astype(np.int64), class_names, images_path.name
    )


def find_fashion_mnist(path: str | os.PathLike[str] | None = None) -> Path:
    """Find the Fashion-MNIST IDX folder: ``path`` if given and present, else the Debian one.

    Args:
        path: A folder holding ``train-images-idx3-ubyte.gz`` etc., or None.

    Returns:
        The folder.

    Raises:
        DataError: Neither exists; the message says how to get the data.
    """
    candidates = [Path(path)] if path else []
    candidates.append(DEFAULT_FASHION_MNIST_DIR)
    for candidate in candidates:
        try:
            find_idx_file(candidate, "train", "images")
        except DataError:
            continue
        if path and candidate != Path(path):
            warnings.warn(
                f"Fashion-MNIST not found at {path}; using {candidate}", UserWarning, stacklevel=2
            )
        return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise DataError(
        f"Fashion-MNIST not found (looked in {tried}). Install it with "
        "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; puts the IDX files in "
        f"{DEFAULT_FASHION_MNIST_DIR}), or download train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
        "from https://github.com/zalandoresearch/fashion-mnist into a folder and set "
        "prepare.source in params.yaml to it."
    )
