"""Section: the model families S0..SK."""

from __future__ import annotations

from typing import Any

from _report.fmt import mapping, mflops, missing, mparams, number, sequence, table
from _report.model import BASELINES, FAMILY_FILES, FAMILY_NAMES, Context


def family_file(ctx: Context) -> tuple[str, Any]:
    """(relative name, parsed family.json) of the ScaleNet family; None when absent.

    The `generalize` stage writes ``family/scalenet/``; runs made before the baselines were
    added wrote ``family/members/``, which is read when the new file is absent.
    """
    for rel in FAMILY_FILES:
        family = ctx.inputs.json(rel)
        if family is not None:
            return rel, family
    return FAMILY_FILES[0], None


def _member_rows(family: dict[str, Any], label: str | None) -> list[list[str]]:
    members = sorted(
        (mapping(m, "member") for m in sequence(family["members"], "members")),
        key=lambda m: int(m["stage"]),
    )
    return [
        ([label] if label is not None else [])
        + [
            str(m.get("name", f"S{m['stage']}")),
            str(m.get("kind", "?")),
            f"`{m['path']}`",
            mflops(m["flops"]),
            mparams(m["params"]),
            str(m["resolution"]),
            mflops(m["budget"]),
            f"{100 * number(m['flops']) / number(m['budget']) - 100:+.2f} %",
        ]
        for m in members
    ]


MEMBER_HEADERS = [
    "model",
    "kind",
    "path",
    "MFLOPs",
    "params (M)",
    "resolution (px)",
    "budget (MFLOPs)",
    "FLOPs vs budget",
]


def section_family(ctx: Context) -> list[str]:
    rel, family = family_file(ctx)
    if family is None:
        return [missing(ctx.inputs.name(rel), "generalize")]
    lines = [
        f"The {family.get('method', '?')} family on `{family.get('space', '?')}` "
        f"(`{ctx.inputs.name(rel)}`, projection `{family.get('project', '?')}`), one member per "
        "scaling stage; a path is `<base model>@d<depth>,w<width>,r<resolution>`:",
        "",
        *table(MEMBER_HEADERS, _member_rows(family, None), "lllrrrrr"),
    ]
    members = sorted(family["members"], key=lambda m: int(m["stage"]))
    if members:
        errors = [(abs(number(m["flops"]) / number(m["budget"]) - 1), m) for m in members]
        worst_error, worst = max(errors, key=lambda item: (item[0], int(item[1]["stage"])))
        first, last = members[0], members[-1]
        growth = number(last["params"]) / number(first["params"])
        lines += [
            "",
            f"Every member is within {100 * worst_error:.2f} % of its budget (largest gap: "
            f"{worst.get('name', worst['stage'])}); parameters grow {growth:.1f}x from "
            f"{mparams(first['params'])} M (S{first['stage']}) to {mparams(last['params'])} M "
            f"(S{last['stage']}) and the input side from {first['resolution']} to "
            f"{last['resolution']} px.",
        ]
    rows: list[list[str]] = []
    absent: list[str] = []
    for name in BASELINES:
        baseline = ctx.inputs.json(f"family/{name}/family.json")
        if baseline is None:
            absent.append(missing(ctx.inputs.name(f"family/{name}/family.json"), "baselines"))
        else:
            rows += _member_rows(baseline, FAMILY_NAMES.get(name, name))
    lines.append("")
    if rows:
        lines += [
            "The baseline families it is compared with (written by the `baselines` stage to "
            f"`{ctx.inputs.name('family')}/<family>/family.json`):",
            "",
            *table(["family", *MEMBER_HEADERS], rows, "llllrrrrr"),
        ]
    for line in absent:
        lines += ["", line] if rows else [line, ""]
    return lines
