"""scalenet.supernet: the weight-sharing super-supernet, its trainer, evaluation and extraction.

* :class:`SuperSupernet`: dynamic network over every path of a space (``set_active`` then
  ``forward``; ``extract`` gives a static network with the inherited weights);
* :class:`SupernetTrainer` / :class:`TrainConfig`: one sampled path per batch, exact resume, DDP;
* :class:`SupernetEvaluator`: BN recalibration and mini-val top-1 per path, cached;
* :mod:`scalenet.supernet.engine`: reusable training machinery (checkpoints, metrics, schedules,
  gradient all-reduce);
* :mod:`scalenet.supernet.runtime`: CPU process settings (local ranks, threads, tcmalloc) and the
  local launcher;
* :mod:`scalenet.supernet.data`: IDX / Fashion-MNIST in memory, mini-val split, resumable batches;
* :mod:`scalenet.supernet.zoo`, :mod:`scalenet.supernet.retrain`, :mod:`scalenet.supernet.export`:
  static model zoo, retraining / fine-tuning / evaluation, ONNX / TorchScript (timm block strings:
  :mod:`scalenet.space.timm`, re-exported here).
"""

from scalenet.space.timm import arch_def, block_string
from scalenet.supernet.bn import recalibrate_bn
from scalenet.supernet.engine import CheckpointError, NonFiniteError
from scalenet.supernet.evaluate import SupernetEvaluator, top1
from scalenet.supernet.export import export_onnx, export_torchscript
from scalenet.supernet.model import WIDTH_MODES, ActiveNetwork, SuperSupernet, channel_capacity
from scalenet.supernet.ops import channel_slice, kernel_slice
from scalenet.supernet.retrain import (
    RetrainConfig,
    Retrainer,
    RetrainResult,
    accuracy,
    cpu_latency_ms,
    evaluate_model,
)
from scalenet.supernet.static import (
    BilateralAverage,
    StaticNet,
    build_static,
    combine_sides,
    load_static,
    save_static,
)
from scalenet.supernet.trainer import (
    PathSampler,
    SupernetTrainer,
    TrainConfig,
    TrainResult,
    checkpoint_width_mode,
    train_sides,
)
from scalenet.supernet.zoo import PRESETS, create_model, finetune, resolve_path

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "WIDTH_MODES",
    "ActiveNetwork",
    "BilateralAverage",
    "CheckpointError",
    "NonFiniteError",
    "PathSampler",
    "RetrainConfig",
    "RetrainResult",
    "Retrainer",
    "StaticNet",
    "SuperSupernet",
    "SupernetEvaluator",
    "SupernetTrainer",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "arch_def",
    "block_string",
    "build_static",
    "channel_capacity",
    "channel_slice",
    "checkpoint_width_mode",
    "combine_sides",
    "cpu_latency_ms",
    "create_model",
    "evaluate_model",
    "export_onnx",
    "export_torchscript",
    "finetune",
    "kernel_slice",
    "load_static",
    "recalibrate_bn",
    "resolve_path",
    "save_static",
    "top1",
    "train_sides",
]
