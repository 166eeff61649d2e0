"""Sources, IDX reading, class lists and the minival split (no FFCV needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalenet.data import (
    ArraySource,
    DataError,
    ImageFolderSource,
    builtin_class_list,
    find_fashion_mnist,
    idx_source,
    minival_split,
    read_class_list,
    read_idx,
)


def test_image_folder_labels_follow_sorted_classes(image_folder: Path) -> None:
    source = ImageFolderSource(image_folder)
    assert source.classes == ("n01", "n02", "n03")
    assert len(source) == 24
    assert np.bincount(source.labels).tolist() == [8, 8, 8]
    image = source.load(0)  # a grayscale PNG comes out as 3 channels
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert source.describe(0).endswith("n01/000.png")


def test_image_folder_class_subset_is_renumbered(image_folder: Path) -> None:
    source = ImageFolderSource(image_folder, classes=["n03", "n02"])
    assert source.classes == ("n02", "n03")
    assert np.bincount(source.labels).tolist() == [8, 8]
    assert "n02" in source.describe(0)


def test_image_folder_errors_name_the_path(tmp_path: Path, image_folder: Path) -> None:
    with pytest.raises(DataError, match=r"missing.*not found"):
        ImageFolderSource(tmp_path / "missing")
    with pytest.raises(DataError, match=r"'n99'"):
        ImageFolderSource(image_folder, classes=["n01", "n99"])
    (image_folder / "n04").mkdir()
    with pytest.raises(DataError, match=r"n04: class folder has no images"):
        ImageFolderSource(image_folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"no class folders"):
        ImageFolderSource(empty)


def test_unreadable_image_names_the_file(image_folder: Path) -> None:
    bad = image_folder / "n02" / "999.jpg"
    good = (image_folder / "n02" / "001.jpg").read_bytes()
    bad.write_bytes(good[: len(good) // 3])  # truncated JPEG
    source = ImageFolderSource(image_folder)
    index = source.files.index(bad)
    with pytest.raises(DataError, match=r"999.jpg: unreadable image"):
        source.load(index)


IdxWriter = Callable[..., None]


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path: Path, gz: bool, idx_writer: IdxWriter) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-images-idx3-ubyte"
    idx_writer(path, array, gz=gz)
    np.testing.assert_array_equal(read_idx(path), array)


def test_read_idx_rejects_truncated_and_foreign_files(
    tmp_path: Path, idx_writer: IdxWriter
) -> None:
    path = tmp_path / "t.idx"
    idx_writer(path, np.zeros((4, 5, 5), dtype=np.uint8), gz=False)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match=r"t.idx: IDX data has 93 bytes"):
        read_idx(path)
    path.write_bytes(b"hello world")
    with pytest.raises(DataError, match=r"t.idx: not an IDX file"):
        read_idx(path)
    gz = tmp_path / "t.gz"
    idx_writer(gz, np.zeros((40, 5, 5), dtype=np.uint8))
    gz.write_bytes(gz.read_bytes()[:20])
    with pytest.raises(DataError, match=r"t.gz: cannot decompress"):
        read_idx(gz)


def test_idx_source_is_three_channel(idx_folder: Path) -> None:
    source = idx_source(idx_folder, "train", ["a", "b", "c"])
    assert len(source) == 60 and source.classes == ("a", "b", "c")
    image = source.load(4)
    assert image.shape == (12, 10, 3)
    assert (image[..., 0] == image[..., 2]).all()
    assert image[0, 0, 0] == 100 * source.labels[4]
    with pytest.raises(DataError, match=r"no IDX t10k images"):
        idx_source(idx_folder / "nothing", "t10k")


def test_array_source_validation_and_subset() -> None:
    images = np.zeros((6, 4, 4), dtype=np.uint8)
    with pytest.raises(DataError, match=r"images must be uint8"):
        ArraySource(images.astype(np.float32), [0] * 6)
    with pytest.raises(DataError, match=r"6 images but labels"):
        ArraySource(images, [0] * 5)
    with pytest.raises(DataError, match=r"labels must lie in \[0, 2\)"):
        ArraySource(images, [0, 1, 2, 0, 1, 2], ["x", "y"])
    source = ArraySource(images, [0, 1, 2, 0, 1, 2], ["x", "y", "z"])
    sub = source.subset(["z", "x"])
    assert sub.classes == ("z", "x") and sub.labels.tolist() == [1, 0, 1, 0]
    with pytest.raises(DataError, match=r"'w'"):
        source.subset(["w"])


def test_read_class_list(tmp_path: Path) -> None:
    path = tmp_path / "classes.txt"
    path.write_text("# ImageNet-100 excerpt\nn02869837\n\nn01749939  # comment\n")
    assert read_class_list(path) == ["n02869837", "n01749939"]
    path.write_text("n1\nn1\n")
    with pytest.raises(DataError, match=r"classes.txt:2: class 'n1' listed twice"):
        read_class_list(path)
    with pytest.raises(DataError, match=r"nope.txt: class list file not found"):
        read_class_list(tmp_path / "nope.txt")


def test_find_fashion_mnist_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_folder: Callable[..., Path]
) -> None:
    import scalenet.data.sources as sources

    monkeypatch.setattr(sources, "DEFAULT_FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match=r"apt-get install dataset-fashion-mnist"):
        find_fashion_mnist(tmp_path / "also-absent")
    make_folder(tmp_path / "unused")  # unrelated folder is not accepted
    with pytest.raises(DataError, match=r"prepare.source"):
        find_fashion_mnist(tmp_path / "unused")


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(3, 30), min_size=1, max_size=6),
    per_class=st.integers(0, 2),
    seed=st.integers(0, 2**31),
)
def test_minival_split_partitions_and_balances(
    counts: list[int], per_class: int, seed: int
) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(labels)
    train, minival = minival_split(labels, per_class, seed)
    assert sorted(np.concatenate([train, minival]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[minival], minlength=len(counts)).tolist() == [per_class] * len(counts)
    again = minival_split(labels, per_class, seed)
    np.testing.assert_array_equal(again[1], minival)


def test_minival_split_errors_name_the_class() -> None:
    with pytest.raises(DataError, match=r"class 'b' has 2 images"):
        minival_split([0, 0, 0, 1, 1], 2, 0, classes=["a", "b"])
    with pytest.raises(DataError, match=r"minival_per_class: must be >= 0"):
        minival_split([0, 1], -1)
    a = minival_split(np.arange(100) % 2, 5, seed=1)[1]
    b = minival_split(np.arange(100) % 2, 5, seed=2)[1]
    assert not np.array_equal(a, b)


def test_builtin_imagenet100_list() -> None:
    names = read_class_list("imagenet100")
    assert len(names) == 100 and len(set(names)) == 100
    assert names[0] == "n02869837" and names[-1] == "n02090622"
    with pytest.raises(DataError, match=r"class list 'imagenet5'"):
        builtin_class_list("imagenet5")
