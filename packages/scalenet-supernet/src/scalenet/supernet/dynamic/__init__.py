"""The dynamic network: elastic layers, block slots and the super-supernet.

* :mod:`~scalenet.supernet.dynamic.ops`: layers that own their largest weight and slice it
  (channels on a side, kernels as centre crops), each with its own ``to_static`` extraction;
* :mod:`~scalenet.supernet.dynamic.blocks`: :class:`DynamicMBConv`, the elastic block slot;
* :mod:`~scalenet.supernet.dynamic.model`: :class:`SuperSupernet` (``set_active``, ``forward``,
  ``extract``, ``from_checkpoint``) and its width modes.
"""

from scalenet.supernet.dynamic.blocks import DynamicMBConv
from scalenet.supernet.dynamic.model import (
    WIDTH_MODES,
    ActiveNetwork,
    SuperSupernet,
    channel_capacity,
    check_width_mode,
)

__all__ = [
    "WIDTH_MODES",
    "ActiveNetwork",
    "DynamicMBConv",
    "SuperSupernet",
    "channel_capacity",
    "check_width_mode",
]
