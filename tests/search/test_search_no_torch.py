"""scalenet-search never imports torch (DESIGN: the light packages must not pull it)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import numpy as np
import scalenet.search, scalenet.search.cli
from scalenet.search import MCEA, MCEAConfig, make_analytic, ranking_coefficients
from scalenet.space import Budgets, load_space

space = load_space("fmnist")
budgets = Budgets(f0=4_000_000, max_stage=3, tolerance=500_000)
config = MCEAConfig(population=4, generations=1, iterations=1, initial_bases=1)
MCEA(space, budgets, make_analytic(space, budgets), config).run()
ranking_coefficients(np.arange(5.0), np.arange(5.0))
print(sorted(name for name in sys.modules if name == "torch" or name.startswith("torch.")))
"""


def test_search_imports_and_runs_without_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
