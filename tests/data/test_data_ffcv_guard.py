"""conftest.py's guard: FFCV tests skip without FFCV, and fail if ``SCALENET_REQUIRE_FFCV=1``.

Runs pytest on one FFCV test in a subprocess where ``import ffcv`` fails (no FFCV needed here).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(240, method="thread")]

REPO = Path(__file__).resolve().parents[2]
TARGET = "tests/data/test_data_writer_ffcv.py::test_bad_options_are_named"
# Hide FFCV (as if it were not installed), then run pytest on TARGET.
WITHOUT_FFCV = (
    "import sys; sys.modules['ffcv'] = None\n"
    "import pytest\n"
    f"sys.exit(pytest.main(['-p', 'no:cacheprovider', '-q', '-rsE', {TARGET!r}]))\n"
)


def run_without_ffcv(require: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "SCALENET_REQUIRE_FFCV"}
    env.pop("PYTEST_ADDOPTS", None)
    if require is not None:
        env["SCALENET_REQUIRE_FFCV"] = require
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_FFCV],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )


def test_ffcv_tests_skip_without_ffcv_and_fail_when_required() -> None:
    skipped = run_without_ffcv(None)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "1 skipped" in skipped.stdout
    assert "ffcv cannot be imported (ModuleNotFoundError: " in skipped.stdout
    assert "SCALENET_REQUIRE_FFCV=1 makes this a failure" in skipped.stdout
    required = run_without_ffcv("1")
    assert required.returncode == 1, required.stdout + required.stderr
    assert "1 error" in required.stdout
    assert (
        "SCALENET_REQUIRE_FFCV=1 but ffcv cannot be imported (ModuleNotFoundError: "
        in required.stdout
    )
    assert "skipped" not in required.stdout
