"""The `report` stage on a small synthetic outputs tree shaped like the default run's files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "pipelines" / "report.py"
BASE = "k7e1/k3e6se-k5e6se/k5e3se-k3e6se-k5e3/k3e6se/k7e3-k7e6/k7e6se-k7e6-k3e3se/k3e3"
FIGURES = [
    "sampling.png",
    "supernet_loss.png",
    "base_arch.png",
    "scaling_fit.png",
    "accuracy_flops.png",
    "accuracy_params.png",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _write_lines(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def _sampler_stats(name: str, stage_share: list[float], window: list[float]) -> dict:
    budgets = [4_000_000, 8_000_000, 16_000_000]
    return {
        "description": f"{name}()",
        "flops": {"max": 40_000_000, "mean": 9_000_000.5, "median": 8_100_000.0, "min": 1_300_000},
        "no_stage_share": round(1.0 - sum(stage_share), 6),
        "paths": 20_000,
        "sampler": name,
        "stage_share": {str(j): share for j, share in enumerate(stage_share)},
        "stages": {
            str(j): {
                "budget": budget,
                "count": int(20_000 * stage_share[j]),
                "fit_share": 0.35,
                "mean": 0.93 * budget,
                "mean_ratio": 0.93,
                "median": 0.91 * budget,
                "median_ratio": 0.91,
                "mode": 0.9 * budget,
                "mode_ratio": 0.9,
            }
            for j, budget in enumerate(budgets)
        },
        "window_share": {str(j): share for j, share in enumerate(window)},
        "window_share_total": sum(window),
    }


def _member(stage: int, kind: str, scaling: tuple[float, float, float], flops: int) -> dict:
    d, w, r = scaling
    member = {
        "budget": 4_000_000 * 2**stage,
        "flops": flops,
        "kind": kind,
        "name": f"S{stage}",
        "params": 180_000 + 120_000 * stage,
        "path": f"{BASE}@d{d},w{w},r{r}",
        "rel_error": flops / (4_000_000 * 2**stage) - 1,
        "resolution": round(32 * r),
        "scaling": {"depth": d, "resolution": r, "width": w},
        "stage": stage,
    }
    if kind == "generalized":
        member["projection"] = {
            "after": {"depth": d, "resolution": r, "width": w},
            "before": {"depth": d, "resolution": r - 0.1, "width": w},
            "mode": "rw",
            "target_flops": member["budget"],
            "flops_before": flops - 1_000_000,
            "flops_after": flops,
            "params_after": member["params"],
            "resolution_after": member["resolution"],
        }
    return member


def _strategy(stage: int, accuracy: float, flops: int, scaling: tuple[float, float, float]):
    d, w, r = scaling
    return {
        "accuracy": accuracy,
        "depth": d,
        "fits": True,
        "flops": flops,
        "resolution": r,
        "stage": stage,
        "width": w,
    }


def build_tree(root: Path) -> None:
    """params.yaml, data/fmnist/manifest.json and outputs/ in the formats of the default run."""
    shutil.copy2(ROOT / "params.yaml", root / "params.yaml")
    _write(
        root / "data/fmnist/manifest.json",
        {
            "classes": [f"class{i}" for i in range(10)],
            "image_format": "raw",
            "source": {"format": "idx", "path": "/datasets/fashion-mnist"},
            "splits": {
                "train": {"file": "train.beton", "num_samples": 59_800},
                "minival": {"file": "minival.beton", "num_samples": 200},
                "test": {"file": "test.beton", "num_samples": 10_000},
            },
            "version": 1,
        },
    )
    out = root / "outputs"
    budgets = {"0": 4_000_000, "1": 8_000_000, "2": 16_000_000}
    tolerances = {"0": 500_000, "1": 1_000_000, "2": 2_000_000}
    _write(
        out / "budgets.json",
        {
            "budgets": budgets,
            "f0": 4_000_000,
            "max_stage": 2,
            "mean_flops": 3_525_435.3,
            "samples": 100_000,
            "seed": 0,
            "space": "fmnist",
            "tolerance": 500_000,
            "tolerances": tolerances,
            "unit": 1_000_000,
        },
    )
    _write(
        out / "sampling/stats.json",
        {
            "budgets": budgets,
            "samplers": {
                "hss": _sampler_stats("hss", [0.333, 0.334, 0.333], [0.12, 0.11, 0.13]),
                "uniform": _sampler_stats("uniform", [0.001, 0.02, 0.04], [0.004, 0.07, 0.2]),
            },
            "seed": 0,
            "space": "fmnist",
            "tolerances": tolerances,
        },
    )
    edges = [1e6 * 2 ** (i / 2) for i in range(11)]  # 10 bins, 1 to 32 MFLOPs
    _write(
        out / "sampling/histogram.json",
        {
            "bin_edges": edges,
            "budgets": list(budgets.values()),
            "per_octave": 2,
            "samplers": {
                "hss": {
                    "counts": [100, 900, 3000, 3500, 3000, 3400, 3000, 2000, 900, 200],
                    "overflow": 0,
                    "stage_counts": {"0": [100] * 10, "1": [200] * 10, "2": [300] * 10},
                    "underflow": 0,
                },
                "uniform": {
                    "counts": [0, 10, 200, 900, 2500, 4800, 6000, 4000, 1500, 90],
                    "overflow": 0,
                    "stage_counts": {"0": [0] * 10, "1": [10] * 10, "2": [40] * 10},
                    "underflow": 0,
                },
            },
            "space": "fmnist",
        },
    )
    top1 = {
        "hss": {"stage0": (56.0, 44.5), "stage1": (54.5, 51.5), "stage2": (57.5, 52.0)},
        "uniform": {"stage0": (40.0, 12.0), "stage1": (53.5, 47.0), "stage2": (54.5, 51.5)},
    }
    for sampler, loss in (("hss", 1.5787), ("uniform", 1.6604)):
        folder = out / "supernet" / sampler
        _write(
            folder / "eval.json",
            {
                "eval_seconds": 14.0,
                "eval_side": "left",
                "final_loss": loss,
                "iterations": 30,
                "minival_images": 200,
                "sampler": sampler,
                "space": "fmnist",
                "top1": {
                    f"{stage}_{which}": value
                    for stage, pair in top1[sampler].items()
                    for which, value in zip(("largest", "smallest"), pair, strict=True)
                },
                "train_images_per_second": 67.9,
                "train_seconds": 226.2,
                "width_mode": "bcnet",
            },
        )
        _write(
            folder / "training.json",
            {
                "batch_size": 64,
                "data": "b434b5bb",
                "iterations": 30,
                "lr": 0.1,
                "sampler": sampler,
                "seed": 0,
                "space": "fmnist",
                "warmup": 10,
                "width_mode": "bcnet",
            },
        )
        _write_lines(
            folder / "metrics.jsonl",
            [
                {"images_per_second": 60.0, "iteration": i, "loss": 2.4 - 0.02 * i, "lr": 0.1}
                for i in (10, 20, 30)
            ],
        )
    _write(
        out / "rank/metrics.json",
        {
            "hss": {"count": 60, "kendall": 0.4123, "pearson": 0.5, "spearman": 0.55},
            "uniform": {"count": 60, "kendall": 0.3831, "pearson": 0.479, "spearman": 0.578},
        },
    )
    searched = [(1.04, 1.08, 1.0), (1.28, 1.32, 1.21)]
    initial = [
        _strategy(1, 58.5, 7_405_444, (1.04, 1.12, 1.0)),
        _strategy(2, 58.0, 15_272_932, (1.2, 1.24, 1.28)),
    ]
    final = [
        _strategy(1, 61.000001430511475, 7_232_330, searched[0]),
        _strategy(2, 58.99999737739563, 16_092_196, searched[1]),
    ]
    log = [
        {
            "bases": 2,
            "cache_hits": 0,
            "evaluations": 237,
            "evaluations_step": 237,
            "iteration": 0,
            "notes": [],
            "step": "initial",
            "strategies": initial,
        },
        {
            "base": BASE,
            "base_accuracies": [57.5, 56.0],
            "base_flops": 4_038_728,
            "cache_hits": 8,
            "evaluations": 427,
            "evaluations_step": 190,
            "fixed_point": False,
            "iteration": 1,
            "mean_accuracy": 60.0,
            "notes": [],
            "step": "iteration",
            "strategies": final,
        },
    ]
    _write_lines(out / "search/log.jsonl", log)
    _write(
        out / "search/result.json",
        {
            "base": BASE,
            "base_flops": 4_038_728,
            "cache_hits": 8,
            "evaluations": 427,
            "evaluator": "supernet",
            "fixed_point": False,
            "iterations": 1,
            "log": log,
            "mean_accuracy": 60.0,
            "space": "fmnist",
            "strategies": final,
        },
    )
    _write(
        out / "search/metrics.json",
        {"cache_hits": 8, "evaluations": 427, "iterations": 1, "mean_accuracy": 60.0},
    )
    _write(
        out / "family/fit.json",
        {
            "default": "geometric",
            "functions": {
                "geometric": {
                    "fit_rmse": 0.0718,
                    "loso_last_stage_rmse": 0.1741,
                    "loso_rmse": 0.1246,
                },
                "linear": {"fit_rmse": 0.0813, "loso_last_stage_rmse": 0.1871, "loso_rmse": 0.1358},
            },
        },
    )
    fit = {
        dim: {
            "dimension": dim,
            "formula": "(1 + a0)^j",
            "function": "geometric",
            "params": {"a0": a0},
            "rmse": rmse,
            "stages": [1, 2],
            "values": [1.1, 1.2],
            "residuals": [rmse, -rmse],  # the reader computes the RMSE from them: rmse
            "active_bounds": [],
        }
        for dim, a0, rmse in (
            ("depth", 0.1179, 0.048),
            ("width", 0.1391, 0.037),
            ("resolution", 0.14, 0.109),
        )
    }
    members = [
        _member(0, "base", (1.0, 1.0, 1.0), 4_038_728),
        _member(1, "searched", searched[0], 7_232_330),
        _member(2, "searched", searched[1], 16_092_196),
        _member(3, "generalized", (1.4, 1.48, 1.5), 32_360_966),
    ]
    _write(
        out / "family/scalenet/family.json",
        {
            "base": BASE,
            "f0": 4_000_000,
            "fit": {"formula": "(1 + a0)^j", "function": "geometric", "rmse": 0.0718, **fit},
            "members": members,
            "method": "scalenet",
            "project": "rw",
            "space": "fmnist",
        },
    )
    for method in ("compound", "random"):
        _write(
            out / f"family/{method}/family.json",
            {
                "base": BASE,
                "f0": 4_000_000,
                "members": [
                    {**_member(j, "compound", (1.0, 1.0, 1.0), 4_100_000 * 2**j), "scaling": {}}
                    for j in range(4)
                ],
                "method": method,
                "space": "fmnist",
            },
        )
    models = {}
    for family, offset, flops_scale in (
        ("scalenet", 0.0, 1.0),
        ("compound", -0.0155, 1.02),
        ("random", -0.03, 0.97),
    ):
        for stage in range(4):
            models[f"{family}/S{stage}"] = {
                "budget": 4_000_000 * 2**stage,
                "epochs": 2.0,
                "family": family,
                "flops": int(4_000_000 * 2**stage * flops_scale),
                "latency_ms": 1.5 + stage,
                "params": 180_000 + 120_000 * stage,
                "path": f"{BASE}@d1.0,w1.0,r1.0",
                "resolution": 32 + 8 * stage,
                "stage": stage,
                "top1": 0.8123 + 0.01 * stage + offset,
                "top5": 0.99,
                "train_images": 119_600,
                "test_split": "test",
                "test_images": 2_000,
            }
    _write(out / "evaluate/metrics.json", {"models": models})
    # Per-image predictions with the models' top-1: every model is right on a prefix of one
    # fixed order of the images, so a better model's right images contain a worse one's.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2_000)
    order = rng.permutation(2_000)
    predictions = {}
    for key, model in models.items():
        predicted = (labels + 1) % 10
        right = order[: round(model["top1"] * 2_000)]
        predicted[right] = labels[right]
        predictions[key] = predicted.tolist()
    _write(
        out / "evaluate/predictions.json",
        {
            "split": "test",
            "images": 2_000,
            "indices": None,
            "labels": labels.tolist(),
            "models": predictions,
        },
    )
    interval = {"level": 0.95, "resamples": 2000, "defined": 2000}
    _write(
        out / "rank/intervals.json",
        {
            "samplers": {
                name: {
                    key: {"value": value, "low": value - 0.1, "high": value + 0.1, **interval}
                    for key, value in values.items()
                }
                for name, values in (
                    ("hss", {"kendall": 0.4123, "pearson": 0.5, "spearman": 0.55}),
                    ("uniform", {"kendall": 0.3831, "pearson": 0.479, "spearman": 0.578}),
                )
            },
            "difference": {
                "of": ["hss", "uniform"],
                "kendall": {"value": 0.0292, "low": -0.051, "high": 0.112, **interval},
                "pearson": {"value": 0.021, "low": -0.04, "high": 0.09, **interval},
                "spearman": {"value": -0.028, "low": -0.1, "high": 0.05, **interval},
            },
            "standalone": {
                "paths": 8,
                "samplers": {
                    "hss": {"value": 0.5714, "low": 0.2, "high": 0.9, **interval},
                    "uniform": {"value": 0.2857, "low": -0.2, "high": 0.7, **interval},
                },
                "difference": {
                    "of": ["hss", "uniform"],
                    "value": 0.2857,
                    "low": 0.05,
                    "high": 0.6,
                    **interval,
                },
            },
        },
    )
    costs = [
        ("budgets", 30.0, 29.0, "2025-01-01T10:00:00"),
        ("train_supernet@hss", 1800.0, 3564.0, "2025-01-01T10:30:00"),
        ("train_supernet@uniform", 1800.0, 3600.0, "2025-01-01T11:00:00"),
        ("search", 3600.0, 7200.0, "2025-01-01T12:00:00"),
    ]
    for stage, wall, cpu, finished in costs:
        ranks = {"world_size": 2, "threads": 1} if stage.startswith("train") else {"threads": 2}
        _write(
            out / "cost" / f"{stage.replace('@', '-')}.json",
            {"cpu_s": cpu, "finished": finished, "stage": stage, "wall_s": wall, **ranks},
        )


def run_report(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.parent), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--params",
            "params.yaml",
            "--outputs",
            "outputs",
            "--data",
            "data/fmnist",
            "--out",
            "docs/report.md",
            "--figures",
            "docs/report",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, bytes]]:
    root = tmp_path_factory.mktemp("report")
    build_tree(root)
    first = run_report(root)
    assert first.returncode == 0, first.stderr
    text = (root / "docs/report.md").read_text(encoding="utf-8")
    images = {name: (root / "docs/report" / name).read_bytes() for name in FIGURES}
    return root, text, images


def test_numbers_from_every_output_appear(full_run):
    _, text, _ = full_run
    assert "*Not available:" not in text
    assert "f0 = 4,000,000 FLOPs" in text
    assert "| 2 | 16,000,000 | 16.0 | 2,000,000 | 14.0 – 18.0 |" in text
    assert "train 59,800, minival 200, test 10,000 images" in text
    assert "`train_supernet` | iterations = 240" in text  # params.yaml, as copied
    # sampling: window shares, the computed comparison and the uniform paths in no grid
    assert "HSS puts 36.0 % inside a budget window vs 27.4 % for uniform" in text
    assert "(HSS higher by 8.6 points)" in text
    assert "93.9 % of the uniform paths lie in no scaling stage's grid" in text
    # super-supernet top-1 table row and the derived means
    assert "| 0 | 56.0 | 44.5 | 40.0 | 12.0 |" in text
    assert "HSS 52.7 % vs uniform 43.1 % (HSS higher by 9.6 points)" in text
    assert "3 of 3 scaling stages for HSS" in text
    assert "Final training loss: HSS 1.579 vs uniform 1.660 (HSS lower by 0.082)" in text
    # ranking: direction derived from the values (HSS wins in this tree)
    assert "Kendall τ 0.412 vs 0.383 for uniform (HSS higher by 0.029)" in text
    assert "HSS has the higher value on 2 of 3 coefficients" in text
    # search log and result
    assert "| initial | 0 | 237 | 237 | 0 | 58.5 % @ 7.4 M | 58.0 % @ 15.3 M |" in text
    assert "from 58.2 % (initial) to 60.0 % (iteration): up 1.7 points" in text
    assert "| S1 | 1.04 | 1.08 | 1.00 | 7.2 | 8.0 | yes | 61.0 |" in text
    assert "427 path evaluations and 8 cache hits (1.8 % of lookups)" in text
    # base model diagram summary, parsed from the arch string
    assert "13 blocks over 7 stages (depths 1-2-3-1-2-3-1)" in text
    assert "SE in 7 of 13 blocks" in text
    # fit table and family table
    assert "| **geometric** (used) | `(1 + a0)^j` | 0.072 | 0.125 | 0.174 |" in text
    assert "| depth | a0 = 0.1179 | 0.048 |" in text
    assert (
        f"| S1 | searched | `{BASE}@d1.04,w1.08,r1.0` | 7.2 | 0.300 | 32 | 8.0 | -9.60 % |" in text
    )
    # evaluation against the baselines (top1 0.8123 -> 81.23 %)
    assert (
        "| ScaleNet | S0 | 4.0 | 4.0 | 0.180 | 32 | 81.23 | [79.48, 82.90] | 99.00 | 1.50 | 2 | "
        "119,600 |" in text
    )
    # paired comparisons on the same images: nested right answers, so B is never alone right
    assert "| ScaleNet S0 | compound S0 | 81.23 | 79.68 | +1.55 [" in text
    assert (
        "| ScaleNet S0 | compound S0 | 81.23 | 79.68 | +1.55 [+1.05, +2.10] | 31 / 0 | 9.3e-10 | ScaleNet S0 better |"
        in text
    )
    assert "significantly better in 8 (S0 vs compound, S0 vs random," in text
    assert "ScaleNet S3 vs S0 +3.00 [" in text
    # the headline: three questions answered from the numbers
    assert text.index("**Headline**") < text.index("## 1. Run summary")
    assert "| Did the search find a better base than random and compound scaling?" in text
    assert (
        "(top-1 difference, points, at S0) | **yes** | vs compound +1.55 [+1.05, +2.10]; vs random "
        "+3.00 [+2.25, +3.75] (all stages: significantly better in 8 of 8) |" in text
    )
    assert (
        "| Does HSS rank paths better than uniform? (Kendall τ, eqs. 4-6) | **not resolved** | "
        "HSS - uniform +0.029 [-0.051, +0.112] |" in text
    )
    assert (
        "| Does HSS rank paths better than uniform? (Kendall tau-b vs stand-alone training) | "
        "**yes** | HSS - uniform +0.286 [+0.050, +0.600] |" in text
    )
    assert "| HSS | +0.571 | [+0.200, +0.900] |" in text
    assert "HSS - uniform: +0.286 [+0.050, +0.600]: HSS significantly higher." in text
    assert "| Did generalization hit the budgets?" in text
    assert "**Design of the run.**" in text
    assert "a mini-val of 200 images held out of train (20 a class;" in text
    # ranking intervals
    assert "the difference is not significant: the interval includes 0" in text
    assert "| Kendall τ | [+0.312, +0.512] | [+0.283, +0.483] | +0.029 [-0.051, +0.112] |" in text
    assert (
        "against compound it is more accurate at 4 of 4 scaling stages (mean top-1 difference +1.55 points"
        in text
    )
    # cost: per stage and total CPU-hours
    assert "| `train_supernet@hss` | 2 x 1 | 0.500 | 0.990 | 1.98 | 2025-01-01T10:30:00 |" in text
    assert "| `search` | 1 x 2 | 1.000 | 2.000 | 2.00 | 2025-01-01T12:00:00 |" in text
    assert "| **total** |  | **2.008** | **3.998** |" in text
    assert "account for 99.8 % of the CPU time" in text
    for name in FIGURES:
        assert f"](report/{name})" in text


def test_figures_are_pngs_and_reruns_are_byte_identical(full_run):
    root, text, images = full_run
    for name, data in images.items():
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 5_000, name
    again = run_report(root)
    assert again.returncode == 0, again.stderr
    assert (root / "docs/report.md").read_text(encoding="utf-8") == text
    for name, data in images.items():
        assert (root / "docs/report" / name).read_bytes() == data, name
    assert not [p.name for p in (root / "docs/report").iterdir() if p.name.startswith(".")]


def test_missing_inputs_give_one_line_each_and_drop_stale_figures(tmp_path):
    build_tree(tmp_path)
    assert run_report(tmp_path).returncode == 0
    assert (tmp_path / "docs/report/accuracy_flops.png").is_file()
    (tmp_path / "outputs/rank/metrics.json").unlink()
    shutil.rmtree(tmp_path / "outputs/evaluate")
    shutil.rmtree(tmp_path / "outputs/cost")
    (tmp_path / "outputs/supernet/uniform/eval.json").unlink()
    shutil.rmtree(tmp_path / "outputs/family/random")
    # the layout of runs made before the baselines stage: family/members/ instead of scalenet/
    (tmp_path / "outputs/family/scalenet").rename(tmp_path / "outputs/family/members")
    result = run_report(tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "docs/report.md").read_text(encoding="utf-8")
    assert "*Not available: `outputs/rank/metrics.json` missing (run `dvc repro rank`).*" in text
    assert "*Not available: `outputs/evaluate/metrics.json` missing" in text
    assert "*Not available: `outputs/cost/*.json` missing" in text
    assert (
        "*Not available: `outputs/supernet/uniform/eval.json` missing "
        "(run `dvc repro train_supernet@uniform`)" in text
    )
    assert "| 0 | 56.0 | 44.5 |" in text  # HSS half of the section is still there
    assert (
        "*Not available: `outputs/family/random/family.json` missing (run `dvc repro baselines`).*"
        in text
    )
    assert "(`outputs/family/members/family.json`, projection `rw`)" in text
    assert "| compound | S3 | compound |" in text
    assert "f0 = 4,000,000 FLOPs" in text
    assert "8 of 11 sections have their inputs" in text
    assert not (tmp_path / "docs/report/accuracy_flops.png").exists()
    assert (tmp_path / "docs/report/sampling.png").is_file()


def test_undefined_coefficients_are_dashes_with_their_reason(tmp_path):
    # the rank stage writes null (and a note) when a super-supernet gives every path one accuracy
    build_tree(tmp_path)
    reason = "the accuracy vector is constant (every path scored the same)"
    _write(
        tmp_path / "outputs/rank/metrics.json",
        {
            "hss": {"count": 60, "kendall": 0.4123, "pearson": 0.5, "spearman": 0.55},
            "uniform": {
                "count": 60,
                "kendall": None,
                "pearson": None,
                "spearman": None,
                "notes": {"kendall": reason, "pearson": reason, "spearman": reason},
            },
        },
    )
    result = run_report(tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "docs/report.md").read_text(encoding="utf-8")
    assert "| Kendall τ | 0.412 | – |" in text
    assert f"uniform: Kendall τ undefined ({reason})." in text
    assert "No coefficient is defined for both samplers: no comparison." in text
    _write(
        tmp_path / "outputs/rank/metrics.json",
        {
            "hss": {"count": 60, "kendall": 0.4123, "pearson": None, "spearman": 0.55,
                    "notes": {"pearson": "constant FLOPs"}},
            "uniform": {"count": 60, "kendall": 0.3831, "pearson": 0.479, "spearman": 0.578},
        },
    )  # fmt: skip
    assert run_report(tmp_path).returncode == 0
    text = (tmp_path / "docs/report.md").read_text(encoding="utf-8")
    assert "Kendall τ 0.412 vs 0.383 for uniform (HSS higher by 0.029)" in text
    assert "HSS has the higher value on 1 of 2 coefficients" in text


def test_empty_outputs_still_give_a_report(tmp_path):
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "outputs").mkdir()
    result = run_report(tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "docs/report.md").read_text(encoding="utf-8")
    assert "1 of 11 sections have their inputs" in text
    assert text.count("*Not available") >= 10
    assert "missing (run `dvc repro prepare`)" in text
    assert "git commit | not available" in text


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("outputs/family/fit.json", "{not json", "outputs/family/fit.json: not valid JSON"),
        ("outputs/search/log.jsonl", '{"step": "initial"}\n{oops\n', "line 2 is not valid JSON"),
        ("outputs/supernet/hss/eval.json", '{"top1": [1, 2]}', "outputs/supernet/hss/eval.json"),
        ("outputs/budgets.json", '{"f0": 1}', "outputs/budgets.json: missing key 'max_stage'"),
        # read as scalenet.scaling.Family: the package's own reader names the key
        (
            "outputs/family/compound/family.json",
            '{"method": "compound", "space": "fmnist", "f0": 1, "members": [{"name": "S0"}]}',
            "outputs/family/compound/family.json: missing key 'kind'",
        ),
        (
            "outputs/family/scalenet/family.json",
            '{"method": "scalenet", "space": "fmnist", "f0": 1, "members": []}',
            "outputs/family/scalenet/family.json: family: members must be S0..SK in order",
        ),
    ],
)
def test_bad_input_fails_with_the_file_name(tmp_path, relative, content, message):
    build_tree(tmp_path)
    (tmp_path / relative).write_text(content)
    result = run_report(tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "docs/report.md").exists()


def test_missing_params_file_fails(tmp_path):
    (tmp_path / "outputs").mkdir()
    result = run_report(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "report: error: params file params.yaml does not exist"


COMPARE = ROOT / "scripts" / "compare_runs.py"


def test_compare_runs_puts_the_headlines_side_by_side(full_run, tmp_path):
    root, _, _ = full_run
    other = tmp_path / "other"
    shutil.copytree(root / "outputs", other)
    family_file = other / "family/scalenet/family.json"
    family = json.loads(family_file.read_text())
    for member in family["members"]:  # generalization misses its budgets in this run
        if member["kind"] == "generalized":
            member["flops"] = 2 * member["budget"]
    _write(family_file, family)
    done = subprocess.run(
        [sys.executable, str(COMPARE), f"a={root / 'outputs'}", f"b={root / 'outputs'}", f"c={other}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == "| question | a | b | c | same answer |"
    by_question = {row.split(" | ")[0][2:]: row for row in rows[1:]}
    assert len(by_question) == 4
    hit = next(row for question, row in by_question.items() if "generalization" in question)
    assert hit.count("**yes**:") == 2 and hit.count("**no**:") == 1
    assert hit.endswith("| **no** |")
    others = [row for question, row in by_question.items() if "generalization" not in question]
    assert all(row.endswith("| yes |") for row in others)


def test_compare_runs_bad_input_is_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(COMPARE), f"x={tmp_path / 'absent'}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == f"compare_runs: x: {tmp_path / 'absent'} is not a folder"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/budgets.json").write_text('{"f0": 1}')
    (tmp_path / "bad/family/scalenet").mkdir(parents=True)
    (tmp_path / "bad/family/scalenet/family.json").write_text('{"members": []}')
    done = subprocess.run(
        [sys.executable, str(COMPARE), f"y={tmp_path / 'bad'}", f"y={tmp_path / 'bad'}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "compare_runs: run name 'y' given twice"
    done = subprocess.run(
        [sys.executable, str(COMPARE), f"z={tmp_path / 'bad'}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"compare_runs: z ({tmp_path / 'bad'}): ")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
