"""DVC stage `report`: one markdown report (plus PNGs) of the pipeline's outputs.

Reads params.yaml, the data manifest and the files the other stages write under --outputs, and
writes --out (markdown) and its figures into --figures (PNGs linked relatively from the
markdown). Every number in the report is read from those files; the sentences under the tables
are computed from them. A section whose input is missing says so in one line (so the report
works on partial runs); a malformed input fails with the file's name (exit 2). The output is
deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from _common import fail, read_params
from _report.model import FIGURES, Context, Inputs, git_commit, preload
from _report.sections import render

from scalenet.space.files import write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--outputs", default="outputs", help="folder of the pipeline outputs")
    parser.add_argument("--data", default="data/prepared", help="prepared data (its manifest.json)")
    parser.add_argument("--out", default="docs/report.md", help="markdown file to write")
    parser.add_argument("--figures", default="docs/report", help="folder of the report's PNGs")
    args = parser.parse_args()
    out = Path(args.out)
    figures = Path(args.figures)
    if out.suffix != ".md":
        fail(f"--out {args.out!r} must be a .md file")
    params = read_params(args.params)
    inputs = Inputs(args.outputs)
    preload(inputs, args.data)
    link = Path(os.path.relpath(figures.resolve(), out.resolve().parent)).as_posix()
    ctx = Context(
        inputs=inputs,
        params=params,
        params_file=args.params,
        data_dir=args.data,
        figures=figures,
        link=link,
        commit=git_commit(Path(args.params).resolve().parent),
    )
    text = render(ctx)
    for name in FIGURES:  # a figure whose input has gone since the last run must not linger
        if name not in ctx.written and (figures / name).is_file():
            (figures / name).unlink()
    write_text(out, text)
    print(
        f"report: wrote {out} and {len(ctx.written)} figure(s) in {figures}/ "
        f"({sum(1 for line in text.splitlines() if line.startswith('*Not available'))} "
        "input(s) missing)"
    )


if __name__ == "__main__":
    main()
