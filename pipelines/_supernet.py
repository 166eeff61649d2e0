"""Shared by the supernet stages: the prepared data set, a trained super-supernet, its evaluator.

The data come from the `prepare` stage's .beton files, opened by scalenet.data's `open_split`
(`loader: memory`, the default, or `ffcv`; see scalenet.data.prepared); its errors end the stage
with one line. The mini-val split is the one `prepare` held out of train.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from _common import fail

import scalenet.data as scalenet_data
from scalenet.data import DataError, subset_indices
from scalenet.supernet import CheckpointError, SupernetEvaluator, SuperSupernet
from scalenet.supernet.engine import DistContext
from scalenet.supernet.engine.runtime import ALLOCATORS, CpuRuntime, relaunch

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
T = TypeVar("T")


#: Environment variable choosing the allocator of the torch stages (tcmalloc or system).
ALLOCATOR_ENV = "SCALENET_ALLOCATOR"


def cpu_runtime(stage: str, processes: int, threads: int) -> int:
    """Re-run this stage with its CPU process settings, then set torch's threads; returns them.

    ``processes`` local processes (DDP over gloo when > 1; a no-op on a GPU machine or under
    torchrun, where the launcher decides), ``threads`` per process (0: the cores shared out),
    tcmalloc unless ``SCALENET_ALLOCATOR=system`` (scalenet.supernet.engine.runtime).
    """
    threads = threads or max(1, (os.cpu_count() or 1) // processes)
    allocator = os.environ.get(ALLOCATOR_ENV, "tcmalloc")
    if allocator not in ALLOCATORS:
        fail(f"{ALLOCATOR_ENV}={allocator!r} not in {{{', '.join(ALLOCATORS)}}}")
    relaunch(CpuRuntime(processes, threads, allocator))
    torch.set_num_threads(threads)
    print(f"{stage}: {os.environ.get('WORLD_SIZE', '1')} process(es) x {threads} thread(s)")
    return threads


def stage_loggers(tensorboard: bool) -> tuple[str, ...]:
    """The training stages' loggers: DVCLive (dvc.yaml declares its files), TensorBoard if asked."""
    return ("dvclive", "tensorboard") if tensorboard else ("dvclive",)


def _data(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)`` of scalenet.data, its DataError a one-line stage failure."""
    try:
        return call(*args, **kwargs)
    except DataError as error:
        fail(str(error))


def held_out_split(folder: str) -> str:
    """The split to report accuracy on: ``test`` (Fashion-MNIST) or ``val`` (ImageFolder)."""
    return _data(scalenet_data.held_out_split, folder)


def split_size(folder: str, split: str) -> int:
    """Images in a prepared split (from its manifest)."""
    return _data(scalenet_data.split_size, folder, split)


def num_classes(folder: str) -> int:
    """Classes of the prepared data set (from its manifest)."""
    return _data(scalenet_data.num_classes, folder)


def data_digest(folder: str) -> str:
    """SHA-256 of the prepared data's manifest (part of a training run's fingerprint)."""
    return _data(scalenet_data.manifest_digest, folder)


def train_batches(
    loader: str,
    folder: str,
    batch_size: int,
    seed: int,
    resolution: int,
    context: DistContext | None = None,
    indices: Sequence[int] | None = None,
    randaugment: bool = False,
) -> Batches:
    """Shuffled training batches of the train split (``indices``: a subset), per process."""
    context = context or DistContext()
    return _data(
        scalenet_data.open_split,
        folder,
        "train",
        batch_size=batch_size,
        loader=loader,
        train=True,
        seed=seed,
        resolution=resolution,
        indices=indices,
        rank=context.rank,
        world_size=context.world_size,
        distributed=context.distributed,
        device=context.device,
        randaugment=randaugment,
    )


def eval_batches(
    loader: str,
    folder: str,
    split: str,
    batch_size: int,
    resolution: int,
    indices: Sequence[int] | None = None,
    device: torch.device | str = "cpu",
) -> Batches:
    """Evaluation batches of a split in file order (``indices``: a subset)."""
    return _data(
        scalenet_data.open_split,
        folder,
        split,
        batch_size=batch_size,
        loader=loader,
        resolution=resolution,
        indices=indices,
        device=device,
    )


def load_evaluator(
    checkpoint: str,
    data: str,
    train: dict[str, Any],
    space_name: str,
    device: torch.device | None = None,
) -> SupernetEvaluator:
    """The mini-val evaluator of the super-supernet saved in ``checkpoint``.

    Uses the prepared mini-val split in ``data``: images the super-supernet never trained on.
    ``device``: where to evaluate (under torchrun: the rank's, from its local rank); None takes
    the first GPU if there is one, else the CPU.
    """
    if not Path(checkpoint).is_file():
        fail(f"super-supernet checkpoint {checkpoint} does not exist (run train_supernet)")
    try:
        supernet = SuperSupernet.from_checkpoint(checkpoint, space_name)
    except (CheckpointError, ValueError) as error:
        fail(str(error).splitlines()[0])
    supernet.to(default_device() if device is None else device)
    if train["channels_last"]:
        supernet.to(memory_format=torch.channels_last)
    return make_evaluator(supernet, data, train)


def default_device() -> torch.device:
    """CUDA when there is a GPU, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def supernet_resolution(supernet: SuperSupernet) -> int:
    """The largest input side any path of the super-supernet uses."""
    space = supernet.space
    return int(np.ceil(space.resolution * max(space.scaling.union("resolution"))))


def make_evaluator(supernet: SuperSupernet, data: str, train: dict[str, Any]) -> SupernetEvaluator:
    """A super-supernet's evaluator: BN recalibrated on fixed train images, top-1 on the mini-val.

    The recalibration images are the same for every path: ``recalib_batches x eval_batch_size``
    train images chosen by ``seed + 1``, in file order, evaluation transforms (centre crops under
    FFCV). A path's accuracy is thus a pure function of the checkpoint, the path and the mini-val.
    """
    resolution = supernet_resolution(supernet)
    device = next(supernet.parameters()).device
    count = train["recalib_batches"] * train["eval_batch_size"]
    indices = subset_indices(split_size(data, "train"), count, train["seed"] + 1)
    return SupernetEvaluator(
        supernet,
        eval_batches(
            train["loader"], data, "train", train["eval_batch_size"], resolution, indices, device
        ),
        eval_batches(
            train["loader"], data, "minival", train["eval_batch_size"], resolution, device=device
        ),
        recalib_batches=train["recalib_batches"],
        side=train["eval_side"],
    )
