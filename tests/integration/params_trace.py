"""Check the params each stage really reads (pipelines/_common.py's trace) against dvc.yaml.

With ``SCALENET_PARAMS_TRACE=FILE`` every stage appends, at exit, one JSON line per section it
loaded: ``{"script", "section", "keys"}``. A key read by a stage must be one of its ``params`` in
dvc.yaml: the section as a whole (``retrain``) or the key itself (``train_supernet.seed``);
otherwise DVC would not re-run the stage when the key changes. Keys ``load_params`` adds from the
top level (``space``, ``loader``) must be listed as top-level keys. Keys the params file does not
hold (optional ones left at their default) cannot be listed and are not asked for. A per-key entry
that no run of the stage reads is reported as superfluous.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pipelines"))

from _common import INJECTED_KEYS as INJECTED


def read_trace(lines: Iterable[str]) -> dict[str, dict[str, set[str]]]:
    """script -> section -> keys read (the union over all its runs and ranks)."""
    reads: dict[str, dict[str, set[str]]] = {}
    for line in lines:
        if line.strip():
            record = json.loads(line)
            section = reads.setdefault(record["script"], {}).setdefault(record["section"], set())
            section.update(record["keys"])
    return reads


def _listed(params: list[Any]) -> set[str]:
    names: set[str] = set()
    for entry in params:
        if isinstance(entry, str):
            names.add(entry)
        else:  # {"params.yaml": [keys] or None}
            for keys in entry.values():
                names.update(keys or ["*"])
    return names


def param_problems(
    stages: Mapping[str, Mapping[str, Any]],
    scripts: Mapping[str, str],
    params_file: Mapping[str, Any],
    reads: Mapping[str, Mapping[str, set[str]]],
) -> list[str]:
    """One line per key a stage reads but does not list, and per listed key no stage reads.

    Args:
        stages: dvc.yaml's stage bodies by name (a foreach stage's ``do``).
        scripts: The script (``pipelines/<x>.py``'s stem) each stage runs.
        params_file: params.yaml's mapping.
        reads: :func:`read_trace` of a whole run.
    """
    problems = []
    for name, body in stages.items():
        listed = _listed(body.get("params", []))
        if "*" in listed:  # the whole file (the report)
            continue
        used = reads.get(scripts[name], {})
        needed: set[str] = set()
        for section, keys in used.items():
            for key in keys:
                if key in INJECTED:
                    if key in params_file:
                        needed.add(key)
                elif key in (params_file.get(section) or {}):
                    needed.add(f"{section}.{key}")
        for key in sorted(needed):
            top, _, _ = key.partition(".")
            if key not in listed and top not in listed:
                problems.append(f"stage {name}: reads {key}, not in its dvc.yaml params")
        for entry in sorted(listed):
            if "." in entry and entry not in needed:
                problems.append(f"stage {name}: lists {entry}, which it never reads")
    return problems
