"""DVC stage `train_supernet`: train the super-supernet of the embedded default with one sampler.

Run once per sampler (dvc.yaml's foreach over hss and uniform). Writes OUT/checkpoint.pt
(persisted by DVC: a killed run resumes from it; OUT/training.json records the settings it was
made with, and other settings start training over), OUT/metrics.jsonl (and OUT/dvclive/,
DVCLive's plots and metrics of the same records) and OUT/eval.json: the mini-val top-1 of the
largest and the smallest path of every scaling stage (BN recalibrated per path).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path as FilePath

import torch
from _common import CostRecord, fail, load_params, stage_cost, write_json
from _params import config_from
from _supernet import (
    cpu_runtime,
    data_digest,
    make_evaluator,
    split_size,
    stage_loggers,
    supernet_resolution,
    train_batches,
)

from scalenet.sampling import make_sampler
from scalenet.space import load_space
from scalenet.supernet import (
    CheckpointError,
    NonFiniteError,
    SupernetTrainer,
    SuperSupernet,
    TrainConfig,
)
from scalenet.supernet.engine import distributed_map, init_distributed
from scalenet.supernet.trainer import WIDTH_MODES_REVISION

#: The keys that decide the trained weights; a checkpoint made under other values is not resumed.
TRAINING_KEYS = ("iterations", "batch_size", "lr", "warmup", "width_mode", "seed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sampler", required=True, choices=("hss", "uniform"))
    parser.add_argument("--data", default="data/prepared", help="folder written by prepare")
    parser.add_argument("--out", required=True, help="output folder, e.g. outputs/supernet/hss")
    args = parser.parse_args()
    params = load_params(args.params, "train_supernet")
    cpu_runtime("train_supernet", params["processes"], params["threads"])
    with stage_cost(f"train_supernet@{args.sampler}") as cost:
        train_and_evaluate(args, cost)


def train_and_evaluate(args: argparse.Namespace, cost: CostRecord) -> None:
    """Train (or resume) the super-supernet, then evaluate the extreme paths on the mini-val."""
    params = load_params(args.params, "train_supernet")
    # HSS draws the scaling stage with sampling.stage_weights, the weights the sampling stage
    # simulates (uniform: the paper; grid_size: the official code); uniform sampling has none.
    options = {}
    if args.sampler == "hss":
        options["stage_weights"] = load_params(args.params, "sampling")["stage_weights"]
    out = FilePath(args.out)
    fingerprint = {
        "space": params["space"],
        "sampler": args.sampler,
        **options,
        "data": data_digest(args.data),
        **{key: params[key] for key in TRAINING_KEYS},
        # batch_size is per process: the process count decides the global batch and the shards
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        # what the width-mode names mean (revision 2: bcnet is the official BCNet); a checkpoint
        # of the old bcnet starts over instead of being refused on resume
        "width_modes_revision": WIDTH_MODES_REVISION,
    }
    context = init_distributed("auto")
    try:
        space = load_space(params["space"])
        sampler = make_sampler(args.sampler, space, **options)
        config = config_from(TrainConfig, params, log_every=10, progress=context.is_main)
        torch.manual_seed(params["seed"])
        supernet = SuperSupernet(space, width_mode=params["width_mode"])
        batches = train_batches(
            params["loader"],
            args.data,
            params["batch_size"],
            params["seed"],
            supernet_resolution(supernet),
            context,
        )
        trainer = SupernetTrainer(
            supernet, sampler, batches, config, out, context,
            fingerprint=fingerprint, name="train_supernet",
            loggers=stage_loggers(params["tensorboard"]),
        )  # fmt: skip
        if context.is_main:
            cost.mark(trainer.resumes())  # before run(), which may start over
        result = trainer.run()
        if params["eval_threads"] > 0:
            torch.set_num_threads(params["eval_threads"])
        started = time.perf_counter()
        # the training's ranks share the paths out, each evaluates whole paths (distributed_map)
        evaluator = make_evaluator(supernet, args.data, params)
        extreme = space.extreme_paths()
        scores = distributed_map(context)(evaluator, list(extreme.values()))
        accuracy = {name: round(score, 2) for name, score in zip(extreme, scores, strict=True)}
    except (ValueError, FileNotFoundError, CheckpointError, NonFiniteError) as error:
        fail(str(error).splitlines()[0])
    if not context.is_main:
        return
    summary = result.summary(out, out / "eval.json")
    write_json(
        out / "eval.json",
        {
            "space": space.name,
            "sampler": args.sampler,
            "width_mode": params["width_mode"],
            "eval_side": params["eval_side"],
            "iterations": result.iterations,
            **summary,
            "eval_seconds": round(time.perf_counter() - started, 1),
            "minival_images": split_size(args.data, "minival"),
            "top1": accuracy,
        },
    )
    print(f"train_supernet[{args.sampler}]: {result.iterations} iterations, top-1 {accuracy}")


if __name__ == "__main__":
    main()
