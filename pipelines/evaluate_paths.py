"""DVC stage `evaluate_paths`: Q paths scored on one trained super-supernet (input of `rank`).

The same Q paths (HSS draw, seeded by rank.seed, so every scaling stage is represented) are
evaluated on each super-supernet: mini-val top-1 after BN recalibration. Writes one CSV row per
path: `path,flops,accuracy`. Under torchrun every rank evaluates its share of the Q paths on its
own device (local rank); rank 0 gathers them and writes the CSV, the same as one process writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path as FilePath

from _common import load_params, stage_cost
from _supernet import cpu_runtime, load_evaluator

from scalenet.sampling import draw_paths
from scalenet.search.scored import ScoredPaths
from scalenet.space import Path, load_space
from scalenet.space.progress import progress_bar
from scalenet.supernet.engine import distributed_map, init_distributed


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
    cpu_runtime("evaluate_paths", train["eval_processes"], train["eval_threads"])
    space = load_space(params["space"])
    paths, flops = draw_paths("hss", space, params["paths"], params["seed"])
    context = init_distributed("auto")
    evaluator = load_evaluator(args.checkpoint, args.data, train, space.name, context.device)
    share = len(range(context.rank, len(paths), context.world_size))  # this rank's paths
    bar = progress_bar(total=share, desc="evaluate", leave=False, enabled=context.is_main)

    def score(path: Path) -> float:
        accuracy = evaluator(path)
        bar.update(1)
        return accuracy

    accuracies = distributed_map(context)(score, paths)
    bar.close()
    if not context.is_main:
        return
    target = FilePath(args.out)
    ScoredPaths.of([path.encode() for path in paths], flops, accuracies).write(target)
    print(f"evaluate_paths: {len(paths)} paths of {args.checkpoint} -> {target}")


if __name__ == "__main__":
    main()
