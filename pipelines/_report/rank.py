"""Section: ranking quality of the super-supernets (eqs. 1-6, stand-alone Kendall tau-b)."""

from __future__ import annotations

from typing import Any

from _report.fmt import (
    _interval,
    _known,
    _significance,
    coef,
    compare,
    integer,
    mapping,
    missing,
    number,
    optional,
    sequence,
    table,
)
from _report.model import COEFFICIENT_NAMES, SAMPLER_NAMES, SAMPLERS, Context


def section_rank(ctx: Context) -> list[str]:
    metrics = ctx.inputs.json("rank/metrics.json")
    if metrics is None:
        return [missing(ctx.inputs.name("rank/metrics.json"), "rank")]
    samplers = mapping(metrics, "metrics")
    names = [name for name in SAMPLERS if name in samplers] + sorted(
        name for name in samplers if name not in SAMPLERS
    )
    keys = sorted(
        {
            key
            for name in names
            for key in mapping(samplers[name], name)
            if key not in ("count", "notes")
        },
        key=lambda key: (
            list(COEFFICIENT_NAMES).index(key) if key in COEFFICIENT_NAMES else 99,
            key,
        ),
    )
    rows = [
        [COEFFICIENT_NAMES.get(key, key)]
        + [optional(samplers[name].get(key), coef) for name in names]
        for key in keys
    ]
    rows.append(["paths (Q)"] + [optional(samplers[name].get("count"), integer) for name in names])
    lines = [
        "Correlation between the mini-val top-1 of Q paths on each super-supernet and their "
        "FLOPs (supplementary B: a well-ranked super-supernet puts bigger paths higher):",
        "",
        *table(
            ["coefficient"] + [SAMPLER_NAMES.get(name, name) for name in names],
            rows,
            "l" + "r" * len(names),
        ),
    ]
    # The rank stage writes an undefined coefficient (a constant accuracy vector) as null, with
    # the reason in the sampler's notes; "–" in the table.
    for name in names:
        notes = mapping(samplers[name].get("notes", {}), f"{name} notes")
        for key, reason in sorted(notes.items()):
            label = COEFFICIENT_NAMES.get(key, key)
            lines += ["", f"{SAMPLER_NAMES.get(name, name)}: {label} undefined ({reason})."]
    if "hss" in samplers and "uniform" in samplers:
        hss, uniform = samplers["hss"], samplers["uniform"]
        both = [k for k in keys if hss.get(k) is not None and uniform.get(k) is not None]
        if not both:
            return [*lines, "", "No coefficient is defined for both samplers: no comparison."]
        key = "kendall" if "kendall" in both else both[0]
        label = COEFFICIENT_NAMES.get(key, key)
        agree = sum(number(hss[k]) > number(uniform[k]) for k in both)
        verdict = compare(
            number(hss[key]), number(uniform[key]), ("HSS", "uniform"), coef, higher="higher"
        )
        lines += [
            "",
            f"HSS ranks the paths with {label} {coef(hss[key])} vs {coef(uniform[key])} for "
            f"uniform ({verdict}); HSS has the higher value on {agree} of "
            f"{len(both)} coefficients.",
        ]
    return lines + rank_interval_lines(ctx, keys)


def rank_difference(ctx: Context, key: str = "kendall") -> tuple[float, float, float] | None:
    """(value, low, high) of the paired HSS - uniform difference of ``key``, when known."""
    intervals = ctx.inputs.json("rank/intervals.json")
    if intervals is None or intervals.get("difference") is None:
        return None
    return _known(mapping(mapping(intervals["difference"], "difference")[key], key))


