import json

import pytest
import yaml
from params_trace import param_problems, read_trace
from test_integration_dvc_deps import stage_bodies, stage_script


def test_budgets_stage_and_noop_second_run(project):
    first = project.dvc("repro", "budgets")
    assert "Running stage 'budgets'" in first.stdout
    budgets = json.loads((project.root / "outputs/budgets.json").read_text())
    assert budgets["space"] == "fmnist"
    assert budgets["f0"] == 4_000_000
    assert budgets["budgets"] == {"0": 4_000_000, "1": 8_000_000, "2": 16_000_000, "3": 32_000_000}
    second = project.dvc("repro", "budgets")
    assert "Running stage" not in second.stdout
    assert "didn't change" in second.stdout or "up to date" in second.stdout
    metrics = project.dvc("metrics", "show", "--json")
    assert "4000000" in metrics.stdout


def test_changed_param_reruns_the_stage(project):
    project.dvc("repro", "budgets")
    project.set_params({"budgets": {"seed": 1}})
    rerun = project.dvc("repro", "budgets")
    assert "Running stage 'budgets'" in rerun.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"budgets": {"sampels": 5}}, "unknown key(s) budgets.sampels"),
        ({"budgets": {"samples": "many"}}, "budgets.samples must be int"),
        ({"budgets": {"samples": 10}}, "samples must be >= 100,000"),
    ],
)
def test_bad_params_fail_with_the_key_name(project, overrides, message):
    project.set_params(overrides)
    result = project.dvc("repro", "budgets", check=False)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_sampling_stage(project):
    project.set_params({"sampling": {"paths": 20_000}})
    project.dvc("repro", "sampling")
    stats = json.loads((project.root / "outputs/sampling/stats.json").read_text())
    assert (project.root / "outputs/sampling/distribution.png").stat().st_size > 10_000
    assert "Running stage" not in project.dvc("repro", "sampling").stdout
    assert abs(stats["samplers"]["hss"]["stage_share"]["0"] - 0.25) < 0.02
    assert stats["samplers"]["uniform"]["paths"] == 20_000


TINY = {
    # 40 mini-val images: the super-supernet scores every searched path on them (500 in
    # params.yaml made the search 520 s of this file's 11 minutes)
    "prepare": {"minival_per_class": 4},
    "sampling": {"paths": 20_000},
    "train_supernet": {
        "iterations": 6,
        "batch_size": 16,
        "warmup": 2,
        "checkpoint_every": 3,
        "recalib_batches": 1,
        "eval_batch_size": 50,
        "threads": 1,
    },
    "search": {"population": 4, "generations": 2, "iterations": 1, "initial_bases": 2},
    "rank": {"paths": 6},
    "standalone": {"paths": 2, "epochs": 1, "train_images": 64},
    "generalize": {"stages": 4},
    "retrain": {
        "stages": [0, 4],
        "train_images": 64,  # 2 processes x 16 images x 2 steps
        "batch_size": 16,
        "checkpoint_every": 1,
        "threads": 1,
    },
    "evaluate": {"test_images": 40, "batch_size": 20, "latency_repeats": 2},
}


def member_side(families, stage):
    return families["scalenet"]["members"][stage]["resolution"]


