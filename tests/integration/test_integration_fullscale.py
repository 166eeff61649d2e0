"""The full-scale path, end to end on the CPU: `dvc repro` with configs/imagenet.yaml (issue 17).

The config users run on ImageNet, changed only in sizes (every change is in ``SIZES`` below):
a generated ImageFolder tree of real JPEG files (varied sizes and aspect ratios, a grayscale
and a CMYK file among them), JPEG `.beton` files, `loader: ffcv`, the `imagenet` space at its
real resolutions (224-354 px), torchrun with 2 processes on the CPU (gloo), a few iterations per
stage, through `report`.

One change is not a size: the search scores its ~170 paths with the analytic evaluator. With the
super-supernet's, each path costs ~3 s at these resolutions on 2 CPU cores (BN recalibration and
the mini-val): the search took 515 s of this test's 22 minutes; with the analytic one the test
takes about 11. The super-supernet evaluator still runs here, on the imagenet space, in
`evaluate_paths`; tests/integration/test_integration_search.py runs the search with it, in one
process and under torchrun.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

CLASSES = [f"n{index:08d}" for index in range(10)]  # WordNet-like folder names
TRAIN_PER_CLASS, VAL_PER_CLASS = 12, 4

#: Everything that differs from configs/imagenet.yaml: sizes (and where the images are), and the
#: search's evaluator (see the module's docstring).
SIZES = {
    "launcher": "torchrun --nproc_per_node=2",  # the config: 8 (one per GPU); here 2 CPU ranks
    "prepare": {"source": None, "minival_per_class": 1, "num_workers": 2},  # source: tmp tree
    "sampling": {"paths": 20_000},
    "train_supernet": {
        "iterations": 2, "batch_size": 2, "warmup": 1, "checkpoint_every": 1,
        "recalib_batches": 1, "eval_batch_size": 2,
    },
    "search": {
        "population": 2, "generations": 1, "iterations": 1, "initial_bases": 1,
        "evaluator": "analytic",  # not a size: see the module's docstring
    },
    "rank": {"paths": 3},
    "standalone": {"paths": 2, "epochs": 1, "train_images": 8},
    "retrain": {
        "stages": [0, 5], "train_images": 8, "epochs": 1, "batch_size": 2, "checkpoint_every": 1,
    },
    "evaluate": {"test_images": 8, "batch_size": 4, "latency_repeats": 1},
}  # fmt: skip


def write_imagefolder(root: Path) -> None:
    """10 classes x (12 train + 4 val) JPEGs of varied sizes; one grayscale, one CMYK."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS)):
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                width, height = (int(v) for v in rng.integers(48, 160, size=2))
                pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
                pixels[..., label % 3] //= 2  # a little class signal
                image = Image.fromarray(pixels)
                if split == "train" and label == 0 and index == 0:
                    image = image.convert("L")
                if split == "train" and label == 1 and index == 0:
                    image = image.convert("CMYK")
                image.save(folder / f"{name}_{index}.JPEG", quality=90)


def test_imagenet_config_runs_end_to_end_on_the_cpu(project, tmp_path):
    pytest.importorskip("ffcv")
    images = tmp_path / "imagenet"
    write_imagefolder(images)
    config = yaml.safe_load((ROOT / "configs/imagenet.yaml").read_text())
    for key, value in SIZES.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    config["prepare"]["source"] = str(images)
    (project.root / "params.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert config["space"] == "imagenet" and config["loader"] == "ffcv"
    assert config["prepare"]["dataset"] == "imagefolder"
    assert config["prepare"]["image_format"] == "jpeg"

    project.dvc("repro")

    root = project.root
    manifest = json.loads((root / "data/prepared/manifest.json").read_text())
    splits = manifest["splits"]
    assert splits["train"]["num_samples"] == 10 * (TRAIN_PER_CLASS - 1)
    assert splits["minival"]["num_samples"] == 10
    assert splits["val"]["num_samples"] == 10 * VAL_PER_CLASS
    budgets = json.loads((root / "outputs/budgets.json").read_text())
    assert budgets["f0"] == 350_000_000  # the paper's explicit list
    for sampler in ("hss", "uniform"):
        cost = json.loads((root / f"outputs/cost/train_supernet-{sampler}.json").read_text())
        assert cost["world_size"] == 2
        training = json.loads((root / f"outputs/supernet/{sampler}/training.json").read_text())
        assert training["iterations"] == 2
    result = json.loads((root / "outputs/search/result.json").read_text())
    assert [s["stage"] for s in result["strategies"]] == [1, 2, 3]
    assert result["evaluations"] > 0 and result["evaluator"] == "analytic"
    ranked = (root / "outputs/rank/hss.csv").read_text().splitlines()
    assert ranked[0] == "path,flops,accuracy" and len(ranked) == 4  # the supernet scored 3 paths
    models = json.loads((root / "outputs/evaluate/metrics.json").read_text())["models"]
    assert sorted(models) == sorted(
        f"{family}/S{j}" for family in ("scalenet", "compound", "random") for j in (0, 5)
    )
    for record in models.values():
        assert record["test_images"] == 8 and 0 <= record["top1"] <= 1
    s5 = json.loads((root / "outputs/family/scalenet/family.json").read_text())["members"][5]
    assert s5["budget"] == 10_000_000_000  # the paper's S5 budget, not 2^5 x 350 M
    report = (root / "docs/report.md").read_text()
    assert "imagenet" in report
    assert "Running stage" not in project.dvc("repro").stdout
