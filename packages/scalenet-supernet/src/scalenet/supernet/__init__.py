"""scalenet.supernet: the weight-sharing super-supernet, its trainer, evaluation and extraction.

* :class:`SuperSupernet`: dynamic network over every path of a space (``set_active`` then
  ``forward``; ``extract`` gives a static network with the inherited weights);
* :class:`SupernetTrainer` / :class:`TrainConfig`: one sampled path per batch, exact resume, DDP;
* :class:`SupernetEvaluator`: BN recalibration and mini-val top-1 per path, cached;
* :mod:`scalenet.supernet.engine`: reusable training machinery (checkpoints, metrics, schedules);
* :mod:`scalenet.supernet.data`: IDX / Fashion-MNIST in memory, mini-val split, resumable batches.
"""

from scalenet.supernet.engine import CheckpointError, NonFiniteError
from scalenet.supernet.evaluate import SupernetEvaluator, recalibrate_bn, top1
from scalenet.supernet.model import WIDTH_MODES, ActiveNetwork, SuperSupernet
from scalenet.supernet.ops import channel_slice, kernel_slice
from scalenet.supernet.static import (
    BilateralAverage,
    StaticNet,
    build_static,
    load_static,
    save_static,
)
from scalenet.supernet.trainer import (
    PathSampler,
    SupernetTrainer,
    TrainConfig,
    TrainResult,
    train_side,
)

__version__ = "0.1.0"

__all__ = [
    "WIDTH_MODES",
    "ActiveNetwork",
    "BilateralAverage",
    "CheckpointError",
    "NonFiniteError",
    "PathSampler",
    "StaticNet",
    "SuperSupernet",
    "SupernetEvaluator",
    "SupernetTrainer",
    "TrainConfig",
    "TrainResult",
    "build_static",
    "channel_slice",
    "kernel_slice",
    "load_static",
    "recalibrate_bn",
    "save_static",
    "top1",
    "train_side",
]