@pytest.mark.skipif(
    not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="needs Debian's dataset-fashion-mnist (scripts/setup.sh installs it)",
)
def test_whole_pipeline_on_tiny_settings(project):
    project.set_params(TINY)
    trace = project.root.parent / "params-trace.jsonl"
    project.env["SCALENET_PARAMS_TRACE"] = str(trace)
    project.dvc("repro")
    root = project.root
    # every params key a stage read is one DVC watches for it (and no listed key goes unread)
    stages = stage_bodies(root / "dvc.yaml")
    scripts = {
        name: stage_script(name, body)[len("pipelines/") : -3] for name, body in stages.items()
    }
    params = yaml.safe_load((root / "params.yaml").read_text())
    problems = param_problems(stages, scripts, params, read_trace(trace.read_text().splitlines()))
    assert problems == [], "\n".join(problems)
    del project.env["SCALENET_PARAMS_TRACE"]
    for sampler in ("hss", "uniform"):
        evaluation = json.loads((root / f"outputs/supernet/{sampler}/eval.json").read_text())
        assert evaluation["iterations"] == 6
        assert set(evaluation["top1"]) == {
            f"stage{j}_{end}" for j in range(4) for end in ("largest", "smallest")
        }
        assert all(0 <= value <= 100 for value in evaluation["top1"].values())
        rows = (root / f"outputs/rank/{sampler}.csv").read_text().splitlines()
        assert rows[0] == "path,flops,accuracy" and len(rows) == 7
    result = json.loads((root / "outputs/search/result.json").read_text())
    assert [s["stage"] for s in result["strategies"]] == [1, 2, 3]
    rank = json.loads((root / "outputs/rank/metrics.json").read_text())
    assert set(rank) == {"hss", "uniform"}
    # the first 2 of the 6 ranked paths, trained on their own, and the intervals of both rankings
    alone = (root / "outputs/standalone/paths.csv").read_text().splitlines()
    ranked = (root / "outputs/rank/hss.csv").read_text().splitlines()
    assert len(alone) == 3 and [r.split(",")[0] for r in alone[1:]] == [
        r.split(",")[0] for r in ranked[1:3]
    ]
    intervals = json.loads((root / "outputs/rank/intervals.json").read_text())
    assert set(intervals["samplers"]) == {"hss", "uniform"}
    assert intervals["difference"]["of"] == ["hss", "uniform"]
    assert intervals["standalone"]["paths"] == 2
    assert set(intervals["standalone"]["samplers"]) == {"hss", "uniform"}
    families = {
        name: json.loads((root / f"outputs/family/{name}/family.json").read_text())
        for name in ("scalenet", "compound", "random")
    }
    assert all(len(family["members"]) == 5 for family in families.values())
    assert families["compound"]["method"] == "compound"
    # The random baseline is scaled by the searched strategies S1..S3.
    searched = [(s["depth"], s["width"]) for s in result["strategies"]]
    scaled = [(m["scaling"]["depth"], m["scaling"]["width"]) for m in families["random"]["members"]]
    assert scaled[1:4] == searched
    models = json.loads((root / "outputs/evaluate/metrics.json").read_text())["models"]
    assert sorted(models) == sorted(
        f"{name}/S{j}" for name in ("scalenet", "compound", "random") for j in (0, 4)
    )
    for name, record in models.items():
        member = families[record["family"]]["members"][record["stage"]]
        assert record["path"] == member["path"]
        assert record["flops"] == record["flops_analytic"] == member["flops"], name
        assert 0 <= record["top1"] <= record["top5"] <= 1 and record["test_images"] == 40
        assert record["latency_ms"] > 0 and record["train_images"] == 64
    predictions = json.loads((root / "outputs/evaluate/predictions.json").read_text())
    assert sorted(predictions["models"]) == sorted(models) and len(predictions["labels"]) == 40
    for name, predicted in predictions["models"].items():
        right = sum(p == y for p, y in zip(predicted, predictions["labels"], strict=True))
        assert right == round(models[name]["top1"] * 40), name
    train = json.loads((root / "outputs/retrain/scalenet-S4/train.json").read_text())
    assert train["iterations"] == 2 and train["resolution"] == member_side(families, 4)
    # every declared plot loads: the loss curves are DVCLive's TSV files (step = iteration),
    # the same records as metrics.jsonl
    plots = json.loads(project.dvc("plots", "show", "--json").stdout)
    assert plots.get("errors", []) == []
    for folder, last in (("outputs/supernet/hss", 6), ("outputs/retrain/random-S4", 2)):
        (vega,) = plots["data"][f"{folder}/dvclive/plots/metrics/loss.tsv"]
        values = vega["content"]["data"]["values"]
        assert [int(row["step"]) for row in values] == [last]  # one record every 10, the last
        logged = json.loads((root / folder / "metrics.jsonl").read_text())
        assert float(values[0]["loss"]) == logged["loss"] > 0
        assert json.loads((root / folder / "dvclive/metrics.json").read_text())["step"] == last
        assert not (root / folder / "metrics.csv").exists()
    costs = {path.stem for path in (root / "outputs/cost").glob("*.json")}
    assert {"prepare", "train_supernet-hss", "search", "retrain-random-S4", "evaluate"} <= costs
    # the training stages ran as 2 single-threaded ranks (params.yaml's processes: 2), and so
    # did path evaluation (eval_processes: 2, eval_threads: 1)
    for stage in ("train_supernet-hss", "retrain-random-S4", "search", "evaluate_paths-hss"):
        cost = json.loads((root / f"outputs/cost/{stage}.json").read_text())
        assert (cost["world_size"], cost["threads"]) == (2, 1), stage
    again = project.dvc("repro")
    assert "Running stage" not in again.stdout
    # an interrupted `evaluate` resumes from its cache: 4 of the 6 models kept, 2 evaluated again
    # (the code before EvaluationCache failed here: its reader dropped the labels)
    out = root / "outputs/evaluate"
    kept = (out / "cache.jsonl").read_text().splitlines()[:4]
    (out / "cache.jsonl").write_text("\n".join(kept) + "\n")
    (out / "metrics.json").unlink()  # DVC reruns the stage and keeps the cache (persist: true)
    assert "Running stage 'evaluate'" in project.dvc("repro", "evaluate").stdout
    resumed = json.loads((out / "metrics.json").read_text())["models"]

    def untimed(records):
        return {
            name: {k: v for k, v in r.items() if k != "latency_ms"} for name, r in records.items()
        }

    assert untimed(resumed) == untimed(models)
    assert len((out / "cache.jsonl").read_text().splitlines()) == 6


