"""Section: generalizing the strategies (eq. 13 fits) to larger stages."""

from __future__ import annotations

from _report.family import family_file
from _report.fmt import coef, mapping, missing, number, sequence, table
from _report.model import Context


def section_fit(ctx: Context) -> list[str]:
    lines: list[str] = []
    fit = ctx.inputs.json("family/fit.json")
    family_rel, family = family_file(ctx)
    if fit is None:
        lines += [missing(ctx.inputs.name("family/fit.json"), "generalize"), ""]
    else:
        functions = mapping(fit["functions"], "functions")
        default = fit.get("default")
        rows = []
        for name in sorted(functions, key=lambda n: (number(functions[n]["loso_rmse"]), n)):
            values = mapping(functions[name], name)
            rows.append(
                [
                    f"**{name}** (used)" if name == default else name,
                    _formula(name),
                    coef(values["fit_rmse"]),
                    coef(values["loso_rmse"]),
                    coef(values["loso_last_stage_rmse"]),
                ]
            )
        lines += [
            "Generalization functions fitted to the searched strategies (supplementary C), sorted "
            "by leave-one-stage-out (LOSO) error; RMSE is over d, w and r:",
            "",
            *table(
                ["function", "f(j)", "fit RMSE", "LOSO RMSE", "LOSO RMSE, last stage"],
                rows,
                "llrrr",
            ),
        ]
        if functions:
            ranked = sorted(functions, key=lambda n: (number(functions[n]["loso_rmse"]), n))
            best, worst = ranked[0], ranked[-1]
            sentence = (
                f"{best} extrapolates best (LOSO RMSE {coef(functions[best]['loso_rmse'])}) and "
                f"{worst} worst ({coef(functions[worst]['loso_rmse'])})"
            )
            if default in functions:
                place = ranked.index(default) + 1
                sentence += (
                    f"; the family uses {default}, ranked {place} of {len(ranked)} by LOSO RMSE"
                )
            lines += ["", sentence + "."]
        lines.append("")
    if family is None:
        lines.append(missing(ctx.inputs.name(family_rel), "generalize"))
        return lines
    fitted = mapping(family.get("fit"), "fit")
    function = str(fitted["function"])
    dimensions = ("depth", "width", "resolution")
    rows = []
    for dim in dimensions:
        values = mapping(fitted[dim], dim)
        params = mapping(values["params"], f"{dim}.params")
        rows.append(
            [
                dim,
                ", ".join(f"{key} = {number(value):.4f}" for key, value in params.items()),
                coef(values["rmse"]),
            ]
        )
    lines += [
        f"Fitted `{function}` f(j) = {fitted.get('formula', _formula(function))} per dimension "
        f"(`{ctx.inputs.name(family_rel)}`):",
        "",
        *table(["dimension", "parameters", "fit RMSE"], rows, "llr"),
        "",
    ]
    members = [mapping(m, "member") for m in sequence(family["members"], "members")]
    last_stage = max(int(m["stage"]) for m in members)
    last_searched = max(
        (int(m["stage"]) for m in members if m.get("kind") != "generalized"), default=0
    )
    curves: dict[str, tuple[list[float], list[float]]] = {}
    try:
        from scalenet.scaling import get_function

        fn = get_function(function)
    except (ImportError, ValueError):
        fn = None
    grid = [last_stage * i / 100 for i in range(101)]
    if fn is not None:
        for dim in dimensions:
            params = mapping(fitted[dim]["params"], "params")
            ordered = [number(params[name]) for name in fn.param_names]
            curves[dim] = (grid, [float(v) for v in fn(grid, ordered)])
    else:
        curves = {dim: ([], []) for dim in dimensions}
    searched = {
        dim: [
            (int(m["stage"]), number(m["scaling"][dim]))
            for m in members
            if m.get("kind") != "generalized"
        ]
        for dim in dimensions
    }
    projected = {
        dim: [
            (int(m["stage"]), number(m["scaling"][dim]))
            for m in members
            if m.get("kind") == "generalized"
        ]
        for dim in dimensions
    }
    before = {
        dim: [
            (int(m["stage"]), number(m["projection"]["before"][dim]))
            for m in members
            if m.get("projection")
        ]
        for dim in dimensions
    }
    from _report.plots import plot_fit

    lines.append(
        ctx.figure(
            "scaling_fit.png",
            "Fitted scaling curves",
            lambda path: plot_fit(
                curves,
                searched,
                projected,
                before,
                path,
                label=f"{function} fit",
                last_searched=last_searched,
            ),
        )
    )
    return lines


def _formula(name: str) -> str:
    try:
        from scalenet.scaling import get_function

        return f"`{get_function(name).formula}`"
    except (ImportError, ValueError):
        return "–"
