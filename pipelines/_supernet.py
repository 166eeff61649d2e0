"""Shared by the supernet stages: the prepared data set, a trained super-supernet, its evaluator.

The data come from the `prepare` stage's .beton files (scalenet-data), read into memory: the
embedded default is small, and in-memory batches let a killed training resume with the exact
data order. The mini-val split is the one `prepare` held out of train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import fail

from scalenet.data import BetonReader, DataError
from scalenet.supernet import CheckpointError, SupernetEvaluator, SuperSupernet
from scalenet.supernet.cli import load_checkpoint_supernet
from scalenet.supernet.data import ImageSet, ShuffledBatches, fixed_batches

#: params.yaml's train_supernet section; evaluation reads the data split and evaluation keys.
TRAIN_SCHEMA: dict[str, type | tuple[type, ...]] = {
    "iterations": int,
    "batch_size": int,
    "lr": (int, float),
    "warmup": int,
    "width_mode": str,
    "seed": int,
    "checkpoint_every": int,
    "recalib_batches": int,
    "eval_batch_size": int,
    "eval_side": str,
    "threads": int,
}


def load_prepared(folder: str) -> tuple[ImageSet, ImageSet]:
    """(train, mini-val) images of a folder written by the `prepare` stage, in memory."""
    sets = []
    for split in ("train", "minival"):
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
        sets.append(ImageSet(np.ascontiguousarray(pixels), reader.labels.copy()))
    return sets[0], sets[1]


def load_evaluator(
    checkpoint: str, data: str, train: dict[str, Any], space_name: str
) -> SupernetEvaluator:
    """The mini-val evaluator of the super-supernet saved in ``checkpoint``.

    Uses the prepared mini-val split in ``data``: images the super-supernet never trained on.
    """
    if not Path(checkpoint).is_file():
        fail(f"super-supernet checkpoint {checkpoint} does not exist (run train_supernet)")
    if train["threads"] > 0:
        torch.set_num_threads(train["threads"])
    try:
        supernet = load_checkpoint_supernet(checkpoint, space_name)
    except (CheckpointError, ValueError) as error:
        fail(str(error).splitlines()[0])
    train_set, minival = load_prepared(data)
    return make_evaluator(supernet, train_set, minival, train)


def make_evaluator(
    supernet: SuperSupernet, train_set: ImageSet, minival: ImageSet, train: dict[str, Any]
) -> SupernetEvaluator:
    """A super-supernet's evaluator: BN recalibrated on ``train_set``, top-1 on ``minival``."""
    return SupernetEvaluator(
        supernet,
        ShuffledBatches(train_set, train["eval_batch_size"], train["seed"] + 1),
        fixed_batches(minival, train["eval_batch_size"]),
        recalib_batches=train["recalib_batches"],
        side=train["eval_side"],
    )
