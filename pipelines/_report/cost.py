"""Section: the cost of every stage."""

from __future__ import annotations

from typing import Any

from _report.fmt import integer, mapping, number, optional, percent, table
from _report.model import Context


def _processes_threads(record: dict[str, Any]) -> str:
    """``2 x 1`` for a stage of two single-threaded ranks, ``1 x 2``, or a dash when unknown."""
    threads = optional(record.get("threads"), integer)
    if threads == "–":
        return threads
    processes = record.get("world_size", 1)
    return f"{optional(processes, integer)} x {threads}"


def section_cost(ctx: Context) -> list[str]:
    files = ctx.inputs.cost_files()
    if not files:
        return [
            f"*Not available: `{ctx.inputs.name('cost')}/*.json` missing (run `dvc repro`; each "
            "stage writes its own cost file).*"
        ]
    records = []
    for rel in files:
        record = mapping(ctx.inputs.json(rel), rel)
        records.append(
            (
                str(record.get("finished", "")),
                str(record["stage"]),
                number(record["wall_s"], "wall_s"),
                number(record["cpu_s"], "cpu_s"),
                _processes_threads(record),
            )
        )
    records.sort()
    rows = [
        [
            f"`{stage}`",
            threads,
            f"{wall / 3600:.3f}",
            f"{cpu / 3600:.3f}",
            f"{cpu / wall:.2f}" if wall > 0 else "–",
            finished or "–",
        ]
        for finished, stage, wall, cpu, threads in records
    ]
    total_wall = sum(r[2] for r in records)
    total_cpu = sum(r[3] for r in records)
    rows.append(
        [
            "**total**",
            "",
            f"**{total_wall / 3600:.3f}**",
            f"**{total_cpu / 3600:.3f}**",
            f"{total_cpu / total_wall:.2f}" if total_wall > 0 else "–",
            "",
        ]
    )
    lines = [
        f"Wall-clock and CPU time (user + system, with children) of each stage run "
        f"(`{ctx.inputs.name('cost')}/*.json`), in order of completion:",
        "",
        *table(
            ["stage", "processes x threads", "wall (h)", "CPU-hours", "CPU / wall", "finished"],
            rows,
            "lrrrrl",
        ),
    ]
    if records and total_cpu > 0:
        heaviest = max(records, key=lambda r: (r[3], r[1]))
        search_train = sum(r[3] for r in records if r[1].startswith(("train_supernet", "search")))
        lines += [
            "",
            f"The run took {total_cpu / 3600:.3f} CPU-hours over {total_wall / 3600:.3f} wall "
            f"hours; super-supernet training and the search account for "
            f"{percent(search_train / total_cpu)} of the CPU time, and the most expensive stage "
            f"is `{heaviest[1]}` ({percent(heaviest[3] / total_cpu)}).",
        ]
    return lines
