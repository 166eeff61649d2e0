"""Writing the simulation outputs (atomically) for the CLI and pipeline.

``load_budgets`` and ``write_json`` are re-exported from scalenet-space, their home.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path as FilePath

from scalenet.sampling.simulate import SimulationStats, histogram_json, stats_json
from scalenet.space import Budgets, SearchSpace, load_budgets
from scalenet.space.files import write_json

__all__ = ["load_budgets", "write_json", "write_simulation"]


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
