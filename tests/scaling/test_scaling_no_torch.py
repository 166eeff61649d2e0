"""scalenet-scaling never imports torch (DESIGN: the light packages must not pull it)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import scalenet.scaling, scalenet.scaling.cli, scalenet.scaling.plot
from scalenet.scaling import build_family, load_strategies
from scalenet.space import load_space

searched = load_strategies("table3")
build_family(load_space("imagenet"), searched.base, searched.strategies, 4, 300_000_000)
print(sorted(name for name in sys.modules if name == "torch" or name.startswith("torch.")))
"""


def test_scaling_imports_and_runs_without_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
