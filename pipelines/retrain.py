"""DVC stage `retrain`: train one family member from scratch with supplementary A's recipe.

    python pipelines/retrain.py --params params.yaml --member outputs/family/scalenet/S3.json \
        --data data/prepared --out outputs/retrain/scalenet-S3

dvc.yaml runs it as a matrix over the families (scalenet, compound, random) and the scaling stages
in `retrain.stages`. The recipe is scalenet.supernet.standalone.retrain's (RMSProp, warm-up and
step decay, EMA, label smoothing, dropout, RandAugment), at the member's own resolution, on a
seeded subset of `retrain.train_images` train images (all when null), followed by precise BN
over `retrain.bn_recalibration_batches` training batches (`Retrainer.recalibrate_bn`; 0 skips it).

Writes OUT/model.pt, OUT/checkpoint.pt (kept by DVC: a killed run resumes from it; OUT/training.json
stamps the settings, other settings start over), OUT/metrics.jsonl (with OUT/dvclive/, DVCLive's
plots and metrics) and OUT/train.json. Works under torchrun (params.yaml `launcher`).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path as FilePath
from typing import Any

import torch
from _common import CostRecord, fail, load_params, stage_cost, write_json
from _params import config_from
from _supernet import (
    cpu_runtime,
    data_digest,
    num_classes,
    split_size,
    stage_loggers,
    subset_indices,
    train_batches,
)

from scalenet.supernet import CheckpointError, NonFiniteError
from scalenet.supernet.engine import init_distributed
from scalenet.supernet.standalone.retrain import RetrainConfig, Retrainer
from scalenet.supernet.standalone.zoo import create_model

#: Keys that do not change the trained weights (a checkpoint made under other values is resumed).
NOT_TRAINING = (
    "stages",
    "checkpoint_every",
    "bn_recalibration_batches",
    "threads",
    "channels_last",
    "tensorboard",
)


def member_name(member: FilePath) -> str:
    """``outputs/family/compound/S3.json`` -> ``compound-S3``."""
    return f"{member.parent.name}-{member.stem}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--member", required=True, help="family member file S<j>.json")
    parser.add_argument("--data", default="data/prepared", help="folder written by prepare")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args()
    member = FilePath(args.member)
    params = load_params(args.params, "retrain")
    cpu_runtime("retrain", params["processes"], params["threads"])
    with stage_cost(f"retrain@{member_name(member)}") as cost:
        retrain(args, member, cost)


def retrain(
    args: argparse.Namespace,
    member: FilePath,
    cost: CostRecord,
    params: dict[str, Any] | None = None,
) -> None:
    """Retrain (or resume) ``member``; write the weights and a training summary.

    ``params``: the recipe (default: the ``retrain`` section; the `standalone` stage passes the
    same section with its own length, subset and seed).
    """
    params = load_params(args.params, "retrain") if params is None else dict(params)
    if not member.is_file():
        fail(f"{member} does not exist (run the generalize and baselines stages)")
    world_size, wanted = int(os.environ.get("WORLD_SIZE", "1")), params["train_images"]
    if wanted is not None and wanted < params["batch_size"] * world_size:
        fail(
            f"retrain.train_images = {wanted} must be >= retrain.batch_size "
            f"= {params['batch_size']} x {world_size} process(es) (or null for the whole split)"
        )
    out = FilePath(args.out)
    fingerprint = {
        "space": params["space"],
        "member": json.loads(member.read_text(encoding="utf-8"))["path"],
        "data": data_digest(args.data),
        **{key: value for key, value in params.items() if key not in NOT_TRAINING},
    }
    context = init_distributed("auto")
    try:
        config = config_from(
            RetrainConfig,
            params,
            batch_size=params["batch_size"] * context.world_size,
            # In memory the recipe applies RandAugment; the FFCV loader applies it on the device.
            randaugment=params["randaugment"] and params["loader"] == "memory",
            progress=context.is_main,
        )
        size = split_size(args.data, "train")
        indices = subset_indices(size, params["train_images"], params["seed"])
        train_count = size if indices is None else len(indices)
        torch.manual_seed(params["seed"])
        classes = num_classes(args.data)
        model = create_model(member, num_classes=classes, space=params["space"])
        batches = train_batches(
            params["loader"],
            args.data,
            params["batch_size"],
            params["seed"],
            model.resolution,
            context,
            indices,
            randaugment=params["randaugment"],
        )
        trainer = Retrainer(
            model, batches, config, out, context,
            fingerprint=fingerprint, loggers=stage_loggers(params["tensorboard"]),
        )  # fmt: skip
        if context.is_main:
            cost.mark(trainer.resumes())  # before run(), which may start over
        result = trainer.run()
    except (ValueError, CheckpointError, NonFiniteError) as error:
        fail(str(error).splitlines()[0])
    if not context.is_main:
        return
    recalibrated = trainer.recalibrate_bn(params["bn_recalibration_batches"])
    summary = result.summary(out, out / "train.json")
    write_json(
        out / "train.json",
        {
            "member": str(member),
            "path": model.path,
            "resolution": model.resolution,
            "train_images": train_count,
            "epochs": params["epochs"],
            "iterations": result.iterations,
            "bn_recalibration_batches": recalibrated,
            "resumed_from": result.resumed_from,
            **summary,
        },
    )
    print(
        f"retrain[{member_name(member)}]: {result.iterations} iterations at "
        f"{model.resolution} px, final loss {summary['final_loss']} -> {out / 'model.pt'}"
    )


if __name__ == "__main__":
    main()
