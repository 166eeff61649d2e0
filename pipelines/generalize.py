"""DVC stage `generalize`: searched strategies S_1..S_M -> model family S0..SK with the fit plot.

Reads the search stage's output ({"base": <arch string>, "strategies": [{stage, depth, width,
resolution}, ...]}) and the budgets stage's output. Writes into --out: scalenet/ (family.json,
family.md and S<j>.json per member: path string + JSON, FLOPs, params, resolution), fit.json
(every function's fit and leave-one-stage-out error, a DVC metric) and fit.png (each dimension
vs j, a DVC plot).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import fail, load_params, stage_cost, write_json

from scalenet.scaling import (
    build_family,
    compare_functions,
    load_strategies,
    write_family,
)
from scalenet.scaling.plot import plot_fit
from scalenet.space import load_budgets, load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--search", default="outputs/search/result.json", help="search output")
    parser.add_argument("--budgets", default="outputs/budgets.json")
    parser.add_argument("--out", default="outputs/family")
    args = parser.parse_args()
    params = load_params(args.params, "generalize")
    try:
        space = load_space(params["space"])
        searched = load_strategies(args.search)
        if searched.base is None:
            fail(f"{args.search}: needs a 'base' architecture")
        assert searched.base is not None
        space.validate(searched.base)
        budgets = load_budgets(args.budgets, space)
        stages = params["stages"]
        if stages < searched.max_stage:
            fail(f"generalize.stages = {stages} must be >= M = {searched.max_stage}")
        family = build_family(
            space,
            searched.base,
            searched.strategies,
            stages,
            budgets.f0,
            function=params["function"],
            project=params["project"],
            budgets=[budgets.budget(j) for j in range(stages + 1)],  # budgets.explicit or 2^j f0
        )
        comparison = compare_functions(searched.strategies) if searched.max_stage >= 2 else []
    except (ValueError, json.JSONDecodeError) as error:
        fail(str(error))
    out = Path(args.out)
    write_family(family, out / "scalenet")
    write_json(
        out / "fit.json",
        {
            "default": params["function"],
            "functions": {
                fit.function: {
                    "fit_rmse": fit.rmse,
                    "loso_rmse": loso.rmse,
                    "loso_last_stage_rmse": loso.last_stage_rmse,
                }
                for fit, loso in comparison
            },
        },
    )
    fits = [fit for fit, _ in comparison] or ([family.fit] if family.fit else [])
    plot_fit(
        searched.strategies,
        fits,
        stages,
        out / "fit.png",
        family=family,
        title=(
            f"{space.name}: searched S1-S{searched.max_stage}, fits, "
            f"projected S{searched.max_stage + 1}-S{stages}"
        ),
    )
    worst = max((abs(m.rel_error) for m in family.members if m.projection), default=0.0)
    print(
        f"generalize: {space.name}, M = {searched.max_stage}, K = {stages}, function "
        f"{params['function']}, project {params['project']}; worst projected FLOPs error "
        f"{100 * worst:.2f} %; wrote {out}/"
    )


if __name__ == "__main__":
    with stage_cost("generalize"):
        main()
