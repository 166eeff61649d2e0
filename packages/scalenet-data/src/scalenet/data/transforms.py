"""Batched image transforms that run on whatever device the batch lives on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BatchRandAugment",
    "normalize_batch",
    "resize_batch",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_batch(
    images: torch.Tensor,
    resolution: int | tuple[int, int],
    *,
    mode: str = "bilinear",
    antialias: bool = True,
) -> torch.Tensor:
    """Resize an ``N x C x H x W`` batch to ``resolution`` on the batch's own device.

    The super-supernet samples one resolution per batch and resizes the batch on the fly
    (DESIGN.md, "the batch is resized to r_s"). Floating batches stay floating; ``uint8`` batches
    are resized in float32 and rounded back. The memory format (e.g. channels-last) is kept.

    Args:
        images: The batch.
        resolution: Output side, or ``(height, width)``.
        mode: ``"bilinear"``, ``"bicubic"``, ``"nearest"`` or ``"area"``.
        antialias: Low-pass when shrinking (bilinear/bicubic only).

    Returns:
        The resized batch (``images`` itself if it already has that size).

    Raises:
        ValueError: ``images`` is not 4-D or ``resolution`` is not positive.
    """
    if images.dim() != 4:
        raise ValueError(f"images: expected N x C x H x W, got shape {tuple(images.shape)}")
    size = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"resolution: expected a positive side or (height, width), got {size}")
    if tuple(images.shape[-2:]) == size:
        return images
    memory_format = (
        torch.channels_last
        if images.is_contiguous(memory_format=torch.channels_last) and images.shape[1] > 1
        else torch.contiguous_format
    )
    work = images if images.is_floating_point() else images.float()
    kwargs: dict[str, bool] = {}
    if mode in ("bilinear", "bicubic"):
        kwargs = {"align_corners": False, "antialias": antialias}
    out = F.interpolate(work, size=size, mode=mode, **kwargs)
    if not images.is_floating_point():
        out = out.round_().clamp_(0, 255).to(images.dtype)
    return out.contiguous(memory_format=memory_format)


def normalize_batch(
    images: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``uint8`` batch in ``[0, 255]`` -> ``(x / 255 - mean) / std`` in ``dtype``, same device.

    Args:
        images: ``N x C x H x W`` ``uint8`` batch.
        mean: Per-channel mean of ``x / 255``.
        std: Per-channel standard deviation of ``x / 255``.
        dtype: Output floating type.
    """
    shape = (1, len(mean), 1, 1)
    mean_t = torch.tensor(mean, device=images.device, dtype=dtype).view(shape) * 255.0
    std_t = torch.tensor(std, device=images.device, dtype=dtype).view(shape) * 255.0
    return (images.to(dtype) - mean_t) / std_t


@dataclass(frozen=True)
class BatchRandAugment:
    """RandAugment (Cubuk et al.) applied per image to a ``uint8`` batch, on its device.

    FFCV's compiled pipeline has no RandAugment, so retraining applies it here, after the batch
    reached its device; each image draws its own operations. Randomness comes from torch's
    global generator (torchvision's RandAugment takes no generator): seed it with
    ``torch.manual_seed``.

    Args:
        num_ops: Operations per image.
        magnitude: Magnitude bin, ``0 <= magnitude < num_magnitude_bins``.
        num_magnitude_bins: Number of magnitude bins.
    """

    num_ops: int = 2
    magnitude: int = 9
    num_magnitude_bins: int = 31

    def __post_init__(self) -> None:
        if self.num_ops < 0:
            raise ValueError(f"num_ops: must be >= 0, got {self.num_ops}")
        if not 0 <= self.magnitude < self.num_magnitude_bins:
            raise ValueError(
                f"magnitude: must lie in [0, {self.num_magnitude_bins}), got {self.magnitude}"
            )

    def augment_image(self, image: torch.Tensor) -> torch.Tensor:
        """Augment one ``C x H x W`` ``uint8`` image (the fallback loader calls this per sample)."""
        from torchvision.transforms import v2

        augment = v2.RandAugment(self.num_ops, self.magnitude, self.num_magnitude_bins)
        out: torch.Tensor = augment(image)
        return out

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Augment every image of an ``N x C x H x W`` ``uint8`` batch independently."""
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"images: expected an N x C x H x W uint8 batch, got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        out = torch.stack([self.augment_image(image) for image in images])
        if images.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)
        return out
