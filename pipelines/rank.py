"""DVC stage `rank`: ranking quality of each super-supernet (supplementary B, Table 4).

Reads, per sampler (`--input NAME=FILE`, repeated), a file of Q evaluated paths, one row each:
`path,flops,accuracy` (CSV with an optional header; or JSON lines with those keys). Writes
Pearson (eq. 1), Spearman (eq. 2/3) and the paper's Kendall (eqs. 4-6) per sampler as a DVC
metric, plus a scatter plot of accuracy vs FLOPs per sampler (needs matplotlib).

A coefficient that is undefined for a sampler (a constant accuracy vector, e.g. a super-supernet
at chance) is written as null, with the reason under the sampler's `notes`; the stage goes on
and the scatter plot is still drawn.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from _common import fail, load_params, stage_cost, write_json

from scalenet.search.ranking import COEFFICIENTS, ranking_coefficients


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
            for line in text.splitlines():
                if line.strip():
                    row = json.loads(line)
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


def scatter(data: dict[str, tuple[list[float], list[float]]], target: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("rank: matplotlib not installed, no scatter plot")
        return False
    figure, axes = plt.subplots(1, len(data), figsize=(5 * len(data), 4), squeeze=False)
    for axis, (sampler, (flops, accuracy)) in zip(axes[0], data.items(), strict=True):
        axis.scatter([f / 1e6 for f in flops], accuracy, s=4, alpha=0.5)
        axis.set_title(sampler)
        axis.set_xlabel("MFLOPs")
        axis.set_ylabel("accuracy")
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=120)
    plt.close(figure)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--input", action="append", default=[], metavar="NAME=FILE", help="evaluated paths"
    )
    parser.add_argument("--out", default="outputs/rank")
    args = parser.parse_args()
    load_params(args.params, "rank")  # checks the section the inputs were made with
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
    for sampler, name in inputs.items():
        _, flops, accuracy = read_rows(Path(str(name)))
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
    scatter(data, out / "scatter.png")


if __name__ == "__main__":
    with stage_cost("rank"):
        main()
