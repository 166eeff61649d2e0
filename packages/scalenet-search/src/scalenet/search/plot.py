"""The ranking plot: each super-supernet's accuracy of the Q ranked paths against their FLOPs.

Needs matplotlib (the ``plot`` extra), imported only here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path as FilePath

from scalenet.space.files import atomic_write

__all__ = ["plot_ranking"]


def plot_ranking(
    data: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    target: str | os.PathLike[str],
) -> FilePath:
    """Write one scatter panel per sampler: top-1 (%) of each path against its MFLOPs.

    Args:
        data: Per sampler (``hss``, ``uniform``), the paths' ``(flops, accuracy)`` lists.
        target: The PNG to write (atomically).

    Raises:
        ValueError: ``data`` is empty, or matplotlib is not installed (``scalenet-search[plot]``).
    """
    if not data:
        raise ValueError("plot_ranking: nothing to plot")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("plotting needs matplotlib: pip install 'scalenet-search[plot]'") from None
    figure, axes = plt.subplots(1, len(data), figsize=(5 * len(data), 4), squeeze=False)
    for axis, (sampler, (flops, accuracy)) in zip(axes[0], data.items(), strict=True):
        axis.scatter([f / 1e6 for f in flops], accuracy, s=4, alpha=0.5)
        axis.set_title(sampler)
        axis.set_xlabel("MFLOPs")
        axis.set_ylabel("accuracy")
    figure.tight_layout()
    try:
        return atomic_write(target, lambda temp: figure.savefig(temp, dpi=120), suffix=".png")
    finally:
        plt.close(figure)