def standalone_lines(ctx: Context, agreement: Any) -> list[str]:
    """Kendall tau-b of each super-supernet vs the same paths trained stand-alone."""
    if agreement is None:
        return ["", missing(ctx.inputs.name("standalone/paths.csv"), "standalone")]
    samplers = mapping(agreement["samplers"], "standalone samplers")
    rows = [
        [
            SAMPLER_NAMES.get(name, name),
            optional(mapping(value, name).get("value"), lambda v: f"{number(v):+.3f}"),
            _interval(value),
        ]
        for name, value in samplers.items()
    ]
    count = integer(agreement["paths"])
    lines = [
        "",
        f"Against the ranking researchers trust more: Kendall's tau-b between each "
        f"super-supernet's mini-val top-1 of {count} of these paths and the top-1 of the same "
        "paths trained on their own (`standalone` stage: the retrain recipe, shortened; "
        f"`{ctx.inputs.name('standalone/paths.csv')}`):",
        "",
        *table(["super-supernet", "Kendall tau-b", "95 % CI"], rows, "lrr"),
    ]
    difference = agreement.get("difference")
    found = _known(difference)
    if found is not None:
        first, second = (SAMPLER_NAMES.get(n, n) for n in sequence(difference["of"], "of"))
        value, low, high = found
        lines += [
            "",
            f"{first} - {second}: {value:+.3f} [{low:+.3f}, {high:+.3f}]: "
            f"{_significance(low, high, first, second)}.",
        ]
    return lines


def standalone_difference(ctx: Context) -> tuple[float, float, float] | None:
    """(value, low, high) of HSS - uniform in Kendall tau-b vs stand-alone, when known."""
    intervals = ctx.inputs.json("rank/intervals.json")
    if intervals is None or intervals.get("standalone") is None:
        return None
    return _known(mapping(intervals["standalone"], "standalone").get("difference"))


def rank_interval_lines(ctx: Context, keys: list[str]) -> list[str]:
    """The bootstrap intervals of the rank stage (rank/intervals.json), when present."""
    intervals = ctx.inputs.json("rank/intervals.json")
    if intervals is None:
        return ["", missing(ctx.inputs.name("rank/intervals.json"), "rank")]
    samplers = mapping(intervals["samplers"], "samplers")
    names = [name for name in SAMPLERS if name in samplers] + sorted(
        name for name in samplers if name not in SAMPLERS
    )
    difference = intervals.get("difference")
    headers = ["coefficient"] + [f"{SAMPLER_NAMES.get(n, n)} 95 % CI" for n in names]
    if difference is not None:
        first, second = (SAMPLER_NAMES.get(n, n) for n in sequence(difference["of"], "of"))
        headers.append(f"{first} - {second} [95 % CI]")
    rows = []
    for key in keys:
        row = [COEFFICIENT_NAMES.get(key, key)]
        row += [_interval(mapping(samplers[n], n)[key]) for n in names]
        if difference is not None:
            item = mapping(difference[key], key)
            shown = "–" if item.get("value") is None else f"{number(item['value']):+.3f} "
            row.append(shown + _interval(item) if item.get("value") is not None else shown)
        rows.append(row)
    some = mapping(samplers[names[0]], names[0])[keys[0]] if names and keys else {}
    lines = [
        "",
        f"Percentile bootstrap intervals over the Q paths ({integer(some.get('resamples', 0))} "
        "resamples; `" + ctx.inputs.name("rank/intervals.json") + "`), and of the paired "
        "difference: each resample draws one set of paths for both super-supernets:",
        "",
        *table(headers, rows, "l" + "r" * (len(headers) - 1)),
    ]
    lines += standalone_lines(ctx, intervals.get("standalone"))
    found = rank_difference(ctx)
    if found is not None:
        value, low, high = found
        if low > 0:
            verdict = "HSS ranks significantly better than uniform"
        elif high < 0:
            verdict = "uniform ranks significantly better than HSS"
        else:
            verdict = "the difference is not significant: the interval includes 0"
        lines += [
            "",
            f"Kendall τ (eqs. 4-6), HSS - uniform: {value:+.3f} [{low:+.3f}, {high:+.3f}]: "
            f"{verdict}.",
        ]
    return lines
