"""The search and the super-supernet together: exact resume after SIGKILL, HSS stage weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_integration_pipeline import TINY

from scalenet.space import load_space

needs_fmnist = pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="needs Debian's dataset-fashion-mnist (scripts/setup.sh installs it)",
)

# Large enough that the search spends some seconds in every base step (so a kill lands inside
# one), small enough for CI: 2 iterations of 2 generations of 4 genomes.
SEARCH = {"population": 4, "generations": 2, "iterations": 2, "initial_bases": 1}


def _search_command(out: str) -> list[str]:
    return [
        sys.executable, "pipelines/search.py", "--params", "params.yaml",
        "--budgets", "outputs/budgets.json", "--checkpoint", "outputs/supernet/hss/checkpoint.pt",
        "--data", "data/prepared", "--out", out,
    ]  # fmt: skip


def _phase(state_file: Path) -> tuple[str, int] | None:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    return state["phase"], state["ga"]["generation"] if state.get("ga") else -1


@needs_fmnist
def test_a_killed_supernet_search_resumes_to_the_identical_result(project):
    """Issue 14, bug 2: path accuracy is a pure function of (checkpoint, path, mini-val).

    A search with the super-supernet evaluator, SIGKILLed in the middle of a base step and run
    again, ends with the result of an uninterrupted run: base, strategies, accuracies, evaluation
    count and log.
    """
    project.set_params(
        {
            **TINY,
            # a cheap evaluation: 40 mini-val images, BN recalibrated on 20 train images
            "prepare": {"minival_per_class": 4},
            "train_supernet": {**TINY["train_supernet"], "eval_batch_size": 20},
            "search": {**TINY["search"], **SEARCH},
        }
    )
    project.dvc("repro", "search")  # prepare, budgets, train_supernet@hss, the reference search
    reference = project.root / "outputs/search"
    killed = project.root / "outputs/search-killed"
    process = subprocess.Popen(
        _search_command(str(killed)), cwd=project.root, env=project.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    state = killed / "state/state.json"
    deadline = time.monotonic() + 300
    # the initial step and generation 0 of the first base step are committed: the process is now
    # evaluating generation 1 (a commit comes only at the end of a generation)
    while time.monotonic() < deadline and process.poll() is None:
        phase = _phase(state)
        if phase is not None and phase[0] == "base" and phase[1] >= 0:
            break
        time.sleep(0.005)
    assert process.poll() is None, "the search ended before it was killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = _phase(state)
    assert interrupted is not None and interrupted[0] == "base", interrupted
    resumed = project.run(*_search_command(str(killed)))
    assert resumed.returncode == 0
    expected = json.loads((reference / "result.json").read_text())
    got = json.loads((killed / "result.json").read_text())
    assert got == expected
    assert (killed / "log.jsonl").read_text() == (reference / "log.jsonl").read_text()
    assert expected["evaluations"] > 0 and expected["iterations"] == SEARCH["iterations"]
    # the resumed run re-evaluated nothing it had committed: the cache holds each path once
    cache = (killed / "state/cache.jsonl").read_text().splitlines()
    keys = [json.loads(line)[0] for line in cache]
    assert len(keys) == len(set(keys)) == expected["evaluations"]


@needs_fmnist
def test_hss_stage_weights_reach_training(project):
    """Issue 14, point 8: sampling.stage_weights decides the stages the trainer samples."""
    project.set_params(
        {
            "sampling": {"stage_weights": [0, 0, 0, 1]},  # scaling stage 3 only
            "train_supernet": {**TINY["train_supernet"], "iterations": 20, "checkpoint_every": 0},
        }
    )
    project.dvc("repro", "train_supernet@hss")
    space = load_space("fmnist")
    stage3 = {scaling.encode() for scaling in space.scaling.strategies(3)}
    records = (project.root / "outputs/supernet/hss/metrics.jsonl").read_text().splitlines()
    paths = [json.loads(line)["path"] for line in records]
    assert len(paths) == 2  # iterations 10 and 20 (one record every 10)
    # a uniform stage draw would give stage 3 twice with probability 1/16
    assert all(path.split("@")[1] in stage3 for path in paths), paths
    training = json.loads((project.root / "outputs/supernet/hss/training.json").read_text())
    assert training["iterations"] == 20
