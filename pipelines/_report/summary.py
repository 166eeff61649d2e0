"""Section: the run's summary."""

from __future__ import annotations

from pathlib import Path

from _report.fmt import integer, mapping, missing, plain, table
from _report.model import Context


def section_summary(ctx: Context) -> list[str]:
    lines: list[str] = []
    params = ctx.params
    space = params.get("space")
    budgets = ctx.inputs.json("budgets.json")
    rows = [["search space", f"`{space}`" if space else "not available"]]
    if budgets is not None:
        rows.append(
            [
                "budgets",
                f"f0 = {integer(budgets['f0'])} FLOPs, scaling stages 0-{budgets['max_stage']}",
            ]
        )
    manifest_name = (Path(ctx.data_dir) / "manifest.json").as_posix()
    manifest = ctx.inputs.json_file(manifest_name)
    if manifest is None:
        rows.append(["data", missing(manifest_name, "prepare")])
    else:
        splits = mapping(manifest["splits"], f"{manifest_name}: splits")
        order = ("train", "minival", "val", "test")
        sizes = ", ".join(
            f"{name} {integer(mapping(splits[name], name)['num_samples'])}"
            for name in sorted(
                splits, key=lambda n: (order.index(n) if n in order else len(order), n)
            )
        )
        source = mapping(manifest.get("source", {}), "source")
        rows.append(
            [
                "data",
                f"`{Path(ctx.data_dir).as_posix()}`: {len(manifest['classes'])} classes, "
                f"{sizes} images ({manifest.get('image_format', '?')} format; source "
                f"{source.get('format', '?')} at `{source.get('path', '?')}`)",
            ]
        )
    rows.append(["git commit", f"`{ctx.commit}`" if ctx.commit else "not available"])
    rows.append(["parameters", f"`{ctx.params_file}`"])
    lines += table(["item", "value"], rows, "ll")
    lines.append("")
    sections = [(name, value) for name, value in params.items() if isinstance(value, dict)]
    lines.append(
        f"Parameters of the {len(sections)} stage sections of `{ctx.params_file}` "
        "(the shared `space` key is above):"
    )
    lines.append("")
    rows = [
        [f"`{name}`", "; ".join(f"{key} = {plain(item)}" for key, item in value.items())]
        for name, value in sections
    ]
    lines += table(["section", "parameters"], rows, "ll")
    return lines
