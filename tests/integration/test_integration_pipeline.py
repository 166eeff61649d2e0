import json

import pytest


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
    "generalize": {"stages": 4},
}


@pytest.mark.skipif(
    not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="needs Debian's dataset-fashion-mnist (scripts/setup.sh installs it)",
)
def test_whole_pipeline_on_tiny_settings(project):
    project.set_params(TINY)
    project.dvc("repro")
    root = project.root
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
    family = json.loads((root / "outputs/family/members/family.json").read_text())
    assert len(family["members"]) == 5
    again = project.dvc("repro")
    assert "Running stage" not in again.stdout


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
    project.set_params({"train_supernet": tiny})
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
