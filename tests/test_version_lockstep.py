"""The scalenet-* packages move in lockstep, and each has one version source.

Each package's pyproject.toml declares `dynamic = ["version"]`; hatchling reads the version from
the `__version__` line of the package's own `src/scalenet/<name>/__init__.py`
(`[tool.hatch.version] path`), so `pip install packages/scalenet-<name>` works alone. The
lockstep version is scalenet-space's line (the package every other one builds on); the other
five lines, any version pin of one scalenet-* package on another, and CITATION.cff must equal it.

Pure Python: the pyproject files are read with tomllib, the `__init__.py` files as text (nothing
is imported, so neither torch nor numpy is needed).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES_DIR = ROOT / "packages"
REFERENCE = "scalenet-space"

# hatchling's default pattern of the `path` version source (hatchling/version/source/regex.py)
VERSION_LINE = re.compile(
    r"""^(__version__|VERSION) *= *(['"])v?(?P<version>.+?)\2""", re.MULTILINE | re.IGNORECASE
)
# A public PEP 440 version (N(.N)*[{a|b|rc}N][.postN][.devN]), what a release may carry
PUBLIC_VERSION = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
# A PEP 508 requirement on one of ours: name, optional extras, the rest (specifier; marker)
OUR_REQUIREMENT = re.compile(
    r"^\s*(?P<name>scalenet-[A-Za-z0-9_.-]*[A-Za-z0-9])\s*(\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*(;.*)?$"
)


def _package_dirs() -> list[Path]:
    return sorted(path.parent for path in PACKAGES_DIR.glob("scalenet-*/pyproject.toml"))


def _pyproject(package_dir: Path) -> dict[str, Any]:
    with (package_dir / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def _init_path(package_dir: Path) -> Path:
    short = package_dir.name.removeprefix("scalenet-")
    return package_dir / "src" / "scalenet" / short / "__init__.py"


def _init_version(package_dir: Path) -> str:
    init = _init_path(package_dir)
    matches = list(VERSION_LINE.finditer(init.read_text(encoding="utf-8")))
    assert len(matches) == 1, f"{init.relative_to(ROOT)}: {len(matches)} __version__ lines, want 1"
    return matches[0].group("version")


def _lockstep_version() -> str:
    return _init_version(PACKAGES_DIR / REFERENCE)


PACKAGE_DIRS = _package_dirs()
PACKAGE_NAMES = {package_dir.name for package_dir in PACKAGE_DIRS}


def test_the_six_packages_are_found() -> None:
    assert {
        "scalenet-space",
        "scalenet-data",
        "scalenet-sampling",
        "scalenet-scaling",
        "scalenet-search",
        "scalenet-supernet",
    } <= PACKAGE_NAMES


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda path: path.name)
def test_pyproject_reads_the_version_from_the_package_init(package_dir: Path) -> None:
    data = _pyproject(package_dir)
    project = data["project"]
    assert project["name"] == package_dir.name
    assert "version" not in project, (
        f"{package_dir.name}: a static [project] version is a second source; "
        'use dynamic = ["version"]'
    )
    assert "version" in project.get("dynamic", []), f"{package_dir.name}: version not dynamic"
    assert data["build-system"]["build-backend"] == "hatchling.build"
    hatch_version = data.get("tool", {}).get("hatch", {}).get("version", {})
    init = _init_path(package_dir).relative_to(package_dir).as_posix()
    assert hatch_version.get("path") == init, (
        f"{package_dir.name}: [tool.hatch.version] path is {hatch_version.get('path')!r}, "
        f"want {init!r}"
    )
    assert set(hatch_version) <= {"path", "source"}, f"{package_dir.name}: {sorted(hatch_version)}"
    assert hatch_version.get("source", "regex") == "regex"


def test_lockstep_version_is_a_public_pep440_version() -> None:
    version = _lockstep_version()
    assert PUBLIC_VERSION.match(version), f"{REFERENCE}: version {version!r} is not PEP 440"


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda path: path.name)
def test_package_version_equals_the_lockstep_version(package_dir: Path) -> None:
    assert _init_version(package_dir) == _lockstep_version(), (
        f"{_init_path(package_dir).relative_to(ROOT)} says {_init_version(package_dir)!r}, "
        f"{REFERENCE} says {_lockstep_version()!r}: bump every package together"
    )


@pytest.mark.parametrize("package_dir", PACKAGE_DIRS, ids=lambda path: path.name)
def test_pins_on_our_packages_use_the_lockstep_version(package_dir: Path) -> None:
    project = _pyproject(package_dir)["project"]
    groups = {"dependencies": project.get("dependencies", [])}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        groups[f"optional-dependencies.{extra}"] = requirements
    version = _lockstep_version()
    for group, requirements in groups.items():
        for requirement in requirements:
            match = OUR_REQUIREMENT.match(requirement)
            if match is None:
                continue
            where = f"{package_dir.name} {group}: {requirement!r}"
            assert match.group("name") in PACKAGE_NAMES, f"{where}: no such package in packages/"
            assert match.group("name") != package_dir.name, f"{where}: depends on itself"
            # Unpinned is allowed (the local installs are always in lockstep); a pin must be
            # exactly this version, or the packages of one checkout would not install together.
            spec = match.group("spec").replace(" ", "")
            assert spec in ("", f"=={version}"), f"{where}: pin it as =={version} or not at all"


def test_citation_version_equals_the_lockstep_version() -> None:
    citation = ROOT / "CITATION.cff"
    if not citation.exists():
        pytest.skip("no CITATION.cff")
    versions = re.findall(
        r"""^version:\s*['"]?([^'"\s#]+)""", citation.read_text(encoding="utf-8"), re.MULTILINE
    )
    assert versions in ([], [_lockstep_version()]), (
        f"CITATION.cff version {versions}, packages {_lockstep_version()!r}"
    )
