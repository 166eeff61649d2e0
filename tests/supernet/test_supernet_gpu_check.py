"""The prepared GPU check: it fails fast and clearly without a GPU; its torch parts run on the CPU.

scripts/gpu_check.sh and benchmarks/gpu_{supernet,train_check,search_check}.py run once on a GPU
machine; here every one is started with no GPU visible (``CUDA_VISIBLE_DEVICES=""``, so the test
also holds on a machine that has one) and must stop at once, and the two parts that need only
torch and this package run in their ``--smoke`` mode (a few steps on one CPU thread). The whole
check in smoke mode, search included, is tests/integration/test_integration_gpu_check.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path as FilePath

import pytest

ROOT = FilePath(__file__).resolve().parents[2]
NO_GPU = (
    "no CUDA GPU visible (torch.cuda.is_available() is False); run this on a machine with a GPU"
)


def run(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_gpu_check_stops_at_once_without_a_gpu(tmp_path: FilePath) -> None:
    out = tmp_path / "gpu_check.json"
    done = run(["bash", "scripts/gpu_check.sh", "--out", str(out)], timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"gpu_check: {NO_GPU}"]
    assert done.stdout == ""  # no part started
    assert list(tmp_path.iterdir()) == []  # nothing written, an earlier result is kept


@pytest.mark.parametrize("script", ["gpu_supernet.py", "gpu_train_check.py", "gpu_search_check.py"])
def test_each_part_stops_at_once_without_a_gpu(tmp_path: FilePath, script: str) -> None:
    done = run([sys.executable, f"benchmarks/{script}", "--out", str(tmp_path / "x.json")])
    assert done.returncode == 2
    name = script.removesuffix(".py")
    assert done.stderr.splitlines() == [
        f"{name}: {NO_GPU} or pass --smoke for the CPU check of the script"
    ]
    assert list(tmp_path.iterdir()) == []


def test_throughput_part_smoke(tmp_path: FilePath) -> None:
    out = tmp_path / "throughput.json"
    done = run([sys.executable, "benchmarks/gpu_supernet.py", "--smoke", "--out", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["part"] == "throughput" and result["smoke"] is True
    assert result["space"] == "imagenet" and result["bf16"] is False
    assert len(result["rows"]) == 2
    for row in result["rows"]:
        assert row["supernet_img_s"] > 0 and row["static_img_s"] > 0
    assert result["efficientnet_b0_img_s"] is None or result["efficientnet_b0_img_s"] > 0


def test_train_part_smoke_under_torchrun(tmp_path: FilePath) -> None:
    out = tmp_path / "train"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"an old run's")  # the check starts fresh, never resumes
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]
    command = [*torchrun, "benchmarks/gpu_train_check.py", "--smoke", "--out", str(out)]
    done = run(command)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "train_check.json").read_text())
    assert result["launcher"] == "torchrun" and result["world_size"] == 1
    assert result["iterations"] == 4 and result["images_per_second"] > 0
    assert result["global_batch"] == 4 and result["input_side"] == 26  # ceil(16 x 1.57)
    assert result["checkpoint_bytes"] == (out / "checkpoint.pt").stat().st_size > 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [record["iteration"] for record in records] == [1, 2, 3, 4]
