"""BatchNorm recalibration ("precise BN"), one function for the super-supernet and static networks.

The running statistics a network carries describe other weights (a short schedule's lagging
averages) or no network at all (a weight-sharing super-supernet, whose statistics belong to no
path). :func:`recalibrate_bn` resets them and re-estimates them as an exact cumulative average
over a few training batches, in train mode with dropout off, without gradients and without
changing a weight.

It handles :class:`torch.nn.BatchNorm2d` (and every torch BatchNorm) and the super-supernet's
:class:`~scalenet.supernet.dynamic.ops.DynamicBatchNorm2d`, of which only the active path's
slices change.
``torch.optim.swa_utils.update_bn`` does the same for torch's BatchNorm only, and leaves dropout
on (it calls ``model.train()``), so it is not used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from scalenet.supernet.dynamic.ops import DynamicBatchNorm2d

__all__ = ["NORM_TYPES", "recalibrate_bn"]

#: The BatchNorm types whose statistics :func:`recalibrate_bn` re-estimates.
NORM_TYPES: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._BatchNorm, DynamicBatchNorm2d)


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], num_batches: int
) -> int:
    """Re-estimate every BatchNorm's running statistics of ``model`` over ``num_batches`` batches.

    The statistics are reset (mean 0, variance 1), then each batch ``k`` (from 0) is folded in
    with momentum ``1 / (k + 1)``: after the last one they are the exact mean of the per-batch
    statistics, whatever order the model was used in before. The model runs in train mode with
    every :class:`~torch.nn.Dropout` in eval mode; the momenta and the train/eval mode are
    restored afterwards. For a super-supernet, set the path first (``set_active``).

    Args:
        model: A static network or a super-supernet.
        batches: ``(images, labels)`` pairs; the labels are not used.
        num_batches: How many batches to use; 0 (or a model without BatchNorm) changes nothing.

    Returns:
        The number of batches used (fewer when ``batches`` runs out).
    """
    norms: list[Any] = [module for module in model.modules() if isinstance(module, NORM_TYPES)]
    if not norms or num_batches < 1:
        return 0
    momenta = [norm.momentum for norm in norms]
    dropouts = [module for module in model.modules() if isinstance(module, nn.Dropout)]
    was_training = model.training
    device = next(model.parameters()).device
    for norm in norms:
        norm.reset_running_stats()
    model.train()
    for dropout in dropouts:
        dropout.eval()
    used = 0
    try:
        for images, _labels in batches:
            if used >= num_batches:
                break
            for norm in norms:
                norm.momentum = 1.0 / (used + 1)
            model(images.to(device))
            used += 1
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.train(was_training)
    return used
