"""Reading budgets and writing the simulation outputs (atomically) for the CLI and pipeline."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any

from scalenet.sampling.simulate import SimulationStats, histogram_json, stats_json
from scalenet.space import Budgets, SearchSpace

__all__ = ["load_budgets", "write_json", "write_simulation"]


def write_json(path: str | os.PathLike[str], payload: Any) -> FilePath:
    """Write JSON atomically (temporary file in the same folder, then rename)."""
    target = FilePath(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.chmod(temp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(payload, stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return target


def load_budgets(path: str | os.PathLike[str], space: SearchSpace | None = None) -> Budgets:
    """Read the budgets stage's JSON (``Budgets.to_json()`` plus ``space``).

    Raises:
        ValueError: If the file is missing or malformed, or names another space than ``space``,
            or its M differs from ``space``'s scaling space.
    """
    file = FilePath(path)
    if not file.is_file():
        raise ValueError(f"budgets file {file} does not exist")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"budgets file {file}: not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"budgets file {file}: expected a JSON object")
    budgets = Budgets.from_json(data)
    if space is not None:
        named = data.get("space")
        if named is not None and named != space.name:
            raise ValueError(f"budgets file {file} is for space {named!r}, not {space.name!r}")
        if budgets.max_stage != space.scaling.max_stage:
            raise ValueError(
                f"budgets file {file}: max_stage {budgets.max_stage} differs from the space's "
                f"M = {space.scaling.max_stage}"
            )
    return budgets


def write_simulation(
    out_dir: str | os.PathLike[str],
    space: SearchSpace,
    budgets: Budgets,
    results: Mapping[str, SimulationStats],
    seed: int,
    *,
    plot: bool = True,
) -> dict[str, FilePath]:
    """Write ``stats.json``, ``histogram.json`` and (with ``plot``) ``distribution.png``.

    Returns:
        The files written, by kind (``stats``, ``histogram``, ``plot``).
    """
    folder = FilePath(out_dir)
    written = {
        "stats": write_json(folder / "stats.json", stats_json(space, budgets, results, seed)),
        "histogram": write_json(folder / "histogram.json", histogram_json(space, budgets, results)),
    }
    if plot:
        from scalenet.sampling.plot import plot_distribution

        title = (
            f"{space.name}: HSS vs uniform sampling, {next(iter(results.values())).paths:,} "
            "paths each"
            if len(results) > 1
            else f"{space.name}: {', '.join(results)} sampling"
        )
        written["plot"] = plot_distribution(
            results, budgets, folder / "distribution.png", title=title
        )
    return written
