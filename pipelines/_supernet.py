"""Shared by the supernet stages: the prepared data set, a trained super-supernet, its evaluator.

The data come from the `prepare` stage's .beton files (scalenet-data). With `loader: memory`
(the default) they are read into memory: the embedded default is small, and in-memory batches let
a killed training resume with the exact data order. With `loader: ffcv` (ImageNet scale) they are
streamed by scalenet.data's FFCV loaders (random-resized crops for training, centre crops for
evaluation) onto the process's device; a resumed run then starts a fresh epoch order. The mini-val
split is the one `prepare` held out of train.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import CostRecord, fail, write_json

from scalenet.data import BetonReader, DataError
from scalenet.supernet import CheckpointError, SupernetEvaluator, SuperSupernet
from scalenet.supernet.data import ImageSet, ShuffledBatches, fixed_batches
from scalenet.supernet.engine import DistContext, LoopResult, MetricsWriter, init_distributed
from scalenet.supernet.runtime import ALLOCATORS, CpuRuntime, relaunch

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
#: FFCV worker processes per training process.
LOADER_WORKERS = max(1, min(8, (os.cpu_count() or 2) - 1))


#: Environment variable choosing the allocator of the torch stages (tcmalloc or system).
ALLOCATOR_ENV = "SCALENET_ALLOCATOR"


def cpu_runtime(stage: str, processes: int, threads: int) -> int:
    """Re-run this stage with its CPU process settings, then set torch's threads; returns them.

    ``processes`` local processes (DDP over gloo when > 1; a no-op on a GPU machine or under
    torchrun, where the launcher decides), ``threads`` per process (0: the cores shared out),
    tcmalloc unless ``SCALENET_ALLOCATOR=system`` (scalenet.supernet.runtime).
    """
    threads = threads or max(1, (os.cpu_count() or 1) // processes)
    allocator = os.environ.get(ALLOCATOR_ENV, "tcmalloc")
    if allocator not in ALLOCATORS:
        fail(f"{ALLOCATOR_ENV}={allocator!r} not in {{{', '.join(ALLOCATORS)}}}")
    relaunch(CpuRuntime(processes, threads, allocator))
    torch.set_num_threads(threads)
    print(f"{stage}: {os.environ.get('WORLD_SIZE', '1')} process(es) x {threads} thread(s)")
    return threads


def load_split(folder: str, split: str) -> ImageSet:
    """One split (train, minival, test or val) of a folder written by `prepare`, in memory."""
    file = Path(folder) / f"{split}.beton"
    if not file.is_file():
        fail(f"{file} does not exist (run the prepare stage: dvc repro prepare)")
    try:
        reader = BetonReader(file)
        images = np.stack([reader.image(index) for index in range(len(reader))])
    except DataError as error:
        fail(str(error))
    # Grey sources are stored as 3 equal channels: keep one, ImageSet repeats it.
    if np.array_equal(images[..., 0], images[..., 1]) and np.array_equal(
        images[..., 0], images[..., 2]
    ):
        pixels = images[..., 0]
    else:
        pixels = images.transpose(0, 3, 1, 2)
    return ImageSet(np.ascontiguousarray(pixels), reader.labels.copy())


def load_prepared(folder: str) -> tuple[ImageSet, ImageSet]:
    """(train, mini-val) images of a folder written by the `prepare` stage, in memory."""
    return load_split(folder, "train"), load_split(folder, "minival")


def held_out_split(folder: str) -> str:
    """The split to report accuracy on: ``test`` (Fashion-MNIST) or ``val`` (ImageFolder)."""
    for split in ("test", "val"):
        if (Path(folder) / f"{split}.beton").is_file():
            return split
    fail(f"{folder} has neither test.beton nor val.beton (run the prepare stage)")


def _last_logged_loss(out: Path) -> float | None:
    """The loss of the last readable record in ``out/metrics.jsonl`` (None when there is none)."""
    for _line, record in reversed(MetricsWriter(out / "metrics.jsonl").records()):
        try:
            return float(record["loss"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def training_summary(result: LoopResult, out: Path, previous: Path) -> dict[str, float | None]:
    """``final_loss``, ``train_seconds`` and ``train_images_per_second`` of a finished run.

    A run resumed at its end trains no step: its own loss is NaN and its timing 0, so the loss
    comes from ``out/metrics.jsonl`` and the timing from the ``previous`` summary file (None
    when it is not known).
    """
    loss = result.last_loss
    final_loss = loss if loss == loss else _last_logged_loss(out)  # loss != loss: NaN
    timing: dict[str, float | None] = {
        "train_seconds": round(result.seconds, 1),
        "train_images_per_second": round(result.images_per_second, 1),
    }
    if result.iterations == result.resumed_from and previous.is_file():
        earlier = json.loads(previous.read_text(encoding="utf-8"))
        timing = {key: earlier.get(key) or None for key in timing}
    return {"final_loss": None if final_loss is None else round(final_loss, 4), **timing}


def data_digest(folder: str) -> str:
    """SHA-256 of the prepared data's manifest (part of a training run's fingerprint)."""
    manifest = Path(folder) / "manifest.json"
    if not manifest.is_file():
        fail(f"{manifest} does not exist (run the prepare stage: dvc repro prepare)")
    return hashlib.sha256(manifest.read_bytes()).hexdigest()


def join_run(
    stage: str, out: Path, fingerprint: dict[str, object], cost: CostRecord
) -> DistContext:
    """Join torchrun's group (if any); rank 0 keeps or drops ``out``'s checkpoint; all wait."""
    context = init_distributed("auto")
    if context.is_main:
        cost.mark(fresh_or_resumable(stage, out, fingerprint))
    context.barrier()
    return context


def fresh_or_resumable(stage: str, out: Path, fingerprint: dict[str, object]) -> bool:
    """Keep ``out``'s checkpoint only if it was made with the same settings.

    DVC keeps the checkpoint between runs (`persist: true`), so a killed `dvc repro` resumes where
    it stopped; after a change of the settings that decide the weights, training starts over.
    The settings are stamped in ``out/training.json``. Returns whether the run resumes.
    """
    stamp = out / "training.json"
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        previous = json.loads(stamp.read_text(encoding="utf-8")) if stamp.exists() else None
        if previous == fingerprint:
            print(f"{stage}: resuming from {checkpoint}")
            return True
        print(f"{stage}: training settings changed, starting over ({checkpoint} removed)")
        checkpoint.unlink()
        (out / "metrics.jsonl").unlink(missing_ok=True)
    write_json(stamp, fingerprint)
    return False


def subset_indices(size: int, count: int | None, seed: int) -> list[int] | None:
    """A seeded sorted subset of ``count`` of ``size`` indices (None: all)."""
    if count is None or count >= size:
        return None
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.permutation(size)[:count])


def split_size(folder: str, split: str) -> int:
    """Images in a prepared split (from its manifest)."""
    manifest = Path(folder) / "manifest.json"
    if not manifest.is_file():
        fail(f"{manifest} does not exist (run the prepare stage: dvc repro prepare)")
    splits = json.loads(manifest.read_text(encoding="utf-8"))["splits"]
    if split not in splits:
        fail(f"{folder} has no {split} split (splits: {', '.join(sorted(splits))})")
    return int(splits[split]["num_samples"])


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
    """Shuffled training batches of the train split (``indices``: a subset), per process.

    ``randaugment`` applies to the FFCV loader (on the batch's device); in memory, the retraining
    recipe applies RandAugment itself.
    """
    context = context or DistContext()
    if loader == "memory":
        train = load_split(folder, "train")
        if indices is not None:
            train = train.subset(np.asarray(indices, dtype=np.int64))
        return ShuffledBatches(
            train, batch_size, seed, rank=context.rank, world_size=context.world_size
        )
    from scalenet.data import BatchRandAugment, train_loader

    try:
        return train_loader(
            Path(folder) / "train.beton",
            batch_size=batch_size,
            resolution=resolution,
            device=context.device,
            distributed=context.distributed,
            seed=seed,
            num_workers=LOADER_WORKERS,
            indices=indices,
            randaugment=BatchRandAugment() if randaugment else None,
        )
    except DataError as error:
        fail(str(error))


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
    if loader == "memory":
        images = load_split(folder, split)
        if indices is not None:
            images = images.subset(np.asarray(indices, dtype=np.int64))
        return fixed_batches(images, batch_size)
    from scalenet.data import eval_loader

    try:
        return eval_loader(
            Path(folder) / f"{split}.beton",
            batch_size=batch_size,
            resolution=resolution,
            device=device,
            num_workers=LOADER_WORKERS,
            indices=indices,
        )
    except DataError as error:
        fail(str(error))


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
