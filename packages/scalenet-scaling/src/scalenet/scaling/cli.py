"""``scalenet-scaling``: fit and generalize searched strategies, compound baselines, families.

The space and f0 of ``fit`` and ``family``: ``--space`` and ``--f0``/``--budgets`` when given;
else the ``space`` and ``budgets`` of a search result.json given as ``--strategies``; else the
imagenet space and its Monte Carlo f0. ``--space`` naming another space than the search result
is refused. A base model read from a strategies file (or a strategies preset) is validated
against the space; a ``--base`` preset name is only checked for its number of stages (presets
may override stage channels).

Bad input exits with status 2 and one line on stderr naming the field; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from scalenet.scaling.compound import EFFICIENTNET, CompoundCoefficients, compound_grid
from scalenet.scaling.family import Family, build_family, compound_family, write_family
from scalenet.scaling.fit import (
    DEFAULT_FUNCTION,
    LosoReport,
    compare_functions,
    fit_strategies,
    leave_one_stage_out,
)
from scalenet.scaling.functions import FUNCTION_NAMES, get_function
from scalenet.scaling.projection import DEFAULT_PROJECT, PROJECT_MODES, project_to_budget
from scalenet.scaling.strategies import STRATEGY_PRESETS, SearchedStrategies, load_strategies
from scalenet.space import (
    BaseArch,
    Path,
    SearchSpace,
    checked_path,
    count,
    load_budgets,
    load_space,
)
from scalenet.space import compute_budgets as _compute_budgets
from scalenet.space.cli_support import OneLineParser, dispatch

__all__ = ["main"]


def _emit(args: argparse.Namespace, payload: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        print(json.dumps(payload, indent=2, sort_keys=True))
    else:
        print("\n".join(lines))


#: The space when neither --space nor the strategies name one.
DEFAULT_SPACE = "imagenet"


def _load_space(
    args: argparse.Namespace, searched: SearchedStrategies | None = None
) -> SearchSpace:
    """--space, else the space the strategies were searched on, else the default.

    Raises:
        ValueError: If --space names another space than the strategies (one line).
    """
    named = None if searched is None else searched.space
    if args.space is None:
        if named is None:
            return load_space(DEFAULT_SPACE)
        try:
            return load_space(named)
        except ValueError as error:
            raise ValueError(
                f"strategies {args.strategies} name space {named!r}, which does not load "
                f"({error}); pass --space NAME|FILE"
            ) from None
    space = load_space(args.space)
    if named is not None and named != space.name:
        raise ValueError(
            f"strategies {args.strategies} were searched on space {named!r}, not "
            f"{space.name!r} (--space {args.space}); pass --space {named} or leave --space out"
        )
    return space


def _f0(
    args: argparse.Namespace, space: SearchSpace, searched: SearchedStrategies | None = None
) -> int:
    """--f0, else --budgets, else the budgets of the search result, else a Monte Carlo f0."""
    if args.f0 is not None:
        return int(args.f0)
    if args.budgets is not None:
        return load_budgets(args.budgets, space).f0
    if searched is not None and searched.budgets is not None:
        return searched.budgets.f0
    return _compute_budgets(space).f0


def _strategies_and_base(
    args: argparse.Namespace, *, need_base: bool
) -> tuple[SearchedStrategies, SearchSpace, BaseArch | None]:
    searched = load_strategies(args.strategies)
    space = _load_space(args, searched)
    if args.stages < searched.max_stage:
        raise ValueError(f"--stages K = {args.stages} must be >= M = {searched.max_stage}")
    if args.base is not None:
        base: BaseArch | None = checked_path(args.base, space).base
    else:
        base = searched.base
        if base is not None:
            try:
                space.validate(base)
            except ValueError as error:
                raise ValueError(
                    f"strategies {args.strategies}: base model not in space {space.name!r}: "
                    f"{error}; pass --base ARCH or the space it was searched on"
                ) from None
    if need_base and base is None:
        raise ValueError("--base is required (the strategies file names no base model)")
    return searched, space, base


def _fmt_params(function: str, params: Sequence[float]) -> str:
    names = get_function(function).param_names
    return ", ".join(f"{name}={value:.6g}" for name, value in zip(names, params, strict=True))


def _cmd_fit(args: argparse.Namespace) -> None:
    searched, space, base = _strategies_and_base(args, need_base=False)
    strategies = searched.strategies
    m, k = searched.max_stage, args.stages
    if args.function == "all":
        rows = compare_functions(strategies)
        payload = {
            "space": space.name,
            "stages": k,
            "searched": searched.to_json()["strategies"],
            "functions": [
                {
                    "fit": fit.to_json(),
                    "loso": loso.to_json(),
                    "predictions": [
                        {"stage": j, **fit.predict(j).to_json()} for j in range(m + 1, k + 1)
                    ],
                }
                for fit, loso in rows
            ],
        }
        lines = [f"{'function':<12}{'fit rmse':>10}{'LOSO rmse':>11}{'LOSO last':>11}  predictions"]
        for fit, loso in rows:
            preds = "  ".join(f"S{j} {fit.predict(j).encode()}" for j in range(m + 1, k + 1))
            lines.append(
                f"{fit.function:<12}{fit.rmse:>10.4f}{loso.rmse:>11.4f}{loso.last_stage_rmse:>11.4f}"
                f"  {preds}"
            )
        _emit(args, payload, lines)
        return
    fit = fit_strategies(strategies, args.function)
    report: LosoReport | None = None
    if m >= 2:
        report = leave_one_stage_out(strategies, args.function)
    lines = [
        f"function  {fit.function}: f(j) = {get_function(fit.function).formula}, M = {m}, K = {k}"
    ]
    for dim_fit in fit.dimensions:
        residuals = ", ".join(f"{r:+.4f}" for r in dim_fit.residuals)
        active = f"  [at bound: {', '.join(dim_fit.active)}]" if dim_fit.active else ""
        lines.append(
            f"{dim_fit.dimension:<11}{_fmt_params(fit.function, dim_fit.params)}  "
            f"residuals {residuals}  rmse {dim_fit.rmse:.4f}{active}"
        )
    if report is not None:
        lines.append(
            f"LOSO rmse  {report.rmse:.4f} (d {report.rmse_of('depth'):.4f}, "
            f"w {report.rmse_of('width'):.4f}, "
            f"r {report.rmse_of('resolution'):.4f}); "
            f"stage {m} held out: {report.last_stage_rmse:.4f}"
        )
    predictions = [(j, fit.predict(j)) for j in range(m + 1, k + 1)]
    projections = []
    if base is not None and args.project != "none" and predictions:
        f0 = _f0(args, space, searched)
        lines.append(f"projection {args.project} on space {space.name}, f_j = 2^j x {f0:,}")
        for j, scaling in predictions:
            proj = project_to_budget(space, base, scaling, 2**j * f0, args.project)
            projections.append({"stage": j, **proj.to_json()})
            lines.append(
                f"S{j}  fitted {scaling.encode()} -> {proj.flops_before / 1e6:,.1f} MFLOPs "
                f"({100 * proj.rel_error_before:+.1f} %); projected {proj.after.encode()} "
                f"({proj.cost_after.resolution} px) -> {proj.flops_after / 1e6:,.1f} MFLOPs "
                f"({100 * proj.rel_error:+.2f} % of {proj.target_flops / 1e6:,.1f})"
            )
    else:
        lines += [f"S{j}  fitted {scaling.encode()}" for j, scaling in predictions]
    payload = {
        "space": space.name,
        "stages": k,
        "searched": searched.to_json()["strategies"],
        "fit": fit.to_json(),
        "loso": None if report is None else report.to_json(),
        "predictions": [{"stage": j, **s.to_json()} for j, s in predictions],
        "projections": projections,
    }
    if args.plot:
        from scalenet.scaling.plot import plot_fit

        plot_fit(strategies, [fit], k, args.plot)
    _emit(args, payload, lines)


def _family_lines(family: Family) -> list[str]:
    return family.to_markdown().rstrip("\n").splitlines()


def _write_outputs(args: argparse.Namespace, family: Family) -> None:
    if args.out:
        write_family(family, args.out)


def _cmd_family(args: argparse.Namespace) -> None:
    searched, space, base = _strategies_and_base(args, need_base=True)
    assert base is not None
    family = build_family(
        space,
        base,
        searched.strategies,
        args.stages,
        _f0(args, space, searched),
        function=args.function,
        project=args.project,
    )
    _write_outputs(args, family)
    if args.plot:
        from scalenet.scaling.plot import plot_fit

        assert family.fit is not None
        plot_fit(searched.strategies, [family.fit], args.stages, args.plot, family=family)
    _emit(args, family.to_json(), _family_lines(family))


def _cmd_compound(args: argparse.Namespace) -> None:
    coeffs = CompoundCoefficients(args.alpha, args.beta, args.gamma)
    if args.count_grid:
        exact, paper = len(compound_grid()), len(compound_grid(exact=False))
        _emit(
            args,
            {"cases": exact, "cases_float64": paper},
            [
                f"grid [1, 2] step 0.01, |alpha*beta^2*gamma^2 - 2| <= 0.1: {exact:,} cases "
                f"({paper:,} in float64 arithmetic, as supplementary G counts)"
            ],
        )
        return
    if args.base is None:
        raise ValueError("--base is required (unless --count-grid)")
    if (args.phi is None) == (args.stages is None):
        raise ValueError("give exactly one of --phi (list of phi values) or --stages K (family)")
    space = _load_space(args)
    base = checked_path(args.base, space).base
    if args.stages is not None:
        family = compound_family(space, base, args.stages, _f0(args, space), coeffs)
        _write_outputs(args, family)
        _emit(args, family.to_json(), _family_lines(family))
        return
    rows = []
    for phi in args.phi:
        path = Path(base, coeffs.scaling(phi))
        cost = count(space, path)
        rows.append(
            {
                "phi": phi,
                **path.to_json(),
                "flops": cost.flops,
                "params": cost.params,
                "resolution": cost.resolution,
            }
        )
    lines = [
        f"alpha {coeffs.alpha}, beta {coeffs.beta}, gamma {coeffs.gamma} "
        f"(alpha*beta^2*gamma^2 = {coeffs.flops_factor:.4f}) on space {space.name}"
    ]
    lines += [
        f"phi {row['phi']:<6g} {row['scaling']['depth']:.4f} {row['scaling']['width']:.4f} "
        f"{row['scaling']['resolution']:.4f}  {row['resolution']} px  "
        f"{row['flops'] / 1e6:,.1f} MFLOPs  {row['params'] / 1e6:.3f} M params"
        for row in rows
    ]
    _emit(args, {"coefficients": coeffs.to_json(), "space": space.name, "models": rows}, lines)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _phi(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value < math.inf:
        # phi < 0 would shrink the base model below stage 0 (d, w, r < 1)
        raise argparse.ArgumentTypeError(f"phi must be a finite number >= 0, got {text}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="scalenet-scaling",
        description="Generalize searched scaling strategies; compound baselines; model families.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    presets = ", ".join(sorted(STRATEGY_PRESETS))

    def add_space(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--space",
            help=f"a shipped space or a YAML file (default: the strategies' space, else "
            f"{DEFAULT_SPACE})",
        )
        budget = cmd.add_mutually_exclusive_group()
        budget.add_argument("--f0", type=_positive_int, help="stage-0 budget (FLOPs); f_j = 2^j f0")
        budget.add_argument(
            "--budgets",
            help="budgets JSON (the budgets stage's output) for f0 (default: the search "
            "result's budgets, else a Monte Carlo f0 of the space)",
        )
        cmd.add_argument("--json", action="store_true", help="machine-readable output")

    def add_generalize(cmd: argparse.ArgumentParser, *, allow_all: bool) -> None:
        cmd.add_argument(
            "--strategies", required=True, help=f"JSON/YAML of stages 1..M, or a preset ({presets})"
        )
        names = [*FUNCTION_NAMES, "all"] if allow_all else list(FUNCTION_NAMES)
        cmd.add_argument("--function", default=DEFAULT_FUNCTION, choices=names)
        cmd.add_argument("--stages", type=_positive_int, required=True, help="K, the last stage")
        cmd.add_argument("--base", help="ARCH: preset, arch string or JSON file")
        cmd.add_argument("--project", default=DEFAULT_PROJECT, choices=PROJECT_MODES)
        cmd.add_argument("--plot", help="write the fit plot (PNG) here")
        add_space(cmd)

    fit = sub.add_parser("fit", help="fit a function to S_1..S_M, predict and project S_{M+1}..S_K")
    add_generalize(fit, allow_all=True)
    family = sub.add_parser("family", help="build and export the family S0..SK")
    add_generalize(family, allow_all=False)
    family.add_argument("--out", help="folder for S<j>.json, family.json, family.md")
    compound = sub.add_parser("compound", help="EfficientNet compound scaling on a base model")
    compound.add_argument("--base", help="ARCH: preset, arch string or JSON file")
    compound.add_argument("--phi", type=_phi, nargs="+", help="phi values (>= 0) to scale by")
    compound.add_argument("--stages", type=_positive_int, help="K: family S0..SK with phi at f_j")
    compound.add_argument("--alpha", type=_number, default=EFFICIENTNET.alpha)
    compound.add_argument("--beta", type=_number, default=EFFICIENTNET.beta)
    compound.add_argument("--gamma", type=_number, default=EFFICIENTNET.gamma)
    compound.add_argument("--count-grid", action="store_true", help="count supplementary G's grid")
    compound.add_argument("--out", help="folder for the family's files (with --stages)")
    add_space(compound)
    return parser


_COMMANDS = {"fit": _cmd_fit, "family": _cmd_family, "compound": _cmd_compound}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 file system error, 2 bad input)."""
    args = _build_parser().parse_args(argv)
    return dispatch("scalenet-scaling", _COMMANDS, args)


if __name__ == "__main__":
    sys.exit(main())
