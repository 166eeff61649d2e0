"""FFCV loaders: train / eval / minival, per-batch resize, RandAugment, distributed.

Runs alone (``pytest tests/data/test_data_loaders_ffcv.py``); every test has a timeout because
FFCV's loader threads were seen to hang a process after a failure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scalenet.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ArraySource,
    BatchRandAugment,
    BetonError,
    DataError,
    eval_loader,
    ffcv_available,
    minival_loader,
    prepare_dataset,
    resize_batch,
    train_loader,
)

pytestmark = [
    pytest.mark.skipif(not ffcv_available(), reason="ffcv not installed"),
    pytest.mark.timeout(180),
    # numba's dispatcher finalizers raise harmlessly at interpreter shutdown / GC.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 230
    labels = np.arange(n) % 5
    images = rng.integers(0, 256, (n, 24, 24), dtype=np.uint8)  # grayscale source
    out = tmp_path_factory.mktemp("prepared")
    prepare_dataset(
        ArraySource(images, labels),
        out,
        {"test": ArraySource(images[:37], labels[:37])},
        minival_per_class=4,
        image_format="raw",
        num_workers=1,
    )
    return out


def test_train_loader_batches(prepared: Path) -> None:
    loader = train_loader(
        prepared / "train.beton",
        batch_size=32,
        resolution=16,
        num_workers=2,
        backend="ffcv",
        seed=3,
    )
    assert loader.backend == "ffcv"
    assert len(loader) == 210 // 32  # drop_last for training
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    epochs = []
    for _ in range(2):
        labels = []
        for images, batch_labels in loader:
            assert images.shape == (32, 3, 16, 16) and images.dtype == torch.float32
            assert images.is_contiguous(memory_format=torch.channels_last)
            assert batch_labels.dtype == torch.int64 and batch_labels.shape == (32,)
            pixels = images * std + mean  # undo normalization: grayscale -> 3 equal channels
            torch.testing.assert_close(pixels[:, 0], pixels[:, 2], atol=1e-4, rtol=0)
            assert images.min().item() > -2.2 and images.max().item() < 2.7
            labels.append(batch_labels)
        epochs.append(torch.cat(labels))
    assert len(epochs[0]) == 6 * 32
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled each epoch
    small = resize_batch(images, 11)
    assert small.shape == (32, 3, 11, 11) and small.device == images.device


def test_eval_loader_matches_fallback_exactly(prepared: Path) -> None:
    outputs = {}
    for backend in ("ffcv", "torchvision"):
        loader = eval_loader(
            prepared / "test.beton",
            batch_size=16,
            resolution=24,
            crop_ratio=1.0,
            num_workers=1,
            backend=backend,
        )
        assert len(loader) == 3  # 37 images, last partial batch kept
        batches = [(x.clone(), y) for x, y in loader]
        outputs[backend] = (torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
    assert outputs["ffcv"][1].tolist() == [i % 5 for i in range(37)]  # file order
    torch.testing.assert_close(outputs["ffcv"][1], outputs["torchvision"][1])
    torch.testing.assert_close(outputs["ffcv"][0], outputs["torchvision"][0], atol=1e-4, rtol=0)


def test_minival_with_randaugment_and_distributed(prepared: Path, tmp_path: Path) -> None:
    import torch.distributed as dist

    with pytest.raises(DataError, match=r"distributed: True needs torch.distributed"):
        train_loader(
            prepared / "train.beton", batch_size=8, resolution=8, distributed=True, backend="ffcv"
        )
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        loader = train_loader(
            prepared / "minival.beton",
            batch_size=5,
            resolution=20,
            num_workers=1,
            backend="ffcv",
            distributed=True,
            randaugment=BatchRandAugment(num_ops=2, magnitude=5),
        )
        seen = torch.cat([labels for _, labels in loader])
        assert sorted(seen.tolist()) == sorted([c for c in range(5) for _ in range(4)])
    finally:
        dist.destroy_process_group()
    evaluation = minival_loader(
        prepared, batch_size=20, resolution=12, num_workers=1, backend="ffcv"
    )
    assert [x.shape for x, _ in evaluation] == [torch.Size([20, 3, 12, 12])]


def test_truncated_beton_fails_before_ffcv(prepared: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.beton"
    data = (prepared / "test.beton").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(BetonError, match=r"broken\.beton"):
        eval_loader(broken, batch_size=4, resolution=8, backend="ffcv")
    with pytest.raises(DataError, match=r"minival.beton: not found"):
        minival_loader(tmp_path, batch_size=4, resolution=8)