@pytest.mark.skipif(
    not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="needs Debian's dataset-fashion-mnist (scripts/setup.sh installs it)",
)
def test_killed_training_resumes_and_changed_settings_start_over(project):
    import os
    import signal
    import subprocess
    import sys
    import time

    tiny = {**TINY["train_supernet"], "iterations": 80, "checkpoint_every": 2}
    project.set_params({"prepare": TINY["prepare"], "train_supernet": tiny})
    project.dvc("repro", "prepare")
    checkpoint = project.root / "outputs/supernet/hss/checkpoint.pt"
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "train_supernet@hss"],
        cwd=project.root, env=project.env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert checkpoint.exists() and process.poll() is None, "training ended before it was killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    resumed = project.dvc("repro", "train_supernet@hss")
    assert "resuming from outputs/supernet/hss/checkpoint.pt" in resumed.stdout
    metrics = (project.root / "outputs/supernet/hss/metrics.jsonl").read_text().splitlines()
    iterations = [json.loads(line)["iteration"] for line in metrics]
    assert iterations == sorted(set(iterations)) and iterations[-1] == 80

    project.set_params({"train_supernet": {"eval_side": "right"}})  # evaluation only
    assert "resuming from" in project.dvc("repro", "train_supernet@hss").stdout
    project.set_params({"train_supernet": {"lr": 0.05}})  # decides the weights
    assert "starting over" in project.dvc("repro", "train_supernet@hss").stdout


@pytest.mark.skipif(
    not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="needs Debian's dataset-fashion-mnist (scripts/setup.sh installs it)",
)
def test_ffcv_loader_trains_and_evaluates(project):
    """`loader: ffcv` (the full-scale configs' setting) streams the .beton files instead."""
    import sys

    project.set_params(
        {
            "train_supernet": {**TINY["train_supernet"], "iterations": 3},
            "rank": {"paths": 3},
            "standalone": {"paths": 2},  # at most rank.paths
        }
    )
    params = project.root / "params.yaml"
    params.write_text("loader: ffcv\n" + params.read_text())
    project.dvc("repro", "prepare")
    run = project.run(
        sys.executable, "pipelines/train_supernet.py", "--params", "params.yaml",
        "--sampler", "uniform", "--data", "data/prepared", "--out", "outputs/supernet/uniform",
    )  # fmt: skip
    assert "train_supernet[uniform]: 3 iterations" in run.stdout
    evaluation = json.loads((project.root / "outputs/supernet/uniform/eval.json").read_text())
    assert evaluation["minival_images"] == 500 and len(evaluation["top1"]) == 8  # 50 a class
    project.run(
        sys.executable, "pipelines/evaluate_paths.py", "--params", "params.yaml",
        "--checkpoint", "outputs/supernet/uniform/checkpoint.pt", "--data", "data/prepared",
        "--out", "outputs/rank/uniform.csv",
    )  # fmt: skip
    import csv

    with (project.root / "outputs/rank/uniform.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 3 and all(0 <= float(row["accuracy"]) <= 100 for row in rows)
