"""Section: generalizing the strategies (eq. 13 fits) to larger stages."""

from __future__ import annotations

from _report.family import family_file
from _report.fmt import coef, mapping, missing, number, table
from _report.model import Context, ReportError
from scalenet.scaling import get_function


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
    fitted = family.fit
    if fitted is None:
        raise ReportError(f"{ctx.inputs.name(family_rel)} has no fit (not a scalenet family)")
    function = fitted.function
    dimensions = ("depth", "width", "resolution")
    fn = get_function(function)
    rows = [
        [
            fit.dimension,
            ", ".join(f"{k} = {v:.4f}" for k, v in zip(fn.param_names, fit.params, strict=True)),
            coef(fit.rmse),
        ]
        for fit in fitted.dimensions
    ]
    lines += [
        f"Fitted `{function}` f(j) = {fn.formula} per dimension (`{ctx.inputs.name(family_rel)}`):",
        "",
        *table(["dimension", "parameters", "fit RMSE"], rows, "llr"),
        "",
    ]
    members = family.members
    last_stage = max(m.stage for m in members)
    last_searched = max((m.stage for m in members if m.kind != "generalized"), default=0)
    grid = [last_stage * i / 100 for i in range(101)]
    curves = {
        fit.dimension: (grid, [float(v) for v in fit.predict(grid)]) for fit in fitted.dimensions
    }
    searched = {
        dim: [(m.stage, getattr(m.path.scaling, dim)) for m in members if m.kind != "generalized"]
        for dim in dimensions
    }
    projected = {
        dim: [(m.stage, getattr(m.path.scaling, dim)) for m in members if m.kind == "generalized"]
        for dim in dimensions
    }
    before = {
        dim: [
            (m.stage, getattr(m.projection.before, dim))
            for m in members
            if m.projection is not None
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
