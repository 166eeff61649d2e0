"""Generate the FLOPs / parameters table of the model zoo (docs/zoo.md).

Usage (repository root):
    python scripts/zoo_table.py                       # print the markdown table
    python scripts/zoo_table.py --write docs/zoo.md   # replace the table between the markers
    python scripts/zoo_table.py --check docs/zoo.md   # exit 1 if the docs' table is stale
    python scripts/zoo_table.py --members outputs/family/scalenet --space fmnist
    python scripts/zoo_table.py --verify              # also count with torch (FlopCounterMode)

The numbers come from ``scalenet.space.count`` (the analytic counter, multiply-accumulates);
``--verify`` builds every model with ``scalenet.supernet.create_model`` and checks that
``FlopCounterMode`` and the parameter count agree exactly. Bad input exits 2 with one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path as FilePath
from typing import NoReturn

from scalenet.space import Path, count, get_arch, load_space, scalenet_path
from scalenet.space.files import write_text

START = "<!-- zoo-table:start -->"
END = "<!-- zoo-table:end -->"


def _fail(message: str) -> NoReturn:
    print(f"zoo_table: error: {message}", file=sys.stderr)
    sys.exit(2)


def preset_rows() -> list[tuple[str, Path]]:
    """The presets of scalenet.supernet.standalone.zoo with their paths (no torch needed)."""
    rows = [("efficientnet_b0", Path(get_arch("efficientnet_b0")))]
    rows += [(f"scalenet_s{j}", scalenet_path(j)) for j in range(6)]
    return rows


def member_rows(folder: FilePath) -> list[tuple[str, Path]]:
    """``S<j>.json`` family members of the generalize stage, by scaling stage."""
    files = sorted(folder.glob("S*.json"), key=lambda f: int(f.stem[1:]) if f.stem[1:].isdigit()
                   else 1 << 30)  # fmt: skip
    if not files:
        _fail(f"no S<j>.json family members in {folder}")
    rows = []
    for file in files:
        try:
            rows.append((file.stem, Path.from_json(json.loads(file.read_text(encoding="utf-8")))))
        except (ValueError, KeyError) as error:
            _fail(f"{file}: not a family member ({error})")
    return rows


def table(space_name: str, rows: list[tuple[str, Path]], verify: bool) -> str:
    """The markdown table of ``rows`` in ``space_name``."""
    space = load_space(space_name)
    lines = [
        f"| Model (space `{space.name}`) | d | w | r | Resolution | MFLOPs (MACs) | Params (M) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, path in rows:
        cost = count(space, path)
        if verify:
            _verify(name, space_name, path, cost.flops, cost.params)
        scaling = path.scaling
        lines.append(
            f"| `{name}` | {scaling.depth:g} | {scaling.width:g} | {scaling.resolution:g} | "
            f"{cost.resolution} | {cost.flops / 1e6:.1f} | {cost.params / 1e6:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _verify(name: str, space_name: str, path: Path, flops: int, params: int) -> None:
    from scalenet.supernet.standalone.zoo import counted_flops, create_model, num_params

    model = create_model(path, space=space_name)
    measured = (counted_flops(model, model.resolution), num_params(model))
    if measured != (flops, params):
        _fail(f"{name}: torch counts {measured}, scalenet.space counts {(flops, params)}")


def replace_between_markers(text: str, block: str, file: str) -> str:
    """``text`` with the part between :data:`START` and :data:`END` replaced by ``block``."""
    if START not in text or END not in text:
        _fail(f"{file}: markers {START} / {END} not found")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="imagenet", help="search space (default imagenet)")
    parser.add_argument("--members", type=FilePath, help="family members folder (S<j>.json)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="MD", help="replace the table in this markdown file")
    group.add_argument("--check", metavar="MD", help="exit 1 if this file's table is stale")
    parser.add_argument("--verify", action="store_true", help="check against torch's counts")
    args = parser.parse_args(argv)
    try:
        rows = member_rows(args.members) if args.members else preset_rows()
        block = table(args.space, rows, args.verify)
    except ValueError as error:
        _fail(str(error).splitlines()[0])
    target = args.write or args.check
    if target is None:
        sys.stdout.write(block)
        return 0
    file = FilePath(target)
    if not file.is_file():
        _fail(f"{target} does not exist")
    text = file.read_text(encoding="utf-8")
    updated = replace_between_markers(text, block, target)
    if args.check:
        if updated != text:
            print(f"{target}: zoo table is stale; run scripts/zoo_table.py --write {target}")
            return 1
        return 0
    if updated != text:
        write_text(file, updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
