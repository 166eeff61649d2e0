"""DVC stage `rank`: ranking quality of each super-supernet (supplementary B, Table 4).

Reads, per sampler (`--input NAME=FILE`, repeated), a file of Q evaluated paths
(:class:`scalenet.search.scored.ScoredPaths`: `path,flops,accuracy`). Writes Pearson (eq. 1),
Spearman (eq. 2/3) and the paper's Kendall (eqs. 4-6) per sampler as a DVC metric, a scatter plot
of accuracy vs FLOPs per sampler (needs matplotlib), and `intervals.json`: the 95 % bootstrap
interval (2,000 resamples, seeded by `rank.seed`) of every coefficient per sampler and of the
paired HSS - uniform difference when both scored the same paths (the default: one seeded draw);
with `--standalone FILE` (the `standalone` stage's `paths.csv`) also Kendall's tau-b between each
sampler's accuracy of those N paths and their stand-alone accuracy
(:func:`scalenet.search.scored.standalone_agreement`). A coefficient that is undefined (a
constant accuracy vector, e.g. a super-supernet at chance) is written as null, with the reason
under the sampler's `notes`; the stage goes on and the scatter plot is still drawn.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _common import fail, load_params, stage_cost, write_json

from scalenet.search.plot import plot_ranking
from scalenet.search.ranking import COEFFICIENTS, ranking_coefficients
from scalenet.search.scored import ScoredPaths, ranking_intervals, standalone_agreement


def _read(file: str, what: str) -> ScoredPaths:
    try:
        return ScoredPaths.read(file, what=what)
    except ValueError as error:
        fail(str(error))


def _print_intervals(result: dict[str, Any], names: list[str]) -> None:
    difference = result["difference"]
    if difference is None and len(names) >= 2:
        print(f"rank: {names[0]} and {names[1]} scored other paths: no paired difference")
    elif difference is not None:
        first, second = difference["of"]
        for name in COEFFICIENTS:
            low, high, level = (difference[name][key] for key in ("low", "high", "level"))
            shown = "undefined" if low is None else f"[{low:+.3f}, {high:+.3f}]"
            print(f"rank: {first} - {second} {name} {level:.0%} CI {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--input", action="append", default=[], metavar="NAME=FILE", help="evaluated paths"
    )
    parser.add_argument(
        "--standalone", default=None, metavar="FILE", help="paths trained stand-alone (CSV)"
    )
    parser.add_argument("--out", default="outputs/rank")
    args = parser.parse_args()
    params = load_params(args.params, "rank")  # checks the section the inputs were made with
    inputs: dict[str, Any] = {}
    for item in args.input:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            fail(f"--input {item!r}: expected NAME=FILE, e.g. hss=outputs/rank/hss.csv")
        inputs[name] = file
    if not inputs:
        fail("no --input NAME=FILE given: name each sampler's file of evaluated paths")
    metrics: dict[str, Any] = {}
    scored = {sampler: _read(file, "rank input") for sampler, file in inputs.items()}
    for sampler, rows in scored.items():
        try:
            metrics[sampler] = m = ranking_coefficients(rows.accuracy, rows.flops).to_json()
        except ValueError as error:
            fail(f"--input {sampler}: {error}")
        values = "  ".join(
            f"{name} {'undefined' if m[name] is None else format(m[name], '.4f')}"
            for name in COEFFICIENTS
        )
        print(f"rank: {sampler:<8} Q = {m['count']:,}  {values}")
        for name, reason in m.get("notes", {}).items():
            print(f"rank: {sampler:<8} {name} {reason}")
    out = Path(args.out)
    write_json(out / "metrics.json", metrics)
    result = ranking_intervals(scored, seed=params["seed"])
    _print_intervals(result, list(scored))
    if args.standalone is not None:
        alone = _read(args.standalone, "--standalone")
        try:
            result["standalone"] = agreement = standalone_agreement(
                scored, alone, seed=params["seed"]
            )
        except ValueError as error:
            fail(f"--standalone: {error}")
        for sampler, tau in agreement["samplers"].items():
            shown = "undefined" if tau["value"] is None else f"{tau['value']:+.3f}"
            print(f"rank: {sampler:<8} Kendall tau-b vs stand-alone ({len(alone)} paths) {shown}")
    write_json(out / "intervals.json", result)
    data = {sampler: (rows.flops, rows.accuracy) for sampler, rows in scored.items()}
    try:
        plot_ranking(data, out / "scatter.png")
    except ValueError as error:  # matplotlib is not installed
        print(f"rank: {error}; no scatter plot")


if __name__ == "__main__":
    with stage_cost("rank"):
        main()
