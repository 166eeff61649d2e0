"""Section: the model families S0..SK."""

from __future__ import annotations

from _report.fmt import mflops, missing, mparams, table
from _report.model import BASELINES, FAMILY_FILES, FAMILY_NAMES, Context
from scalenet.scaling import Family


def family_file(ctx: Context) -> tuple[str, Family | None]:
    """(relative name, :class:`Family`) of the ScaleNet family; None when absent.

    The `generalize` stage writes ``family/scalenet/``; runs made before the baselines were
    added wrote ``family/members/``, which is read when the new file is absent.
    """
    for rel in FAMILY_FILES:
        family = ctx.inputs.typed(rel, Family.from_json)
        if family is not None:
            return rel, family
    return FAMILY_FILES[0], None


def _member_rows(family: Family, label: str | None) -> list[list[str]]:
    return [  # Family.from_json checked the members are S0..SK in order
        ([label] if label is not None else [])
        + [
            f"S{m.stage}",
            m.kind,
            f"`{m.path.encode()}`",
            mflops(m.cost.flops),
            mparams(m.cost.params),
            str(m.cost.resolution),
            mflops(m.budget),
            f"{100 * m.cost.flops / m.budget - 100:+.2f} %",
        ]
        for m in family.members
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
        f"The {family.method} family on `{family.space}` "
        f"(`{ctx.inputs.name(rel)}`, projection `{family.project or '?'}`), one member per "
        "scaling stage; a path is `<base model>@d<depth>,w<width>,r<resolution>`:",
        "",
        *table(MEMBER_HEADERS, _member_rows(family, None), "lllrrrrr"),
    ]
    members = family.members
    worst_error, worst = max(
        ((abs(m.cost.flops / m.budget - 1), m) for m in members),
        key=lambda item: (item[0], item[1].stage),
    )
    first, last = members[0], members[-1]
    growth = last.cost.params / first.cost.params
    lines += [
        "",
        f"Every member is within {100 * worst_error:.2f} % of its budget (largest gap: "
        f"S{worst.stage}); parameters grow {growth:.1f}x from "
        f"{mparams(first.cost.params)} M (S{first.stage}) to {mparams(last.cost.params)} M "
        f"(S{last.stage}) and the input side from {first.cost.resolution} to "
        f"{last.cost.resolution} px.",
    ]
    rows: list[list[str]] = []
    absent: list[str] = []
    for name in BASELINES:
        baseline = ctx.inputs.typed(f"family/{name}/family.json", Family.from_json)
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
