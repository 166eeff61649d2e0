"""Test, lint and type-check sessions: one session per package, each in its own environment.

`nox` runs every package session, integration, lint and typecheck. A package session installs
only that package, its declared dependencies (our own ones from packages/) and its `test` extra,
so a missing dependency declaration fails here. Torch comes from the pinned wheels
(requirements.txt pins torch==2.14.1, torchvision==0.29.1); use pip, not uv (see README).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
TORCH_PINS = ["torch==2.14.1", "torchvision==0.29.1"]

# package -> (our packages it depends on, extras to install, needs torch)
PACKAGES: dict[str, tuple[list[str], list[str], bool]] = {
    "space": ([], ["test"], False),
    "data": ([], ["test", "ffcv"], True),
    "sampling": (["space"], ["test"], False),
    "scaling": (["space"], ["test"], False),
    "search": (["space"], ["test"], False),
    "supernet": (["space", "sampling", "data"], ["test"], True),
}

nox.options.sessions = [*PACKAGES, "integration", "lint", "typecheck", "docs"]


@contextmanager
def _pruned(session: nox.Session) -> Iterator[None]:
    """Delete the session's environment when the session ends, unless it is meant to be reused.

    A torch environment is ~5.5 GB (CUDA wheels); five of them side by side filled a CI disk.
    Nox recreates environments on every run anyway; with `-r` (reuse) or
    SCALENET_NOX_KEEP_VENVS=1 the environment is kept.
    """
    try:
        yield
    finally:
        venv = session.virtualenv
        keep = getattr(venv, "reuse_existing", True) or os.environ.get("SCALENET_NOX_KEEP_VENVS")
        location = getattr(venv, "location", None)
        if not keep and location and Path(location).is_dir():
            session.log(f"removing {location} to free disk (keep it: nox -r)")
            shutil.rmtree(location, ignore_errors=True)


def _install_package(session: nox.Session, name: str) -> None:
    deps, extras, needs_torch = PACKAGES[name]
    if needs_torch:
        session.install(*TORCH_PINS)
    targets = [f"./packages/scalenet-{dep}" for dep in deps]
    suffix = f"[{','.join(extras)}]" if extras else ""
    targets.append(f"./packages/scalenet-{name}{suffix}")
    session.install(*targets)


def _make_package_session(name: str) -> None:
    @nox.session(name=name, python="3.11")
    def _session(session: nox.Session) -> None:
        with _pruned(session):
            _install_package(session, name)
            # The session installs ffcv: its tests must run, not skip (tests/data/conftest.py).
            env = {"SCALENET_REQUIRE_FFCV": "1"} if "ffcv" in PACKAGES[name][1] else {}
            session.run("pytest", f"tests/{name}", *session.posargs, env=env)

    _session.__doc__ = f"Install only scalenet-{name} (+ test extra) and run tests/{name}."


for _name in PACKAGES:
    _make_package_session(_name)


@nox.session(python="3.11")
def integration(session: nox.Session) -> None:
    """Install every package and the pipeline tools; run tests/integration (DVC stages)."""
    with _pruned(session):
        session.install("-r", "requirements.txt")
        # The slowest tests' times, in every CI log: the session is most of CI's 90 minutes.
        session.run("pytest", "tests/integration", "--durations=15", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting check over the whole tree; the six packages' one version."""
    session.install("ruff>=0.6", "pytest>=7")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # Pure Python (tomllib and text), so it needs none of the packages installed.
    session.run("pytest", "-p", "no:cacheprovider", "tests/test_version_lockstep.py")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """Mypy over every package's src/, the stages and the benchmarks (no untyped definitions)."""
    with _pruned(session):
        session.install("mypy>=1.10", "types-PyYAML", "numpy", "pydantic>=2.5")
        if any(needs_torch for _deps, _extras, needs_torch in PACKAGES.values()):
            session.install(*TORCH_PINS)
        session.install(*(f"./packages/scalenet-{name}" for name in PACKAGES))
        session.run("mypy", *(arg for name in PACKAGES for arg in ("-p", f"scalenet.{name}")))
        session.run("mypy", "pipelines", "benchmarks")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Run every benchmark script; each saves a JSON under benchmarks/results/."""
    with _pruned(session):
        session.install("-r", "requirements.txt")
        for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            session.run("python", str(script.relative_to(ROOT)))


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the docs site (mkdocs, API reference from docstrings); any warning fails."""
    with _pruned(session):
        session.install("-r", "docs/requirements.txt")
        site = Path(session.create_tmp()) / "site"
        session.run(
            "mkdocs",
            "build",
            "--strict",
            "--site-dir",
            str(site),
            *session.posargs,
            env={"NO_MKDOCS_2_WARNING": "1"},
        )
