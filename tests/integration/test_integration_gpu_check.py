"""scripts/gpu_check.sh end to end in its smoke mode: the three parts on the CPU, one JSON.

On a GPU machine the same command without ``--smoke`` measures the figures (under 8 minutes);
here each part runs a tiny CPU version, so the test checks the shell logic (the parts' order,
the train part's checkpoint feeding the search, the merge into one JSON), not the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_smoke_writes_one_json(tmp_path: Path) -> None:
    out = tmp_path / "results" / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--smoke", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["ok"] is True and report["smoke"] is True
    assert report["torch"] and report["budget_s"] == 480
    assert list(report["parts"]) == ["throughput", "train", "search"]
    for name, part in report["parts"].items():
        assert part["ok"] is True and part["exit"] == 0, name
        assert part["result"]["smoke"] is True, name
        assert 0 < part["seconds"] < part["limit_s"], name
    assert sum(part["limit_s"] for part in report["parts"].values()) < 480
    train = report["parts"]["train"]["result"]
    assert train["launcher"] == "torchrun" and train["iterations"] == 4
    search = report["parts"]["search"]["result"]
    # the search scored the train part's checkpoint, not an untrained super-supernet
    assert search["checkpoint"] == train["checkpoint"] and "note" not in search
    assert search["completed"] is True and search["evaluations"] > 0
    assert search["world_size"] == 1 and len(search["strategies"]) == 1  # smoke: S1 only
    summary = report["summary"]
    assert summary["train_images_per_second"] == train["images_per_second"]
    assert summary["search_evaluations_per_second"] == search["evaluations_per_second"]
    # the parts' own files stay next to the JSON
    assert (tmp_path / "results" / "gpu_check" / "train" / "checkpoint.pt").is_file()
