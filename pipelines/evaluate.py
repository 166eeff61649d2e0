"""DVC stage `evaluate`: every retrained model on the held-out split, as DVC metrics.

    python pipelines/evaluate.py --params params.yaml --retrained outputs/retrain \
        --families outputs/family --data data/prepared --out outputs/evaluate

For each family (scalenet, compound, random) and each stage in `retrain.stages`: top-1 (and top-5
with >= 5 classes) on a seeded subset of `evaluate.test_images` images of the test split (val for
an ImageFolder), FLOPs counted on the network (torch's FlopCounterMode, multiply-accumulates) next
to the analytic count of scalenet-space, parameters, and the median CPU latency of a batch-1
forward on one thread.

Writes OUT/metrics.json ({"models": {"<family>/S<j>": {...}}}, a DVC metric), OUT/models.csv (one
row per model, the DVC plot of top-1 vs FLOPs), OUT/predictions.json (the top-1 class of every
model on every evaluated image, with the labels: the report's paired comparisons of two models
on the same images) and OUT/cache.jsonl (kept by DVC: models already evaluated with the same
weights and settings are not evaluated again after an interruption).
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path as FilePath
from typing import Any

import torch
from _common import CostRecord, fail, load_params, stage_cost, write_json
from _supernet import default_device, eval_batches, held_out_split, split_size, subset_indices

from scalenet.space.files import read_json, write_csv
from scalenet.space.progress import progress_bar
from scalenet.supernet.standalone.cache import EvaluationCache
from scalenet.supernet.standalone.retrain import evaluate_model
from scalenet.supernet.standalone.static import StaticNet, load_static

FAMILIES = ("scalenet", "compound", "random")
CSV_COLUMNS = ("model", "family", "stage", "flops", "params", "top1", "latency_ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--retrained", default="outputs/retrain", help="retrain stage outputs")
    parser.add_argument("--families", default="outputs/family", help="family member files")
    parser.add_argument("--data", default="data/prepared", help="folder written by prepare")
    parser.add_argument("--out", default="outputs/evaluate")
    args = parser.parse_args()
    with stage_cost("evaluate") as cost:
        evaluate(args, cost)


def evaluate_file(
    weights: FilePath, path: str, params: dict[str, Any], data: str, split: str, indices: Any
) -> dict[str, Any]:
    """Load ``weights`` (which must hold ``path``) and evaluate them on ``split``."""
    model = load_static(weights, path=path)
    if not isinstance(model, StaticNet):
        raise ValueError(f"{weights}: an average of two networks, not a retrained one")
    torch.manual_seed(params["seed"])
    model.to(default_device())
    device = next(model.parameters()).device
    loader, size = params["loader"], params["batch_size"]
    batches = eval_batches(loader, data, split, size, model.resolution, indices, device=device)
    repeats = params["latency_repeats"]
    return evaluate_model(model, batches, latency_repeats=repeats, keep_predictions=True)


def evaluate(args: argparse.Namespace, cost: CostRecord) -> bool:
    """Evaluate every retrained model (reusing cached results); write metrics and the CSV.

    Returns:
        Whether cached results of an earlier (interrupted) run were reused.
    """
    params = load_params(args.params, "evaluate")
    retrained = FilePath(args.retrained)
    stages = sorted(set(load_params(args.params, "retrain")["stages"]))
    wanted = [(family, j) for family in FAMILIES for j in stages]
    missing = [f"{f}-S{j}" for f, j in wanted if not (retrained / f"{f}-S{j}/model.pt").is_file()]
    if missing:
        fail(f"no retrained model for {', '.join(missing)} in {retrained} (run dvc repro retrain)")
    split = held_out_split(args.data)
    size = split_size(args.data, split)
    indices = subset_indices(size, params["test_images"], params["seed"])
    images = size if indices is None else len(indices)
    out = FilePath(args.out)
    cache = EvaluationCache(out / "cache.jsonl")
    cost.mark(len(cache) > 0)  # an earlier run's results are reused: its record is added
    settings = {**params, "split": split, "images": images}
    models: dict[str, dict[str, Any]] = {}
    predictions: dict[str, list[int]] = {}
    labels: list[int] | None = None
    reused = False
    for family, j in progress_bar(wanted, desc="evaluate", leave=False):
        folder, name = retrained / f"{family}-S{j}", f"{family}/S{j}"
        try:
            member = read_json(FilePath(args.families) / family / f"S{j}.json", "family member")
            weights = folder / "model.pt"
            compute = partial(
                evaluate_file, weights, member["path"], params, args.data, split, indices
            )
            found, hit = cache.evaluate(weights, settings, compute)
        except ValueError as error:
            fail(str(error).splitlines()[0])
        reused |= hit
        predictions[name] = found.pop("predictions")
        if labels is not None and found["labels"] != labels:
            fail(f"{family}-S{j}: evaluated on other images than the models before it")
        labels = found.pop("labels")
        trained = json.loads((folder / "train.json").read_text(encoding="utf-8"))
        models[name] = {
            **found,
            "family": family,
            "stage": j,
            "budget": member["budget"],
            "flops_analytic": member["flops"],
            "epochs": trained["epochs"],
            "train_images": trained["train_images"],
            "test_split": split,
            "test_images": images,
        }
    write_json(out / "metrics.json", {"models": models})
    kept = None if indices is None else [int(i) for i in indices]
    every = {"split": split, "images": images, "indices": kept, "labels": labels}
    write_json(out / "predictions.json", {**every, "models": predictions}, indent=None)
    rows = ([name, *(record[key] for key in CSV_COLUMNS[1:])] for name, record in models.items())
    write_csv(out / "models.csv", CSV_COLUMNS, rows)
    for family in FAMILIES:
        rows_of = [r for r in models.values() if r["family"] == family]
        row = ", ".join(f"S{r['stage']} {100 * r['top1']:.1f}%" for r in rows_of)
        print(f"evaluate: {family:<8} top-1 on {images} {split} images: {row}")
    return reused


if __name__ == "__main__":
    main()
