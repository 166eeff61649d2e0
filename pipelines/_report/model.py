"""The report's inputs: tracked JSON reads, the run context, the names shared by sections."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from _common import fail

from scalenet.space.files import read_jsonl

T = TypeVar("T")

FIGURES = (
    "sampling.png",
    "supernet_loss.png",
    "base_arch.png",
    "scaling_fit.png",
    "accuracy_flops.png",
    "accuracy_params.png",
)

# The one label table: the tables, the sentences and the figures name samplers and families so.
SAMPLERS = ("hss", "uniform")
SAMPLER_NAMES = {"hss": "HSS", "uniform": "uniform"}
FAMILY_ORDER = ("scalenet", "compound", "random")
FAMILY_NAMES = {"scalenet": "ScaleNet", "compound": "compound", "random": "random"}
BASELINES = ("compound", "random")
FAMILY_FILES = ("family/scalenet/family.json", "family/members/family.json")
COEFFICIENT_NAMES = {"kendall": "Kendall τ", "spearman": "Spearman ρ", "pearson": "Pearson r"}
_EVAL_KEY = re.compile(r"^stage(?P<j>\d+)_(?P<which>largest|smallest)$")


class ReportError(Exception):
    """An input holds something the report cannot read (the message names the problem)."""


class Tracker:
    """Which input file a section touched last: an error in a section is blamed on it."""

    def __init__(self) -> None:
        self.last: str | None = None


class Document(dict[str, Any]):
    """A JSON object that remembers its file: indexing marks the file as the one in use, and a
    missing key is a ReportError naming it (not a bare KeyError)."""

    def __init__(self, data: dict[str, Any], source: str, tracker: Tracker) -> None:
        super().__init__(data)
        self.source = source
        self.tracker = tracker

    def __getitem__(self, key: str) -> Any:
        self.tracker.last = self.source
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.tracker.last = self.source
        return super().get(key, default)

    def __missing__(self, key: str) -> Any:
        raise ReportError(f"missing key {key!r}")


class Inputs:
    """The pipeline outputs, read once each: a missing file is None, a malformed one fails."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._cache: dict[str, Any] = {}
        self.read: list[str] = []
        self.tracker = Tracker()

    def _loads(self, text: str, shown: str) -> Any:
        return json.loads(text, object_hook=lambda data: Document(data, shown, self.tracker))

    def name(self, rel: str) -> str:
        """The file as shown in the report and in errors (``<outputs>/<rel>``)."""
        return (Path(self.root) / rel).as_posix()

    def json(self, rel: str) -> Any:
        """Parsed JSON of ``<outputs>/<rel>``, or None when the file is missing."""
        return self.json_file(self.name(rel))

    def json_file(self, shown: str) -> Any:
        """Parsed JSON of the file ``shown``, or None when it is missing."""
        self.read.append(shown)
        if shown not in self._cache:
            file = Path(shown)
            value = None
            if file.is_file():
                try:
                    value = self._loads(file.read_text(encoding="utf-8"), shown)
                except (json.JSONDecodeError, UnicodeDecodeError) as error:
                    fail(f"{shown}: not valid JSON ({error})")
            self._cache[shown] = value
        return self._cache[shown]

    def typed(self, rel: str, reader: Callable[[Any], T]) -> T | None:
        """``<outputs>/<rel>`` read by ``reader`` (a package's ``from_json``), None when missing.

        A file the type does not accept raises the reader's ValueError (it names the key); the
        section runner blames the file, which the read marked as the one in use.
        """
        data = self.json(rel)
        return None if data is None else reader(data)

    def jsonl(self, rel: str) -> list[Any] | None:
        """Parsed JSON lines of ``<outputs>/<rel>``, or None when the file is missing."""
        shown = self.name(rel)
        self.read.append(shown)
        if shown not in self._cache:
            rows: list[Any] | None = None
            if Path(shown).is_file():
                try:
                    rows = read_jsonl(
                        shown, strict=True, loads=lambda line: self._loads(line, shown)
                    )
                except ValueError as error:
                    fail(str(error))
            self._cache[shown] = rows
        return self._cache[shown]

    def cost_files(self) -> list[str]:
        """Relative names of the per-stage cost files, sorted."""
        folder = Path(self.root) / "cost"
        if not folder.is_dir():
            return []
        return sorted(f"cost/{file.name}" for file in folder.glob("*.json") if file.is_file())


@dataclass
class Context:
    """What every section needs: the inputs, where figures go and how the markdown links them."""

    inputs: Inputs
    params: dict[str, Any]
    params_file: str
    data_dir: str
    figures: Path
    link: str
    commit: str | None
    written: list[str] = field(default_factory=list)
    #: Paired comparisons, computed once (the evaluation section and the headline both use them).
    comparisons: list[Any] | None = None

    def figure(self, name: str, alt: str, draw: Callable[[Path], Any]) -> str:
        """Draw figure ``name`` with ``draw(path)`` and return its markdown image line."""
        draw(self.figures / name)
        self.written.append(name)
        return f"![{alt}]({self.link}/{name})"


def git_commit(folder: Path) -> str | None:
    """``git rev-parse --short HEAD`` in ``folder``, or None where git or a repository is absent."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def preload(inputs: Inputs, data_dir: str) -> None:
    """Parse every known input first, so a malformed one fails before anything is drawn."""
    for rel in (
        "budgets.json",
        "sampling/stats.json",
        "sampling/histogram.json",
        "rank/metrics.json",
        "rank/intervals.json",
        "search/result.json",
        "search/metrics.json",
        "family/fit.json",
        *FAMILY_FILES,
        *(f"family/{name}/family.json" for name in BASELINES),
        "evaluate/metrics.json",
        "evaluate/predictions.json",
        *(
            f"supernet/{name}/{file}"
            for name in SAMPLERS
            for file in ("eval.json", "training.json")
        ),
        *inputs.cost_files(),
    ):
        inputs.json(rel)
    for rel in ("search/log.jsonl", *(f"supernet/{name}/metrics.jsonl" for name in SAMPLERS)):
        inputs.jsonl(rel)
    inputs.json_file((Path(data_dir) / "manifest.json").as_posix())
