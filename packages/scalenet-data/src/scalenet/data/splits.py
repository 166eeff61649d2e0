"""The mini validation split: a fixed number of images per class held out of train."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from scalenet.data.errors import DataError

__all__ = ["DEFAULT_MINIVAL_PER_CLASS", "minival_split"]

# The paper holds 50 images per class out of ImageNet train as the search's validation set.
DEFAULT_MINIVAL_PER_CLASS = 50


def minival_split(
    labels: npt.ArrayLike,
    per_class: int = DEFAULT_MINIVAL_PER_CLASS,
    seed: int = 0,
    classes: Sequence[str] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Split train indices into (train, minival), holding ``per_class`` images of each class out.

    The choice depends only on ``labels``, ``per_class`` and ``seed`` (one
    ``numpy.random.default_rng(seed)``, classes visited in label order).

    Args:
        labels: Label of every training image.
        per_class: Images per class in the minival split (0: no minival split).
        seed: Seed of the split.
        classes: Class names, only used in error messages.

    Returns:
        Sorted train indices and sorted minival indices; together a partition of
        ``range(len(labels))``.

    Raises:
        DataError: ``per_class`` is negative, or a class has no more than ``per_class`` images
            (nothing would be left to train on).
    """
    label_array = np.asarray(labels, dtype=np.int64)
    if per_class < 0:
        raise DataError(f"minival_per_class: must be >= 0, got {per_class}")
    if per_class == 0 or len(label_array) == 0:
        return np.arange(len(label_array), dtype=np.int64), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    held: list[npt.NDArray[np.int64]] = []
    for label in np.unique(label_array):
        members = np.flatnonzero(label_array == label)
        if len(members) <= per_class:
            name = classes[label] if classes is not None else str(label)
            raise DataError(
                f"minival_per_class: class {name!r} has {len(members)} images, cannot hold "
                f"out {per_class} and keep any for training"
            )
        held.append(rng.choice(members, size=per_class, replace=False))
    minival = np.sort(np.concatenate(held)).astype(np.int64)
    mask = np.ones(len(label_array), dtype=bool)
    mask[minival] = False
    return np.flatnonzero(mask).astype(np.int64), minival
