"""scalenet.supernet: the weight-sharing super-supernet, its trainer, evaluation and extraction.

* :class:`SuperSupernet`: dynamic network over every path of a space (``set_active`` then
  ``forward``; ``extract`` gives a static network with the inherited weights);
* :class:`SupernetTrainer` / :class:`TrainConfig`: one sampled path per batch, exact resume, DDP;
* :class:`SupernetEvaluator`: BN recalibration and mini-val top-1 per path, cached;
* :mod:`scalenet.supernet.engine`: reusable training machinery (checkpoints, metrics, the loop,
  distributed) and CPU process settings (``engine.runtime``); images in memory with resumable
  batches are scalenet-data's (:mod:`scalenet.data.memory`);
* :mod:`scalenet.supernet.standalone`: static networks, the model zoo, retraining / fine-tuning /
  evaluation, ONNX / TorchScript export (timm block strings: :mod:`scalenet.space.timm`,
  re-exported here);
* :mod:`scalenet.supernet.bn`: BN recalibration of either kind of network.
"""

from scalenet.sampling import PathSource
from scalenet.space.timm import arch_def, block_string
from scalenet.supernet.bn import recalibrate_bn
from scalenet.supernet.dynamic.model import (
    WIDTH_MODES,
    ActiveNetwork,
    SuperSupernet,
    channel_capacity,
)
from scalenet.supernet.dynamic.ops import channel_slice, kernel_slice
from scalenet.supernet.engine import CheckpointError, NonFiniteError
from scalenet.supernet.evaluate import SupernetEvaluator, top1
from scalenet.supernet.standalone.cache import EvaluationCache
from scalenet.supernet.standalone.export import export_onnx, export_torchscript
from scalenet.supernet.standalone.retrain import (
    RetrainConfig,
    Retrainer,
    RetrainResult,
    accuracy,
    cpu_latency_ms,
    evaluate_model,
)
from scalenet.supernet.standalone.static import (
    BilateralAverage,
    StaticNet,
    build_static,
    combine_sides,
    load_static,
    save_static,
)
from scalenet.supernet.standalone.zoo import PRESETS, create_model, finetune, resolve_path
from scalenet.supernet.trainer import (
    SupernetTrainer,
    TrainConfig,
    TrainResult,
    checkpoint_width_mode,
    train_sides,
)

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "WIDTH_MODES",
    "ActiveNetwork",
    "BilateralAverage",
    "CheckpointError",
    "EvaluationCache",
    "NonFiniteError",
    "PathSource",
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
