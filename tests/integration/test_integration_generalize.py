from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scalenet.space import Budgets

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "scaling" / "data"  # the Table-3 search result the scaling tests use
SCRIPT = REPO / "pipelines" / "generalize.py"


def _setup(tmp_path: Path, section: str) -> tuple[Path, Path]:
    """The repository's params.yaml (the stage checks the whole file) with ``section``."""
    import yaml

    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["space"] = "fmnist"
    data["generalize"] = yaml.safe_load(section)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps({"space": "fmnist", **Budgets(4_000_000, 3, 500_000).to_json()}))
    return params, budgets


def _run(params: Path, budgets: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--params",
            str(params),
            "--search",
            str(DATA / "search_table3_fmnist.json"),
            "--budgets",
            str(budgets),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )


def test_generalize_stage_writes_the_family(tmp_path: Path) -> None:
    params, budgets = _setup(tmp_path, "  function: geometric\n  stages: 5\n  project: rw\n")
    proc = _run(params, budgets, tmp_path / "family")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "family"
    assert {p.name for p in out.iterdir()} == {"scalenet", "fit.json", "fit.png"}
    members = {f"S{j}.json" for j in range(6)} | {"family.json", "family.md"}
    assert {p.name for p in (out / "scalenet").iterdir()} == members
    family = json.loads((out / "scalenet" / "family.json").read_text())
    assert family["space"] == "fmnist" and family["f0"] == 4_000_000
    for member in family["members"][4:]:
        assert member["kind"] == "generalized" and abs(member["rel_error"]) <= 0.01
    fit = json.loads((out / "fit.json").read_text())
    assert set(fit["functions"]) == {"linear", "squared", "power", "exponential", "geometric"}


def test_generalize_stage_rejects_bad_params(tmp_path: Path) -> None:
    params, budgets = _setup(tmp_path, "  function: cubic\n  stages: 5\n  project: rw\n")
    proc = _run(params, budgets, tmp_path / "family")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "generalize.function 'cubic' not in" in proc.stderr
