"""Batched transforms: on-the-fly resize, normalization, RandAugment (no FFCV needed)."""

from __future__ import annotations

import pytest
import torch

from scalenet.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchRandAugment,
    normalize_batch,
    resize_batch,
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_resize_batch_keeps_dtype_device_and_layout(dtype: torch.dtype) -> None:
    images = (
        (torch.rand(4, 3, 32, 32) * 255).to(dtype).contiguous(memory_format=torch.channels_last)
    )
    out = resize_batch(images, 20)
    assert out.shape == (4, 3, 20, 20) and out.dtype == dtype and out.device == images.device
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert resize_batch(images, (32, 32)) is images
    assert resize_batch(images, (16, 24)).shape == (4, 3, 16, 24)


def test_resize_batch_of_constant_image_is_constant() -> None:
    images = torch.full((2, 3, 10, 10), 0.25)
    for size in (7, 23):
        torch.testing.assert_close(resize_batch(images, size), torch.full((2, 3, size, size), 0.25))


def test_resize_batch_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"images: expected N x C x H x W"):
        resize_batch(torch.zeros(3, 8, 8), 4)
    with pytest.raises(ValueError, match=r"resolution"):
        resize_batch(torch.zeros(1, 3, 8, 8), 0)


def test_normalize_batch_values() -> None:
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 2, 2)
    out = normalize_batch(images)
    for c in range(3):
        assert out[0, c, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[c] / IMAGENET_STD[c], 1e-5)
        assert out[1, c, 1, 1].item() == pytest.approx(
            (1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], 1e-5
        )


def test_batch_randaugment_per_image() -> None:
    torch.manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    out = BatchRandAugment(num_ops=2, magnitude=9)(images)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert not torch.equal(out, images)
    assert torch.equal(BatchRandAugment(num_ops=0)(images), images)
    with pytest.raises(ValueError, match=r"magnitude"):
        BatchRandAugment(magnitude=31)
    with pytest.raises(ValueError, match=r"uint8 batch"):
        BatchRandAugment()(images.float())
