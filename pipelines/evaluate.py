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
from pathlib import Path as FilePath
from typing import Any

import torch
from _common import CostRecord, fail, load_params, stage_cost, write_json
from _supernet import default_device, eval_batches, held_out_split, split_size, subset_indices

from scalenet.space.files import write_csv
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


def evaluate(args: argparse.Namespace, cost: CostRecord) -> bool:
    """Evaluate every retrained model (reusing cached results); write metrics and the CSV.

    Returns:
        Whether cached results of an earlier (interrupted) run were reused.
    """
    params = load_params(args.params, "evaluate")
    retrain = load_params(args.params, "retrain")
    stages = retrain["stages"]
    retrained = FilePath(args.retrained)
    wanted = [(family, j) for family in FAMILIES for j in sorted(set(stages))]
    missing = [
        f"{family}-S{j}"
        for family, j in wanted
        if not (retrained / f"{family}-S{j}" / "model.pt").is_file()
    ]
    if missing:
        fail(f"no retrained model for {', '.join(missing)} in {retrained} (run dvc repro retrain)")
    split = held_out_split(args.data)
    size = split_size(args.data, split)
    indices = subset_indices(size, params["test_images"], params["seed"])
    images = size if indices is None else len(indices)
    out = FilePath(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = EvaluationCache(out / "cache.jsonl")
    cost.mark(len(cache) > 0)  # an earlier run's results are reused: its record is added
    settings = {**params, "split": split, "images": images}
    models: dict[str, dict[str, Any]] = {}
    predictions: dict[str, list[int]] = {}
    labels: list[int] | None = None
    reused = 0
    for family, j in progress_bar(wanted, desc="evaluate", leave=False):
        folder = retrained / f"{family}-S{j}"
        member_file = FilePath(args.families) / family / f"S{j}.json"
        if not member_file.is_file():
            fail(f"{member_file} does not exist (run the generalize and baselines stages)")
        member = json.loads(member_file.read_text(encoding="utf-8"))
        key = cache.key(folder / "model.pt", settings)
        reused += key in cache
        if key not in cache:
            try:
                model = load_static(folder / "model.pt")
            except ValueError as error:
                fail(str(error))
            if not isinstance(model, StaticNet) or model.path != member["path"]:
                fail(f"{folder / 'model.pt'} is not the network of {member_file}")
            torch.manual_seed(params["seed"])
            model.to(default_device())
            batches = eval_batches(
                params["loader"],
                args.data,
                split,
                params["batch_size"],
                model.resolution,
                indices,
                device=next(model.parameters()).device,
            )
            repeats = params["latency_repeats"]
            cache.add(
                key,
                evaluate_model(model, batches, latency_repeats=repeats, keep_predictions=True),
            )
        found = {name: value for name, value in cache[key].items() if name != "labels"}
        predictions[f"{family}/S{j}"] = found.pop("predictions")
        if labels is None:
            labels = cache[key]["labels"]
        elif cache[key]["labels"] != labels:
            fail(f"{family}-S{j}: evaluated on other images than the models before it")
        trained = json.loads((folder / "train.json").read_text(encoding="utf-8"))
        models[f"{family}/S{j}"] = {
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
    write_json(
        out / "predictions.json",
        {
            "split": split,
            "images": images,
            "indices": None if indices is None else [int(i) for i in indices],
            "labels": labels,
            "models": predictions,
        },
        indent=None,
    )
    rows = ([name, *(record[key] for key in CSV_COLUMNS[1:])] for name, record in models.items())
    write_csv(out / "models.csv", CSV_COLUMNS, rows)
    for family in FAMILIES:
        row = ", ".join(
            f"S{record['stage']} {100 * record['top1']:.1f}%"
            for record in models.values()
            if record["family"] == family
        )
        print(f"evaluate: {family:<8} top-1 on {images} {split} images: {row}")

    return reused > 0


if __name__ == "__main__":
    main()
