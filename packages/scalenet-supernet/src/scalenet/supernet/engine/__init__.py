"""The training engine: what the supernet trainer and the retrainer share.

Nothing here knows about supernets.

Rooms:

* :mod:`~scalenet.supernet.engine.distributed`: :class:`DistContext`, :func:`init_distributed`,
  :func:`distributed_map`, :func:`broadcast_module`, :func:`allreduce_gradients`;
* :mod:`~scalenet.supernet.engine.checkpoint`: :class:`Checkpointer`, :class:`CheckpointError`,
  :func:`capture_rng` / :func:`restore_rng`;
* :mod:`~scalenet.supernet.engine.metrics`: :class:`MetricsWriter`, :class:`Throughput`,
  :func:`progress`;
* :mod:`~scalenet.supernet.engine.loggers`: where the records go besides ``metrics.jsonl``
  (:data:`LOGGERS`: a CSV table, DVCLive, TensorBoard), rebuilt or purged on a resume;
* :mod:`~scalenet.supernet.engine.loop`: :class:`TrainingLoop` and its schedule and guards;
* :mod:`~scalenet.supernet.engine.runtime`: CPU process settings (local ranks, threads,
  tcmalloc) and the local launcher.

Images in memory and resumable batches are scalenet-data's (:mod:`scalenet.data.memory`).

The supernet trainer (:mod:`scalenet.supernet.trainer`) and the retraining trainer
(:mod:`scalenet.supernet.standalone.retrain`) compose these pieces; every name below is importable
from ``scalenet.supernet.engine`` itself.
"""

from scalenet.supernet.engine.checkpoint import (
    Checkpointer,
    CheckpointError,
    capture_rng,
    restore_rng,
)
from scalenet.supernet.engine.distributed import (
    DistContext,
    MapFn,
    allreduce_gradients,
    broadcast_module,
    distributed_map,
    init_distributed,
)
from scalenet.supernet.engine.loggers import LOGGERS, check_loggers
from scalenet.supernet.engine.loop import (
    SETTINGS_FILE,
    LoopConfig,
    LoopResult,
    LoopTrainer,
    NonFiniteError,
    ResumableBatches,
    TrainingLoop,
    batches_state,
    check_finite,
    endless,
    param_groups,
    resume_or_restart,
    warmup_cosine,
)
from scalenet.supernet.engine.metrics import (
    MetricsWriter,
    Throughput,
    progress,
)

__all__ = [
    "LOGGERS",
    "SETTINGS_FILE",
    "CheckpointError",
    "Checkpointer",
    "DistContext",
    "LoopConfig",
    "LoopResult",
    "LoopTrainer",
    "MapFn",
    "MetricsWriter",
    "NonFiniteError",
    "ResumableBatches",
    "Throughput",
    "TrainingLoop",
    "allreduce_gradients",
    "batches_state",
    "broadcast_module",
    "capture_rng",
    "check_finite",
    "check_loggers",
    "distributed_map",
    "endless",
    "init_distributed",
    "param_groups",
    "progress",
    "restore_rng",
    "resume_or_restart",
    "warmup_cosine",
]
