"""Helpers shared by the pipeline CLIs: checked params.yaml sections, atomic JSON outputs."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import yaml


def fail(message: str) -> NoReturn:
    """Exit with status 2 and one line on stderr."""
    print(f"{Path(sys.argv[0]).stem}: error: {message}", file=sys.stderr)
    sys.exit(2)


def load_params(
    path: str, section: str, schema: dict[str, type | tuple[type, ...]]
) -> dict[str, Any]:
    """Read ``section`` of params.yaml plus the top-level ``space``, checking keys and types.

    A typo in a key fails at once, naming the key and the allowed ones.
    """
    file = Path(path)
    if not file.is_file():
        fail(f"params file {path} does not exist")
    data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        fail(f"{path}: must be a mapping")
    values = data.get(section)
    if not isinstance(values, dict):
        fail(f"{path}: section '{section}' is missing or not a mapping")
    unknown = sorted(set(values) - set(schema))
    if unknown:
        fail(
            f"{path}: unknown key(s) {section}.{', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(schema))}"
        )
    missing = sorted(set(schema) - set(values))
    if missing:
        fail(f"{path}: missing key(s) {', '.join(f'{section}.{key}' for key in missing)}")
    for key, kind in schema.items():
        value = values[key]
        if (
            isinstance(value, bool)
            and kind is not bool
            and not (isinstance(kind, tuple) and bool in kind)
        ):
            fail(f"{path}: {section}.{key} must be {kind}, got {value!r}")
        if not isinstance(value, kind):
            fail(
                f"{path}: {section}.{key} must be {getattr(kind, '__name__', kind)}, got {value!r}"
            )
    result = dict(values)
    space = data.get("space")
    if not isinstance(space, str):
        fail(f"{path}: top-level key 'space' must name a search space, got {space!r}")
    result["space"] = space
    return result


def write_json(path: str | Path, payload: Any) -> None:
    """Write JSON atomically (temporary file in the same folder, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(payload, stream, indent=2, sort_keys=True)
        stream.write("\n")
    os.replace(temp, target)
