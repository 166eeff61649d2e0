"""dvc.yaml's code deps of every stage match what the stage's script really imports.

A stage's code dependencies are derived from its imports, read with ``ast`` (nothing is
imported or run):

* the script that the stage's ``cmd`` names (``pipelines/<x>.py``);
* every pipelines module it imports, transitively: ``import _x`` and ``from _x import ...``
  resolve against ``pipelines/`` first, as they do at run time (the script's folder is
  ``sys.path[0]``), so ``from retrain import retrain`` counts ``pipelines/retrain.py`` too; a local
  package (``from _report.model import ...``) is listed as its folder, ``pipelines/_report``;
* ``packages/scalenet-<pkg>/src`` for every ``scalenet.<pkg>`` imported by one of those modules,
  and for every package those packages import in turn.

Imports inside functions count everywhere: the stages import lazily (torch, the supernet), so a
lazy import is code that runs in some configuration of the stage. A package imported only
through another package counts because its code runs in the stage all the same, and a change
in code that runs in a stage must invalidate the stage's cache. Packages are followed at the
granularity DVC tracks them, the whole ``src`` folder: a package's every ``scalenet.<other>``
import, from any of its modules, adds ``<other>``, which is the dependency its
``pyproject.toml`` declares. Imports by string (``importlib.import_module``) are not seen.

Only the code entries of ``deps`` are compared (those under ``pipelines/`` or ``packages/``);
data and other stages' outputs are the stage's own business.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CODE_PREFIXES = ("pipelines/", "packages/")
SCRIPT = re.compile(r"\bpipelines/(\w+)\.py\b")


def imported_modules(file: Path) -> set[str]:
    """Dotted names of the absolute imports anywhere in ``file``, function bodies included.

    ``from scalenet import space`` yields ``scalenet.space`` (the name may be a subpackage).
    """
    modules: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            if node.module == "scalenet":
                modules.update(f"scalenet.{alias.name}" for alias in node.names)
    return modules


def scalenet_packages(modules: Iterable[str]) -> set[str]:
    """The ``<pkg>`` of every ``scalenet.<pkg>[...]`` among ``modules``."""
    return {
        parts[1]
        for parts in (name.split(".") for name in modules)
        if parts[0] == "scalenet" and len(parts) > 1
    }


def pipelines_closure(script: Path, pipelines: Path) -> tuple[set[Path], set[str]]:
    """The pipelines modules ``script`` runs (itself included) and the packages they import."""
    seen: set[Path] = set()
    packages: set[str] = set()
    todo = [script]
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        modules = imported_modules(file)
        packages |= scalenet_packages(modules)
        for name in modules:
            todo.extend(local_files(name, pipelines))
    return seen, packages


def local_files(name: str, pipelines: Path) -> list[Path]:
    """The pipelines files that importing ``name`` runs: ``_x.py``, or a local package's
    ``__init__.py`` and the submodule named (``_report.model`` -> ``_report/model.py``)."""
    parts = name.split(".")
    module = pipelines / f"{parts[0]}.py"
    if module.is_file():
        return [module]
    package = pipelines / parts[0]
    if not (package / "__init__.py").is_file():
        return []
    found = [package / "__init__.py"]
    if len(parts) > 1:
        sub = package.joinpath(*parts[1:])
        found += [file for file in (sub.with_suffix(".py"), sub / "__init__.py") if file.is_file()]
    return found


def package_closure(packages: Iterable[str], root: Path) -> set[str]:
    """``packages`` and every scalenet package their ``src`` folders import, transitively."""
    seen: set[str] = set()
    todo = list(packages)
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        for file in sorted((root / "packages" / f"scalenet-{package}" / "src").rglob("*.py")):
            todo.extend(scalenet_packages(imported_modules(file)) - seen)
    return seen


def code_deps(script: str, root: Path) -> set[str]:
    """The code entries ``deps`` should list for a stage running ``script`` (relative to root)."""
    pipelines = root / "pipelines"
    files, packages = pipelines_closure(root / script, pipelines)
    # A local package (a folder under pipelines/) is one entry: DVC tracks the folder.
    entries = {
        (pipelines / file.relative_to(pipelines).parts[0]).relative_to(root).as_posix()
        for file in files
    }
    return entries | {
        f"packages/scalenet-{package}/src" for package in package_closure(packages, root)
    }


def stage_bodies(dvc_file: Path) -> dict[str, dict[str, Any]]:
    """Each stage's definition; a ``foreach`` stage's is its ``do`` template."""
    stages = yaml.safe_load(dvc_file.read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def stage_script(name: str, body: dict[str, Any]) -> str:
    """The ``pipelines/<x>.py`` that the stage's ``cmd`` runs."""
    cmd = body["cmd"] if isinstance(body["cmd"], str) else " ".join(body["cmd"])
    scripts = SCRIPT.findall(cmd)
    if len(scripts) != 1:
        raise ValueError(
            f"stage {name}: cmd names {len(scripts)} pipelines/<x>.py scripts, expected 1"
        )
    return f"pipelines/{scripts[0]}.py"


def declared_code_deps(body: dict[str, Any]) -> list[str]:
    """The entries of the stage's ``deps`` under pipelines/ or packages/, in file order."""
    entries = [
        entry if isinstance(entry, str) else next(iter(entry)) for entry in body.get("deps", [])
    ]
    return [entry.rstrip("/") for entry in entries if entry.startswith(CODE_PREFIXES)]


