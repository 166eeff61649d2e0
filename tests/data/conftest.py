"""Fixtures for scalenet.data tests: small generated images and IDX files, real Fashion-MNIST.

Tests marked ``ffcv`` need FFCV. Without it they are skipped, with the import error as the
reason, unless ``SCALENET_REQUIRE_FFCV=1`` (set where FFCV is expected, e.g. the nox ``data``
session): then they fail, so a broken FFCV install cannot pass as a green run.
"""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Callable
from pathlib import Path

import hypothesis  # noqa: F401  (imported early: its pytest plugin imports it lazily at exit)
import numpy as np
import pytest

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("n01", "n02", "n03")
REQUIRE_FFCV_ENV = "SCALENET_REQUIRE_FFCV"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"ffcv: needs FFCV (skipped without it; failed instead when {REQUIRE_FFCV_ENV}=1)",
    )


@functools.cache
def ffcv_import_error() -> str | None:
    """Why FFCV cannot be imported (None if it can): the modules the tests use, really imported."""
    try:
        import ffcv.loader
        import ffcv.writer  # noqa: F401
    except Exception as exc:  # ImportError, or a broken build failing to load its C library
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("ffcv") is None:
        return
    error = ffcv_import_error()
    if error is None:
        return
    if os.environ.get(REQUIRE_FFCV_ENV) == "1":
        pytest.fail(
            f"{REQUIRE_FFCV_ENV}=1 but ffcv cannot be imported ({error}); "
            "install it: pip install 'scalenet-data[ffcv]'",
            pytrace=False,
        )
    pytest.skip(f"ffcv cannot be imported ({error}); {REQUIRE_FFCV_ENV}=1 makes this a failure")


def make_image_folder(
    root: Path, classes: tuple[str, ...] = CLASSES, per_class: int = 8, seed: int = 0
) -> Path:
    """root/<class>/<i>.jpg|png with varied sizes; returns root."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = int(rng.integers(16, 40)), int(rng.integers(16, 40))
            pixels = np.full((h, w, 3), 40 + 60 * c, dtype=np.uint8)
            pixels += rng.integers(0, 20, (h, w, 3), dtype=np.uint8)
            suffix = ".png" if i % 3 == 0 else ".jpg"
            image = Image.fromarray(pixels if i % 4 else pixels[:, :, 0])  # some grayscale
            image.save(root / name / f"{i:03d}{suffix}")
    return root


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    """Write an IDX file (ubyte) the way MNIST is distributed."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def make_idx_folder(root: Path, n_train: int = 60, n_test: int = 20, gz: bool = True) -> Path:
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 3
        images = rng.integers(0, 256, (n, 12, 10), dtype=np.uint8)
        images[:, 0, 0] = labels * 100  # a pixel that encodes the label
        write_idx(root / f"{split}-images-idx3-ubyte{suffix}", images, gz)
        write_idx(root / f"{split}-labels-idx1-ubyte{suffix}", labels.astype(np.uint8), gz)
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "folder")


@pytest.fixture
def idx_folder(tmp_path: Path) -> Path:
    return make_idx_folder(tmp_path / "idx")


@pytest.fixture
def make_folder() -> Callable[..., Path]:
    """``make_folder(root, classes=..., per_class=8, seed=0)`` writes a small image tree."""
    return make_image_folder


@pytest.fixture
def idx_writer() -> Callable[..., None]:
    """``idx_writer(path, array, gz=True)`` writes an IDX file."""
    return write_idx


@pytest.fixture
def fashion_dir() -> Path:
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not at {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
    return FASHION_DIR
