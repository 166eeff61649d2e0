"""Section: the FLOPs budgets f0..f_M, read as scalenet-space's :class:`Budgets`."""

from __future__ import annotations

from _report.fmt import integer, mflops, missing, table
from _report.model import Context
from scalenet.space import Budgets


def section_budgets(ctx: Context) -> list[str]:
    data = ctx.inputs.json("budgets.json")
    if data is None:
        return [missing(ctx.inputs.name("budgets.json"), "budgets")]
    budgets = Budgets.from_json(data)  # a malformed file fails naming the key
    values = budgets.values
    rows = []
    for j, budget in enumerate(values):
        tolerance = budgets.tolerance_at(j)
        rows.append(
            [
                str(j),
                integer(budget),
                mflops(budget),
                integer(tolerance),
                f"{mflops(budget - tolerance)} – {mflops(budget + tolerance)}",
            ]
        )
    lines = table(
        [
            "scaling stage j",
            "budget f_j (FLOPs)",
            "f_j (MFLOPs)",
            "tolerance ± (FLOPs)",
            "window (MFLOPs)",
        ],
        rows,
        "rrrrr",
    )
    ratios = sorted({f"{values[i + 1] / values[i]:g}" for i in range(len(values) - 1)})
    growth = (
        f"each scaling stage multiplies the budget by {ratios[0]}"
        if len(ratios) == 1
        else f"the budget grows by factors {', '.join(ratios)}"
    )
    lines += [
        "",
        f"f0 = {integer(budgets.f0)} FLOPs is the mean FLOPs of {integer(budgets.samples)} "
        f"random base models ({integer(budgets.mean_flops)}, seed {budgets.seed}) rounded "
        f"to a multiple of {integer(budgets.unit)}; {growth}, up to "
        f"f_{len(values) - 1} = {mflops(values[-1])} MFLOPs.",
    ]
    return lines
