"""Fixtures for pipeline tests: a throw-away copy of the repository's DVC project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COPIED = ["dvc.yaml", "params.yaml", "pipelines", "packages", ".dvcignore"]


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {name for name in names if name in {"__pycache__", ".mypy_cache", ".pytest_cache"}}


class Project:
    """A copy of the DVC project in a temporary git repository."""

    def __init__(self, root: Path) -> None:
        self.root = root
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args), cwd=self.root, env=self.env, capture_output=True, text=True
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def set_params(self, overrides: dict[str, dict[str, object]]) -> None:
        file = self.root / "params.yaml"
        params = yaml.safe_load(file.read_text())
        for section, values in overrides.items():
            params[section].update(values)
        file.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "repo"
    root.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=_ignore)
        else:
            shutil.copy2(source, root / name)
    copy = Project(root)
    copy.run("git", "init", "-q")
    copy.dvc("init", "-q")
    copy.dvc("config", "core.analytics", "false")
    return copy
