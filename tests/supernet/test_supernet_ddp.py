from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path as FilePath

import pytest
import torch

from scalenet.supernet.engine.runtime import launch_local

HERE = FilePath(__file__).parent


def records_of(out: FilePath) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("sync", ["allreduce", "ddp"])
def test_torchrun_two_cpu_processes_stay_in_sync(tmp_path: FilePath, sync: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--standalone", str(HERE / "supernet_train_script.py"), str(tmp_path), "6", "3",
        "bcnet", sync,
    ]  # fmt: skip
    # A session of its own, so a timeout kills torchrun's workers too (no orphans left behind).
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _stdout, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    # parameters agree exactly; BN running statistics come from each rank's last local batch
    # (DDP broadcasts rank 0's buffers at the start of every forward)
    parameters = [key for key in rank0 if "running_" not in key]
    assert len(parameters) > 100
    for key in parameters:
        assert torch.equal(rank0[key], rank1[key]), key
    # every step activated the same path on both ranks (the path generator is seeded alike), and
    # the paths differ from step to step
    paths = [json.loads((tmp_path / f"paths{rank}.json").read_text()) for rank in (0, 1)]
    assert len(paths[0]) == 6 and paths[0] == paths[1]
    assert len(set(paths[0])) > 1
    assert [r["path"] for r in records_of(tmp_path)] == paths[0]
    initial = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert initial["iteration"] == 6
    records = records_of(tmp_path)
    assert [r["iteration"] for r in records] == list(range(1, 7))  # rank 0 writes, once
    # both ranks trained on disjoint halves: the global throughput counts 2 x 8 images per step
    data = json.loads(initial["data"])
    assert data == {"epoch": 0, "position": 6}


def test_allreduce_and_ddp_train_the_same_weights(tmp_path: FilePath) -> None:
    """The flat all-reduce of the path's gradients (the CPU default) averages what DDP averages."""
    weights = {}
    for sync in ("allreduce", "ddp"):
        out = tmp_path / sync
        out.mkdir()
        script = str(HERE / "supernet_train_script.py")
        assert launch_local(2, script, [str(out), "5", "0", "bcnet", sync]) == 0
        weights[sync] = torch.load(out / "rank0.pt", weights_only=True)
    parameters = [key for key in weights["ddp"] if "running_" not in key]
    assert len(parameters) > 100
    for key in parameters:
        assert torch.allclose(weights["allreduce"][key], weights["ddp"][key], atol=1e-6), key


MISMATCH_SCRIPT = """
import sys, torch
from scalenet.supernet.engine import allreduce_gradients, init_distributed
torch.set_num_threads(1)
context = init_distributed("cpu")
parameter = torch.nn.Parameter(torch.zeros(3 + context.rank))  # rank 1 has one more gradient
parameter.grad = torch.ones_like(parameter)
try:
    allreduce_gradients([parameter], context)
except RuntimeError as error:
    open(f"{sys.argv[1]}/rank{context.rank}.txt", "w").write(str(error))
"""


def test_allreduce_refuses_ranks_on_different_paths(tmp_path: FilePath) -> None:
    script = tmp_path / "mismatch.py"
    script.write_text(MISMATCH_SCRIPT)
    assert launch_local(2, str(script), [str(tmp_path)]) == 0
    for rank in (0, 1):
        message = (tmp_path / f"rank{rank}.txt").read_text()
        assert message == (
            "ranks hold gradients of different sizes (3..4): they trained different paths"
        )


MAP_SCRIPT = """
import json, os, sys, torch
from scalenet.supernet.engine import distributed_map, init_distributed
torch.set_num_threads(1)
context = init_distributed("cpu")
mapped = distributed_map(context)
seen = []
def square(x):
    seen.append(x)
    return x * x
result = mapped(square, range(7))
try:
    mapped(lambda x: 1 / (x - 4), range(6))
    error = ""
except RuntimeError as failure:
    error = str(failure)
out = {"result": result, "seen": seen, "error": error}
open(f"{sys.argv[1]}/rank{context.rank}.json", "w").write(json.dumps(out))
"""


def test_distributed_map_shares_the_items_and_returns_all_results_everywhere(
    tmp_path: FilePath,
) -> None:
    script = tmp_path / "map.py"
    script.write_text(MAP_SCRIPT)
    assert launch_local(2, str(script), [str(tmp_path)]) == 0
    outputs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rank, out in enumerate(outputs):
        assert out["result"] == [x * x for x in range(7)]  # item order, on every rank
        assert out["seen"] == list(range(rank, 7, 2))  # its share only
        # item 4 fails on rank 0; every rank raises, naming the rank and the error
        assert out["error"] == "rank 0: ZeroDivisionError: division by zero"


def test_distributed_map_is_the_serial_map_in_one_process() -> None:
    from scalenet.supernet.engine import DistContext, distributed_map

    single = DistContext(0, 1, 0, torch.device("cpu"))
    assert distributed_map(single)(lambda x: x + 1, [1, 2, 3]) == [2, 3, 4]
