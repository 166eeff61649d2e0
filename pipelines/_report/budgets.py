"""Section: the FLOPs budgets f0..f_M."""

from __future__ import annotations

from _report.fmt import integer, mflops, missing, number, stage_items, table
from _report.model import Context, ReportError


def section_budgets(ctx: Context) -> list[str]:
    budgets = ctx.inputs.json("budgets.json")
    if budgets is None:
        return [missing(ctx.inputs.name("budgets.json"), "budgets")]
    values = stage_items(budgets["budgets"], "budgets")
    tolerances = dict(stage_items(budgets["tolerances"], "tolerances"))
    rows = []
    for j, budget in values:
        if j not in tolerances:
            raise ReportError(f"tolerances: no entry for scaling stage {j}")
        tolerance = number(tolerances[j], f"tolerances.{j}")
        rows.append(
            [
                str(j),
                integer(budget),
                mflops(budget),
                integer(tolerance),
                f"{mflops(number(budget) - tolerance)} – {mflops(number(budget) + tolerance)}",
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
    ratios = sorted(
        {
            f"{number(values[i + 1][1]) / number(values[i][1]):g}"
            for i in range(len(values) - 1)
            if number(values[i][1])
        }
    )
    growth = (
        f"each scaling stage multiplies the budget by {ratios[0]}"
        if len(ratios) == 1
        else f"the budget grows by factors {', '.join(ratios)}"
    )
    lines += [
        "",
        f"f0 = {integer(budgets['f0'])} FLOPs is the mean FLOPs of {integer(budgets['samples'])} "
        f"random base models ({integer(budgets['mean_flops'])}, seed {budgets['seed']}) rounded "
        f"to a multiple of {integer(budgets['unit'])}; {growth}, up to "
        f"f_{values[-1][0]} = {mflops(values[-1][1])} MFLOPs.",
    ]
    return lines
