"""Section: the MCEA search and its result."""

from __future__ import annotations

from typing import Any

from _report.fmt import (
    acc,
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
from _report.model import Context
from scalenet.search import SearchResult


def _strategy_cell(strategy: dict[str, Any]) -> str:
    return f"{acc(strategy['accuracy'])} % @ {mflops(strategy['flops'])} M"


def section_search(ctx: Context) -> list[str]:
    lines: list[str] = []
    log = ctx.inputs.jsonl("search/log.jsonl")
    raw = ctx.inputs.json("search/result.json")  # the stage adds the evaluator's name
    result = ctx.inputs.typed("search/result.json", SearchResult.from_json)
    metrics = ctx.inputs.json("search/metrics.json")
    budgets = ctx.inputs.json("budgets.json")
    if log is None:
        lines += [missing(ctx.inputs.name("search/log.jsonl"), "search"), ""]
    else:
        steps = [mapping(step, "log step") for step in log]
        stages = sorted(
            {
                int(mapping(s, "strategy")["stage"])
                for step in steps
                for s in sequence(step.get("strategies", []), "strategies")
            }
        )
        headers = ["step", "iteration", "evaluations (step)", "evaluations (total)", "cache hits"]
        headers += [f"best S{j}: top-1 @ MFLOPs" for j in stages]
        rows = []
        for step in steps:
            best = {int(s["stage"]): s for s in step.get("strategies", [])}
            rows.append(
                [
                    str(step.get("step", "?")),
                    str(step.get("iteration", "?")),
                    optional(step.get("evaluations_step"), integer),
                    optional(step.get("evaluations"), integer),
                    optional(step.get("cache_hits"), integer),
                ]
                + [_strategy_cell(best[j]) if j in best else "–" for j in stages]
            )
        lines += [
            f"MCEA log (`{ctx.inputs.name('search/log.jsonl')}`), one row per step; each cell is "
            "the best strategy of a scaling stage (mini-val top-1 on the HSS super-supernet):",
            "",
            *table(headers, rows, "lrrrr" + "r" * len(stages)),
        ]
        means = [
            (str(step.get("step", "?")), [number(s["accuracy"]) for s in step["strategies"]])
            for step in steps
            if step.get("strategies")
        ]
        if len(means) >= 2:
            first = sum(means[0][1]) / len(means[0][1])
            last = sum(means[-1][1]) / len(means[-1][1])
            change = f"{abs(last - first):.1f}"
            trend = (
                "unchanged"
                if change == f"{0.0:.1f}"
                else f"{'up' if last > first else 'down'} {change} points"
            )
            lines += [
                "",
                f"Mean top-1 of the best strategies went from {acc(first)} % ({means[0][0]}) to "
                f"{acc(last)} % ({means[-1][0]}): {trend}.",
            ]
        lines.append("")
    if result is None:
        lines += [missing(ctx.inputs.name("search/result.json"), "search"), ""]
    else:
        budget_of = dict(stage_items(budgets["budgets"], "budgets")) if budgets is not None else {}
        rows = [
            [
                f"S{s.stage}",
                f"{s.scaling.depth:.2f}",
                f"{s.scaling.width:.2f}",
                f"{s.scaling.resolution:.2f}",
                mflops(s.flops),
                optional(budget_of.get(s.stage), mflops),
                "yes" if s.fits else "no",
                acc(s.accuracy),
            ]
            for s in result.strategies
        ]
        lines += [
            f"Searched result (`{ctx.inputs.name('search/result.json')}`, evaluator "
            f"`{raw.get('evaluator', '?')}`): base model `{result.base.encode()}` "
            f"({mflops(result.base_flops)} MFLOPs) and the strategies S1-S{len(rows)}:",
            "",
            *table(
                ["stage", "d", "w", "r", "MFLOPs", "budget (MFLOPs)", "fits", "top-1 (%)"],
                rows,
                "lrrrrrlr",
            ),
            "",
        ]
        fits = sum(1 for s in result.strategies if s.fits)
        lines.append(
            f"{fits} of {len(rows)} searched strategies fit their FLOPs budget; the search "
            + ("reached" if result.fixed_point else "did not reach")
            + " a fixed point of the base model."
        )
        lines.append("")
    if metrics is None:
        lines.append(missing(ctx.inputs.name("search/metrics.json"), "search"))
    else:
        evaluations = number(metrics["evaluations"])
        hits = number(metrics["cache_hits"])
        share = hits / (evaluations + hits) if evaluations + hits else 0.0
        lines.append(
            f"Totals (`{ctx.inputs.name('search/metrics.json')}`): {integer(evaluations)} path "
            f"evaluations and {integer(hits)} cache hits ({percent(share)} of lookups) over "
            f"{integer(metrics['iterations'])} iteration(s); mean top-1 of the final strategies "
            f"{acc(metrics['mean_accuracy'])} %."
        )
    return lines
