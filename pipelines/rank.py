"""DVC stage `rank`: ranking quality of each super-supernet (supplementary B, Table 4).

Reads, per sampler (`--input NAME=FILE`, repeated), a file of Q evaluated paths, one row each:
`path,flops,accuracy` (CSV with an optional header; or JSON lines with those keys). Writes
Pearson (eq. 1), Spearman (eq. 2/3) and the paper's Kendall (eqs. 4-6) per sampler as a DVC
metric, plus a scatter plot of accuracy vs FLOPs per sampler (needs matplotlib), and
`intervals.json`: a 95 % percentile bootstrap interval (2,000 resamples of the Q paths, seeded by
`rank.seed`) of every coefficient per sampler and, when two samplers scored the same paths (the
default: both files come from one seeded draw), of the paired difference of each coefficient
between the first two samplers (HSS - uniform). With `--standalone FILE` (the `standalone` stage's
`paths.csv`: N of the same paths trained on their own), `intervals.json` also has, per sampler,
Kendall's tau-b between the super-supernet's accuracy of those N paths and their stand-alone
accuracy, with its bootstrap interval over the N paths, and the paired HSS - uniform difference.

A coefficient that is undefined for a sampler (a constant accuracy vector, e.g. a super-supernet
at chance) is written as null, with the reason under the sampler's `notes`; the stage goes on
and the scatter plot is still drawn.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from _common import fail, load_params, stage_cost, write_json

from scalenet.search.plot import plot_ranking
from scalenet.search.ranking import (
    COEFFICIENTS,
    bootstrap_interval,
    coefficient_intervals,
    kendall_tau_b,
    ranking_coefficients,
)
from scalenet.space.files import read_jsonl, write_text

RESAMPLES = 2000
LEVEL = 0.95


class BootstrapOptions(TypedDict):
    """The keyword arguments every bootstrap of this stage takes."""

    resamples: int
    level: float
    seed: int


def read_rows(file: Path) -> tuple[list[str], list[float], list[float]]:
    """(path strings, FLOPs, accuracies) of one sampler's file."""
    if not file.is_file():
        fail(f"rank input {file} does not exist")
    paths: list[str] = []
    flops: list[float] = []
    accuracy: list[float] = []
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix in (".jsonl", ".json"):
            for row in read_jsonl(file, strict=True):
                paths.append(str(row["path"]))
                flops.append(float(row["flops"]))
                accuracy.append(float(row["accuracy"]))
        else:
            for number, row in enumerate(csv.reader(text.splitlines()), start=1):
                if not row or (number == 1 and row[0].strip() == "path"):
                    continue
                if len(row) != 3:
                    fail(
                        f"{file} line {number}: expected path,flops,accuracy, got {len(row)} fields"
                    )
                paths.append(row[0])
                flops.append(float(row[1]))
                accuracy.append(float(row[2]))
    except (ValueError, KeyError) as error:
        fail(f"{file}: bad row ({error})")
    return paths, flops, accuracy


