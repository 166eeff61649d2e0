"""Put the report's headline of several runs side by side (for instance the same run under 3 seeds).

Each run is a folder of pipeline outputs (what ``dvc repro`` writes to ``outputs/``); the
headline (did the search beat random and compound scaling, does HSS rank better than uniform,
did generalization hit the budgets) is computed for each by the report's own code, from the same
files, and printed as one markdown table with one answer-and-evidence column per run. A
conclusion holds across the runs when its answer is the same in every column.

    python scripts/compare_runs.py seed0=outputs seed1=/tmp/seed1/outputs seed2=/tmp/seed2/outputs

Exit status 2, with one line naming the run, when a folder is missing or an input is malformed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "pipelines"))

from _report.headline import headline_rows  # noqa: E402
from _report.model import Context, Inputs, ReportError  # noqa: E402

USAGE_ERROR = 2


def parse_run(text: str) -> tuple[str, Path]:
    """``NAME=FOLDER`` (or a bare folder, named after itself)."""
    name, _, folder = text.rpartition("=")
    return (name or folder), Path(folder)


def run_rows(folder: Path) -> list[list[str]]:
    """(question, answer, evidence) of one run's headline, as the report writes them."""
    ctx = Context(
        inputs=Inputs(str(folder)),
        params={},
        params_file="",
        data_dir="",
        figures=Path(),
        link="",
        commit=None,
    )
    return headline_rows(ctx)


def table(runs: dict[str, list[list[str]]]) -> list[str]:
    """One row per question, one column per run: ``answer: evidence``."""
    names = list(runs)
    questions = [row[0] for row in runs[names[0]]]
    lines = [
        "| question | " + " | ".join(names) + " | same answer |",
        "|---|" + "---|" * len(names) + "---|",
    ]
    for index, question in enumerate(questions):
        answers = [runs[name][index][1] for name in names]
        cells = [f"{runs[name][index][1]}: {runs[name][index][2]}" for name in names]
        same = "yes" if len(set(answers)) == 1 else "**no**"
        lines.append(f"| {question} | " + " | ".join(cells) + f" | {same} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the side-by-side table; returns the exit status (0, or 2 on bad input)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=FOLDER", help="a run's outputs folder")
    args = parser.parse_args(argv)
    given = [parse_run(text) for text in args.runs]
    names = [name for name, _ in given]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        print(f"compare_runs: run name {twice[0]!r} given twice", file=sys.stderr)
        return USAGE_ERROR
    runs: dict[str, list[list[str]]] = {}
    for name, folder in given:
        if not folder.is_dir():
            print(f"compare_runs: {name}: {folder} is not a folder", file=sys.stderr)
            return USAGE_ERROR
        try:
            runs[name] = run_rows(folder)
        except (ReportError, KeyError, TypeError, ValueError) as error:
            print(f"compare_runs: {name} ({folder}): {error}", file=sys.stderr)
            return USAGE_ERROR
    print("\n".join(table(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