def mismatch(name: str, script: str, expected: set[str], declared: list[str]) -> str | None:
    """A readable account of how ``declared`` differs from ``expected``; None when they agree."""
    missing = sorted(expected - set(declared))
    superfluous = [entry for entry in declared if entry not in expected]
    if not missing and not superfluous:
        return None
    lines = [f"stage {name}: dvc.yaml's code deps disagree with what {script} imports"]
    if missing:
        lines.append(f"  missing (its code runs in the stage): {', '.join(missing)}")
    if superfluous:
        lines.append(f"  superfluous (nothing in the stage imports it): {', '.join(superfluous)}")
    return "\n".join(lines)


STAGES = stage_bodies(ROOT / "dvc.yaml")


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_code_deps_match_its_imports(name: str) -> None:
    body = STAGES[name]
    script = stage_script(name, body)
    message = mismatch(name, script, code_deps(script, ROOT), declared_code_deps(body))
    if message:
        pytest.fail(message, pytrace=False)


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Write each ``relative path: text`` under ``root``."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_resolver_follows_lazy_imports_through_helpers_and_packages(tmp_path: Path) -> None:
    # stage -> _helper (top level) -> scalenet.beta (inside a function) -> scalenet.alpha (lazy,
    # in a module the stage never names); gamma is installed but nobody imports it.
    write_tree(tmp_path, {
        "pipelines/stage.py": "import os\nimport numpy as np\nfrom _helper import run\n",
        "pipelines/_helper.py": "def run():\n    from scalenet.beta.core import go\n    go()\n",
        "pipelines/_unused.py": "import scalenet.gamma\n",
        "packages/scalenet-beta/src/scalenet/beta/core.py": "def go():\n    pass\n",
        "packages/scalenet-beta/src/scalenet/beta/cli.py": "def main():\n    from scalenet import alpha\n",
        "packages/scalenet-alpha/src/scalenet/alpha/__init__.py": "from . import x\n",
        "packages/scalenet-gamma/src/scalenet/gamma/__init__.py": "",
    })  # fmt: skip
    assert code_deps("pipelines/stage.py", tmp_path) == {
        "pipelines/stage.py",
        "pipelines/_helper.py",
        "packages/scalenet-beta/src",
        "packages/scalenet-alpha/src",
    }


def test_a_local_package_is_one_folder_entry_and_its_imports_count(tmp_path: Path) -> None:
    # stage -> _parts.section (a local package) -> _parts.fmt -> scalenet.beta; _parts.unused is
    # in the folder (tracked with it) but its imports do not run.
    write_tree(tmp_path, {
        "pipelines/stage.py": "from _parts.section import draw\n",
        "pipelines/_parts/__init__.py": "",
        "pipelines/_parts/section.py": "from _parts.fmt import cell\n",
        "pipelines/_parts/fmt.py": "import scalenet.beta\n",
        "pipelines/_parts/unused.py": "import scalenet.gamma\n",
        "packages/scalenet-beta/src/scalenet/beta/__init__.py": "",
        "packages/scalenet-gamma/src/scalenet/gamma/__init__.py": "",
    })  # fmt: skip
    assert code_deps("pipelines/stage.py", tmp_path) == {
        "pipelines/stage.py",
        "pipelines/_parts",
        "packages/scalenet-beta/src",
    }


def test_stage_definitions_and_the_mismatch_message(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "dvc.yaml": """\
stages:
  train:
    foreach: [a, b]
    do:
      cmd: ${launcher} pipelines/train.py --out outputs/${item}
      deps:
        - pipelines/train.py
        - pipelines/_old.py  # a comment
        - packages/scalenet-beta/src/
        - data/prepared
        - outputs/${item}.json
"""
        },
    )
    body = stage_bodies(tmp_path / "dvc.yaml")["train"]
    assert stage_script("train", body) == "pipelines/train.py"
    declared = declared_code_deps(body)
    assert declared == ["pipelines/train.py", "pipelines/_old.py", "packages/scalenet-beta/src"]
    expected = {"pipelines/train.py", "packages/scalenet-beta/src", "packages/scalenet-alpha/src"}
    assert mismatch("train", "pipelines/train.py", expected, declared) == (
        "stage train: dvc.yaml's code deps disagree with what pipelines/train.py imports\n"
        "  missing (its code runs in the stage): packages/scalenet-alpha/src\n"
        "  superfluous (nothing in the stage imports it): pipelines/_old.py"
    )
    assert mismatch("train", "pipelines/train.py", set(declared), declared) is None
    with pytest.raises(ValueError, match=r"stage x: cmd names 0 pipelines/<x>\.py scripts"):
        stage_script("x", {"cmd": "python -c pass"})


def test_params_check_names_unlisted_and_superfluous_keys() -> None:
    from params_trace import param_problems, read_trace

    trace = [
        '{"script": "search", "section": "train_supernet", "keys": ["seed", "space", "loader"]}',
        '{"script": "search", "section": "search", "keys": ["population", "optional_key"]}',
        "",
        '{"script": "retrain", "section": "retrain", "keys": ["epochs"]}',
    ]
    params = {"space": "fmnist", "train_supernet": {"seed": 0, "lr": 1}, "search": {"population": 4},
              "retrain": {"epochs": 1}}  # fmt: skip
    stages = {
        "search": {"params": ["search", "train_supernet.seed", "train_supernet.lr"]},
        "retrain@a": {"params": ["space", "retrain"]},
        "report": {"params": [{"params.yaml": None}]},
    }
    scripts = {"search": "search", "retrain@a": "retrain", "report": "report"}
    assert param_problems(stages, scripts, params, read_trace(trace)) == [
        "stage search: reads space, not in its dvc.yaml params",  # loader: not in the file
        "stage search: lists train_supernet.lr, which it never reads",
    ]
    stages["search"]["params"] = ["space", "search", "train_supernet.seed"]
    assert param_problems(stages, scripts, params, read_trace(trace)) == []