def write_rows(
    target: Path, paths: Sequence[str], flops: Sequence[int], accuracy: Sequence[float]
) -> None:
    """Write the file :func:`read_rows` reads (`path,flops,accuracy`, top-1 in %), atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "flops", "accuracy"])
    for path, path_flops, top1 in zip(paths, flops, accuracy, strict=True):
        writer.writerow([path, int(path_flops), f"{top1:.4f}"])
    write_text(target, buffer.getvalue())


def intervals(
    rows: dict[str, tuple[list[str], list[float], list[float]]], seed: int
) -> dict[str, Any]:
    """Bootstrap CIs per sampler and of the paired difference of the first two samplers."""
    options = BootstrapOptions(resamples=RESAMPLES, level=LEVEL, seed=seed)
    result: dict[str, Any] = {"samplers": {}, "difference": None}
    for sampler, (_, flops, accuracy) in rows.items():
        found = coefficient_intervals(accuracy, flops, **options)
        result["samplers"][sampler] = {name: value.to_json() for name, value in found.items()}
    names = list(rows)
    if len(names) >= 2:
        (paths_a, flops_a, acc_a), (paths_b, _, acc_b) = rows[names[0]], rows[names[1]]
        if paths_a == paths_b:
            found = coefficient_intervals(acc_a, flops_a, other_acc=acc_b, **options)
            result["difference"] = {
                "of": [names[0], names[1]],
                **{name: value.to_json() for name, value in found.items()},
            }
            for name, value in found.items():
                shown = (
                    "undefined" if value.low is None else f"[{value.low:+.3f}, {value.high:+.3f}]"
                )
                print(f"rank: {names[0]} - {names[1]} {name} {LEVEL:.0%} CI {shown}")
        else:
            print(f"rank: {names[0]} and {names[1]} scored other paths: no paired difference")
    return result


def standalone_agreement(
    rows: dict[str, tuple[list[str], list[float], list[float]]],
    alone: tuple[list[str], list[float], list[float]],
    seed: int,
) -> dict[str, Any]:
    """Kendall tau-b of each sampler's accuracy vs the stand-alone accuracy of the same paths."""
    paths, _, truth = alone
    if len(set(paths)) != len(paths):
        fail("--standalone: a path appears twice")
    options = BootstrapOptions(resamples=RESAMPLES, level=LEVEL, seed=seed)
    found: dict[str, list[float]] = {}
    for sampler, (sampler_paths, _, accuracy) in rows.items():
        score = dict(zip(sampler_paths, accuracy, strict=True))
        absent = [p for p in paths if p not in score]
        if absent:
            fail(f"--standalone: {len(absent)} path(s) not scored by {sampler}, e.g. {absent[0]}")
        found[sampler] = [score[p] for p in paths]
    y = np.asarray(truth)
    result: dict[str, Any] = {"paths": len(paths), "samplers": {}, "difference": None}
    for sampler, values in found.items():
        x = np.asarray(values)

        def tau(index: np.ndarray, x: np.ndarray = x) -> float | None:
            return kendall_tau_b(x[index], y[index])

        interval = bootstrap_interval(tau, len(paths), **options)
        result["samplers"][sampler] = interval.to_json()
        shown = "undefined" if interval.value is None else f"{interval.value:+.3f}"
        print(f"rank: {sampler:<8} Kendall tau-b vs stand-alone ({len(paths)} paths) {shown}")
    names = list(found)
    if len(names) >= 2:
        a, b = np.asarray(found[names[0]]), np.asarray(found[names[1]])

        def difference(index: np.ndarray) -> float | None:
            first, second = kendall_tau_b(a[index], y[index]), kendall_tau_b(b[index], y[index])
            return None if first is None or second is None else first - second

        result["difference"] = {
            "of": names[:2],
            **bootstrap_interval(difference, len(paths), **options).to_json(),
        }
    return result


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
    data: dict[str, tuple[list[float], list[float]]] = {}
    rows: dict[str, tuple[list[str], list[float], list[float]]] = {}
    for sampler, name in inputs.items():
        _, flops, accuracy = rows[sampler] = read_rows(Path(str(name)))
        try:
            metrics[sampler] = ranking_coefficients(accuracy, flops).to_json()
        except ValueError as error:
            fail(f"--input {sampler}: {error}")
        data[sampler] = (flops, accuracy)
        m = metrics[sampler]
        values = "  ".join(
            f"{name} {'undefined' if m[name] is None else format(m[name], '.4f')}"
            for name in COEFFICIENTS
        )
        print(f"rank: {sampler:<8} Q = {m['count']:,}  {values}")
        for name, reason in m.get("notes", {}).items():
            print(f"rank: {sampler:<8} {name} {reason}")
    out = Path(args.out)
    write_json(out / "metrics.json", metrics)
    result = intervals(rows, params["seed"])
    if args.standalone is not None:
        result["standalone"] = standalone_agreement(
            rows, read_rows(Path(args.standalone)), params["seed"]
        )
    write_json(out / "intervals.json", result)
    try:
        plot_ranking(data, out / "scatter.png")
    except ValueError as error:  # matplotlib is not installed
        print(f"rank: {error}; no scatter plot")


if __name__ == "__main__":
    with stage_cost("rank"):
        main()
