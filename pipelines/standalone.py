"""DVC stage `standalone`: N of the rank stage's paths trained on their own (the ranking's truth).

    python pipelines/standalone.py --params params.yaml --data data/prepared \
        --out outputs/standalone

The first `standalone.paths` of the Q paths that `evaluate_paths` scores on each super-supernet
(the same seeded HSS draw of `rank.paths` paths) are each trained from scratch as a static
network with the `retrain` recipe, shortened to `standalone.epochs` epochs on a seeded subset of
`standalone.train_images` train images, then scored on the same mini-val as the super-supernets
(top-1 in %). The rank stage correlates the super-supernets' accuracy of these paths with it
(Kendall tau-b): does the weight-sharing network order paths as their own training would?

Writes OUT/paths.csv (`path,flops,accuracy`, as `evaluate_paths`) and, per path, OUT/runs/p<i>/
(model.pt, checkpoint.pt kept by DVC so a killed run resumes, training.json, train.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path as FilePath

import torch
from _common import CostRecord, fail, load_params, stage_cost, write_json
from _supernet import cpu_runtime, eval_batches
from retrain import retrain

from scalenet.sampling import draw_paths
from scalenet.search.scored import ScoredPaths
from scalenet.space import load_space
from scalenet.supernet.engine import init_distributed
from scalenet.supernet.standalone.retrain import accuracy
from scalenet.supernet.standalone.static import load_static


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data/prepared", help="folder written by prepare")
    parser.add_argument("--out", default="outputs/standalone", help="output folder")
    args = parser.parse_args()
    recipe = load_params(args.params, "retrain")
    cpu_runtime("standalone", recipe["processes"], recipe["threads"])
    with stage_cost("standalone") as cost:
        standalone(args, cost)


def chosen_paths(params_file: str, count: int) -> tuple[list[str], list[int]]:
    """The first ``count`` of the rank stage's Q paths (the draw of ``evaluate_paths``)."""
    rank = load_params(params_file, "rank")
    paths, flops = draw_paths("hss", load_space(rank["space"]), rank["paths"], rank["seed"])
    return [p.encode() for p in paths[:count]], flops[:count]


def standalone(args: argparse.Namespace, cost: CostRecord) -> None:
    """Train (or resume) each chosen path, score it on the mini-val, write the CSV."""
    params = load_params(args.params, "standalone")
    recipe = load_params(args.params, "retrain")
    paths, flops = chosen_paths(args.params, params["paths"])
    # The retrain recipe, with this stage's length, subset and seed.
    recipe.update(epochs=params["epochs"], train_images=params["train_images"], seed=params["seed"])
    out = FilePath(args.out)
    once = cost.first_mark_only()
    accuracies: list[float] = []
    for index, path in enumerate(paths):
        folder = out / "runs" / f"p{index}"
        member = folder / "member.json"
        context = init_distributed("auto")
        if context.is_main:
            write_json(member, {"path": path})
        context.barrier()
        member_args = argparse.Namespace(params=args.params, data=args.data, out=str(folder))
        retrain(member_args, member, once, recipe)
        if context.is_main:
            accuracies.append(score(folder / "model.pt", args.data, recipe["loader"]))
            print(f"standalone: p{index} {path}: mini-val top-1 {accuracies[-1]:.2f} %")
        context.barrier()
    if not context.is_main:
        return
    ScoredPaths.of(paths, flops, accuracies).write(out / "paths.csv")
    print(f"standalone: {len(paths)} paths -> {out / 'paths.csv'}")


def score(model_file: FilePath, data: str, loader: str) -> float:
    """Mini-val top-1 (%) of a trained static network (the images the supernets are scored on)."""
    model = load_static(model_file)
    manifest = json.loads((FilePath(data) / "manifest.json").read_text(encoding="utf-8"))
    if "minival" not in manifest["splits"]:
        fail(f"{data} has no minival split (prepare.minival_per_class must be > 0)")
    batches = eval_batches(loader, data, "minival", 100, model.resolution)
    with torch.inference_mode():
        return 100.0 * float(accuracy(model, batches, topk=(1,))["top1"])


if __name__ == "__main__":
    main()
