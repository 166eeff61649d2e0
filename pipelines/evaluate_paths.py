"""DVC stage `evaluate_paths`: Q paths scored on one trained super-supernet (input of `rank`).

The same Q paths (HSS draw, seeded by rank.seed, so every scaling stage is represented) are
evaluated on each super-supernet: mini-val top-1 after BN recalibration. Writes one CSV row per
path: `path,flops,accuracy`.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path as FilePath

import numpy as np
from _common import fail, load_params, stage_cost
from _supernet import cpu_runtime, load_evaluator
from tqdm import tqdm

from scalenet.sampling import make_sampler
from scalenet.space import count_batch, load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--checkpoint", required=True, help="super-supernet checkpoint.pt")
    parser.add_argument("--data", default="data/prepared", help="folder written by prepare")
    parser.add_argument("--out", required=True, help="CSV file to write")
    args = parser.parse_args()
    with stage_cost(f"evaluate_paths@{FilePath(args.out).stem}"):
        evaluate(args)


def evaluate(args: argparse.Namespace) -> None:
    """Evaluate the rank stage's sampled paths on one checkpoint; write the CSV."""
    params = load_params(args.params, "rank")
    train = load_params(args.params, "train_supernet")
    cpu_runtime("evaluate_paths", 1, train["eval_threads"])
    if params["paths"] < 3:
        fail(f"rank.paths must be >= 3 (a correlation needs points), got {params['paths']}")
    space = load_space(params["space"])
    sampled = make_sampler("hss", space).sample_batch(
        params["paths"], np.random.default_rng(params["seed"])
    )
    flops = count_batch(space, sampled.batch).flops
    evaluator = load_evaluator(args.checkpoint, args.data, train, space.name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "flops", "accuracy"])
    paths = sampled.batch.paths(space)
    for path, path_flops in tqdm(
        list(zip(paths, flops, strict=True)), desc="evaluate", leave=False
    ):
        writer.writerow([path.encode(), int(path_flops), f"{evaluator(path):.4f}"])
    target = FilePath(args.out)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_suffix(target.suffix + ".tmp")
    temp.write_text(buffer.getvalue(), encoding="utf-8")
    temp.replace(target)
    print(f"evaluate_paths: {len(paths)} paths of {args.checkpoint} -> {target}")


if __name__ == "__main__":
    main()
