"""The search and the super-supernet together: exact resume after SIGKILL, in one process and in
two under torchrun; HSS stage weights in training."""

from __future__ import annotations

import contextlib
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


#: torchrun on the CPU (gloo), 2 processes, as `launcher: torchrun --nproc_per_node=2` runs.
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def _kill_everything_of(marker: str) -> None:
    """SIGKILL every process whose command line holds ``marker`` (torchrun and its workers)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in command:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(int(proc.name), signal.SIGKILL)


def _phase(state_file: Path) -> tuple[str, int] | None:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    return state["phase"], state["ga"]["generation"] if state.get("ga") else -1


def _kill_mid_base_step(project, command: list[str], out: Path) -> None:  # type: ignore[no-untyped-def]
    """Start the search stage ``command`` writing ``out``, SIGKILL it inside a base step.

    Once the initial step and generation 0 of the first base step are committed, the process is
    evaluating generation 1 (a commit comes only at the end of a generation): then every process
    of it dies (torchrun's workers run in sessions of their own, so each is killed by name).
    """
    process = subprocess.Popen(
        command, cwd=project.root, env=project.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    state = out / "state/state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        phase = _phase(state)
        if phase is not None and phase[0] == "base" and phase[1] >= 0:
            break
        time.sleep(0.005)
    assert process.poll() is None, f"{' '.join(command)} ended before it was killed"
    _kill_everything_of(str(out))
    process.wait()
    interrupted = _phase(state)
    assert interrupted is not None and interrupted[0] == "base", interrupted


@needs_fmnist
def test_a_killed_supernet_search_resumes_to_the_identical_result(project):
    """Issue 14, bug 2: path accuracy is a pure function of (checkpoint, path, mini-val).

    A search with the super-supernet evaluator, SIGKILLed in the middle of a base step and run
    again, ends with the result of an uninterrupted run: base, strategies, accuracies, evaluation
    count and log.
    """
    project.set_params(
        {
            **TINY,  # a cheap evaluation: 40 mini-val images, BN recalibrated on 20 train images
            # one thread per process: the 2-process runs below compute every path exactly as this
            # one-process run does
            "train_supernet": {**TINY["train_supernet"], "eval_batch_size": 20, "eval_threads": 1},
            "search": {**TINY["search"], **SEARCH},
        }
    )
    project.dvc("repro", "search")  # prepare, budgets, train_supernet@hss, the reference search
    reference = project.root / "outputs/search"
    killed = project.root / "outputs/search-killed"
    _kill_mid_base_step(project, _search_command(str(killed)), killed)
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

    # Issue 17, part 2: the same search as 2 processes under torchrun, each evaluating its share
    # of every population, killed mid-step (every process of it) and run again: rank 0 writes
    # the very result of the one-process run.
    shared = project.root / "outputs/search-2p"
    _kill_mid_base_step(project, [*TORCHRUN, *_search_command(str(shared))[1:]], shared)
    project.run(*TORCHRUN, *_search_command(str(shared))[1:])
    assert json.loads((shared / "result.json").read_text()) == expected
    assert (shared / "log.jsonl").read_text() == (reference / "log.jsonl").read_text()

    # Other search settings: the 2-process search in the same folder starts over (each rank read
    # the old state before rank 0 replaced it) and ends as a fresh one-process search does (one
    # iteration: the two searches cost half).
    project.set_params({"search": {**TINY["search"], **SEARCH, "seed": 7, "iterations": 1}})
    restarted = project.run(*TORCHRUN, *_search_command(str(shared))[1:])
    assert "mcea: search settings changed, starting over" in restarted.stdout
    fresh = project.root / "outputs/search-seed7"
    project.run(*_search_command(str(fresh)))
    assert json.loads((shared / "result.json").read_text()) == json.loads(
        (fresh / "result.json").read_text()
    )
    for name in ("log.jsonl", "state/cache.jsonl"):
        assert (shared / name).read_text() == (fresh / name).read_text(), name

    # evaluate_paths: 2 processes write the CSV of one
    for name, launcher in (("one", [sys.executable]), ("two", TORCHRUN)):
        project.run(
            *launcher, "pipelines/evaluate_paths.py", "--params", "params.yaml",
            "--checkpoint", "outputs/supernet/hss/checkpoint.pt", "--data", "data/prepared",
            "--out", f"outputs/rank/{name}.csv",
        )  # fmt: skip
    one = (project.root / "outputs/rank/one.csv").read_text()
    assert one == (project.root / "outputs/rank/two.csv").read_text()
    assert len(one.splitlines()) == 1 + TINY["rank"]["paths"]


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
