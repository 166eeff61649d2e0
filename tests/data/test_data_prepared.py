"""scalenet.data.prepared: a prepared folder's splits as batches (open_split), its manifest facts.

Writes a small folder with FFCV's writer (``prepare_idx``), as the ``prepare`` stage does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import scalenet.data as sd
from scalenet.data import DataError, open_split, prepare_idx

# FFCV writes the folder (its writer gets a watchdog); numba's finalizers warn at exit.
pytestmark = [pytest.mark.ffcv, pytest.mark.timeout(120, method="thread")]
pytestmark.append(pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"))


@pytest.fixture
def prepared(idx_folder: Path, tmp_path: Path) -> Path:
    """60 train images (3 classes, 3 per class held out as the mini-val) and 20 test images."""
    prepare_idx(
        idx_folder, tmp_path / "out", minival_per_class=3, image_format="raw", num_workers=1
    )
    return tmp_path / "out"


def test_manifest_facts(prepared: Path) -> None:
    assert sd.split_size(prepared, "train") == 51 and sd.split_size(prepared, "minival") == 9
    assert sd.split_size(prepared, "test") == 20 and sd.held_out_split(prepared) == "test"
    assert sd.num_classes(prepared) == 3
    digest = sd.manifest_digest(prepared)
    assert len(digest) == 64 and digest == sd.manifest_digest(prepared)
    with pytest.raises(DataError, match=r"has no val split \(splits: minival, test, train\)"):
        sd.split_size(prepared, "val")


def test_read_split_keeps_grey_images_as_one_channel(prepared: Path) -> None:
    images = sd.read_split(prepared, "test")
    assert images.images.shape == (20, 12, 10) and images.images.dtype == np.uint8
    # the pixel the generator set to 100 * label survives the round trip
    assert np.array_equal(images.images[:, 0, 0], 100 * images.labels)


def test_memory_eval_batches_are_the_split_in_file_order(prepared: Path) -> None:
    batches = list(open_split(prepared, "test", batch_size=8))
    assert [len(labels) for _, labels in batches] == [8, 8, 4]
    images, labels = batches[0]
    assert images.shape == (8, 3, 12, 10) and images.dtype == torch.float32
    assert torch.equal(labels, torch.from_numpy(sd.read_split(prepared, "test").labels[:8]))
    subset = list(open_split(prepared, "test", batch_size=8, indices=[3, 5]))
    assert torch.equal(subset[0][1], labels[[3, 5]])


def test_memory_train_batches_are_resumable_and_sharded(prepared: Path) -> None:
    train = open_split(prepared, "train", batch_size=5, train=True, seed=2)
    assert isinstance(train, sd.ShuffledBatches) and len(train) == 10
    again = open_split(prepared, "train", batch_size=5, train=True, seed=2)
    assert all(
        torch.equal(a[1], b[1]) for a, b in zip(train, again, strict=True)
    )  # same seed, same order
    shares = [
        torch.cat([y for _, y in open_split(prepared, "train", batch_size=5, train=True,
                                            rank=r, world_size=2)])
        for r in (0, 1)
    ]  # fmt: skip
    assert len(shares[0]) == len(shares[1]) == 25


def test_ffcv_loader_streams_the_same_images(prepared: Path) -> None:
    memory = torch.cat([y for _, y in open_split(prepared, "test", batch_size=8)])
    streamed = open_split(prepared, "test", batch_size=8, loader="ffcv", resolution=12,
                          num_workers=1)  # fmt: skip
    labels = torch.cat([y.cpu() for _, y in streamed])
    assert torch.equal(labels, memory)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: open_split(f, "test", batch_size=4, loader="lmdb"),
         r"loader 'lmdb' not in \{memory, ffcv\}"),
        (lambda f: open_split(f, "test", batch_size=4, loader="ffcv"),
         "the ffcv loader needs a resolution"),
        (lambda f: open_split(f, "val", batch_size=4),
         r"val\.beton does not exist \(run the prepare stage"),
        (lambda f: sd.manifest_digest(f / "nowhere"),
         r"nowhere/manifest\.json does not exist \(run the prepare stage"),
        (lambda f: sd.held_out_split(f / "nowhere"), "has neither test.beton nor val.beton"),
        (lambda f: sd.num_classes(f / "nowhere"),
         r"nowhere/manifest\.json does not exist \(run the prepare stage"),
    ],
)  # fmt: skip
def test_bad_input_is_one_data_error(prepared: Path, call: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        call(prepared)  # type: ignore[operator]


def test_subset_indices() -> None:
    assert sd.subset_indices(10, None, 0) is None and sd.subset_indices(10, 10, 0) is None
    chosen = sd.subset_indices(100, 7, seed=4)
    assert chosen == sorted(chosen or []) and len(set(chosen or [])) == 7
    assert chosen == sd.subset_indices(100, 7, seed=4) != sd.subset_indices(100, 7, seed=5)
    assert sd.LOADERS == ("memory", "ffcv")
