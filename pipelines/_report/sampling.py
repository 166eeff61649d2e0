"""Section: the samplers' FLOPs distribution (supplementary Fig. 1)."""

from __future__ import annotations

from _report.fmt import (
    compare,
    integer,
    mapping,
    mflops,
    missing,
    number,
    optional,
    percent,
    sequence,
    stage_items,
    table,
)
from _report.model import SAMPLER_NAMES, SAMPLERS, Context, ReportError


def section_sampling(ctx: Context) -> list[str]:
    lines: list[str] = []
    stats = ctx.inputs.json("sampling/stats.json")
    histogram = ctx.inputs.json("sampling/histogram.json")
    if stats is None:
        lines.append(missing(ctx.inputs.name("sampling/stats.json"), "sampling"))
    else:
        samplers = mapping(stats["samplers"], "samplers")
        names = [name for name in SAMPLERS if name in samplers] + sorted(
            name for name in samplers if name not in SAMPLERS
        )
        budgets = stage_items(stats["budgets"], "budgets")
        headers = ["j", "f_j (MFLOPs)"]
        for name in names:
            label = SAMPLER_NAMES.get(name, name)
            headers += [f"{label}: in stage", f"{label}: median / f_j", f"{label}: in window"]
        rows = []
        for j, budget in budgets:
            row = [str(j), mflops(budget)]
            for name in names:
                sampler = mapping(samplers[name], name)
                stage = mapping(sampler["stages"], "stages").get(str(j), {})
                row += [
                    percent(sampler["stage_share"][str(j)]),
                    optional(stage.get("median_ratio"), lambda v: f"{number(v):.2f}"),
                    percent(sampler["window_share"][str(j)]),
                ]
            rows.append(row)
        total = ["all", ""]
        for name in names:
            sampler = samplers[name]
            total += [
                percent(1.0 - number(sampler["no_stage_share"])),
                "",
                percent(sampler["window_share_total"]),
            ]
        rows.append(total)
        lines += table(headers, rows, "r" * len(headers))
        lines.append("")
        lines.append(
            "*in stage*: share of the sampler's paths drawn for (HSS) or lying in the grid of "
            "(uniform) scaling stage j; *median / f_j*: median FLOPs of those paths over the "
            "budget; *in window*: share of all paths with FLOPs in f_j ± tol_j."
        )
        if "hss" in samplers and "uniform" in samplers:
            hss, uniform = samplers["hss"], samplers["uniform"]
            hss_total = number(hss["window_share_total"])
            uniform_total = number(uniform["window_share_total"])
            relation = compare(
                100 * hss_total,
                100 * uniform_total,
                ("HSS", "uniform"),
                lambda v: f"{v:.1f} points",
            )
            hss_low = min(stage_items(hss["window_share"], "window_share"), key=lambda i: i[1])
            uniform_low = min(
                stage_items(uniform["window_share"], "window_share"), key=lambda i: i[1]
            )
            lines += [
                "",
                f"Out of {integer(hss['paths'])} paths each, HSS puts {percent(hss_total)} inside "
                f"a budget window vs {percent(uniform_total)} for uniform sampling ({relation}). "
                f"The least-covered window is f{hss_low[0]} with {percent(hss_low[1])} of the "
                f"HSS paths, against f{uniform_low[0]} with {percent(uniform_low[1])} of the "
                f"uniform paths; {percent(uniform['no_stage_share'])} of the uniform paths lie in "
                f"no scaling stage's grid (HSS: {percent(hss['no_stage_share'])}).",
            ]
    lines.append("")
    if histogram is None:
        lines.append(missing(ctx.inputs.name("sampling/histogram.json"), "sampling"))
        return lines
    edges = [number(value, "bin_edges") for value in sequence(histogram["bin_edges"], "bin_edges")]
    hist_samplers = mapping(histogram["samplers"], "samplers")
    counts = {
        name: [number(c, "counts") for c in sequence(mapping(value, name)["counts"], "counts")]
        for name, value in hist_samplers.items()
    }
    for name, bins in counts.items():
        if len(bins) + 1 != len(edges):
            raise ReportError(f"{name}: {len(bins)} counts for {len(edges)} bin edges")
    budget_values = [
        number(value, "budgets") for value in sequence(histogram["budgets"], "budgets")
    ]
    tolerances = dict(stage_items(stats["tolerances"], "tolerances")) if stats is not None else {}
    windows = [(value, number(tolerances.get(j, 0.0))) for j, value in enumerate(budget_values)]
    shares = (
        {
            name: [number(v) for _, v in stage_items(value["window_share"], "window_share")]
            for name, value in mapping(stats["samplers"], "samplers").items()
        }
        if stats is not None
        else {}
    )
    from _report.plots import plot_sampling

    paths = ", ".join(
        f"{SAMPLER_NAMES.get(name, name)} {integer(sum(row))}"
        for name, row in sorted(counts.items())
    )
    lines.append(
        ctx.figure(
            "sampling.png",
            "FLOPs distribution of HSS and uniform sampling",
            lambda path: plot_sampling(
                edges,
                counts,
                windows,
                shares,
                path,
                title=f"{histogram.get('space', '')}: sampled paths ({paths})",
            ),
        )
    )
    return lines
