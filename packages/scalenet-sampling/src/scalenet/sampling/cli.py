"""``scalenet-sampling``: simulate the samplers' FLOPs distributions, or print sampled paths.

Bad input exits with status 2 and one line on stderr naming the field; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from scalenet.sampling.outputs import load_budgets, write_simulation
from scalenet.sampling.samplers import SAMPLERS, STAGE_WEIGHTS, make_sampler, stage_window
from scalenet.sampling.simulate import run_simulations, stats_json
from scalenet.space import (
    Budgets,
    SearchSpace,
    compute_budgets,
    count_batch,
    list_spaces,
    load_space,
)
from scalenet.space.cli_support import OneLineParser, dispatch

__all__ = ["main", "parse_stage_weights"]

_BUDGET_SAMPLES = 100_000
#: Most paths ``sample`` prints: they are held in memory (about 2.5 KB each); ``simulate``
#: streams any count.
MAX_SAMPLE = 1_000_000


def parse_stage_weights(text: str) -> str | tuple[float, ...]:
    """``uniform``, ``grid_size`` or comma-separated weights ``w0,w1,...,wM``."""
    if text in STAGE_WEIGHTS:
        return text
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"--stage-weights {text!r} not in {{{', '.join(STAGE_WEIGHTS)}}} "
            "or comma-separated numbers"
        ) from None


def _budgets(args: argparse.Namespace, space: SearchSpace) -> Budgets:
    if args.budgets is not None:
        return load_budgets(args.budgets, space)
    return compute_budgets(space, samples=_BUDGET_SAMPLES, seed=args.budget_seed)


def _progress_enabled() -> bool:
    return sys.stderr.isatty()


def _cmd_simulate(args: argparse.Namespace) -> None:
    if args.paths < 1:
        raise ValueError(f"--paths must be >= 1, got {args.paths}")
    space = load_space(args.space)
    weights = parse_stage_weights(args.stage_weights)
    names = list(SAMPLERS) if args.sampler == "both" else [args.sampler]
    plot = args.out is not None and not args.no_plot
    if plot:
        from scalenet.sampling.plot import require_matplotlib

        require_matplotlib()
    budgets = _budgets(args, space)
    results = run_simulations(
        space, budgets, names, args.paths, args.seed, stage_weights=weights,
        progress=_progress_enabled(),
    )  # fmt: skip
    written = {}
    if args.out is not None:
        written = write_simulation(args.out, space, budgets, results, args.seed, plot=plot)
    if args.json:
        print(json.dumps(stats_json(space, budgets, results, args.seed), indent=2, sort_keys=True))
        return
    print(f"space {space.name}, {args.paths:,} paths per sampler, seed {args.seed}")
    print("budgets " + ", ".join(f"f{j} = {value:,}" for j, value in enumerate(budgets.values)))
    for name, stats in results.items():
        print(f"\n{stats.description}")
        print(f"  {'stage':>5} {'share':>8} {'in f_j+-tol':>12} {'median/f_j':>11} "
              f"{'mean/f_j':>9} {'mode/f_j':>9}")  # fmt: skip
        for stage in stats.stages:
            j = stage.scaling_stage

            def show(value: float | None) -> str:
                return "-" if value is None else f"{value:.3f}"

            print(
                f"  {j:>5} {stats.stage_share[j]:>8.2%} {stats.window_share[j]:>12.2%} "
                f"{show(stage.ratio(stage.median)):>11} {show(stage.ratio(stage.mean)):>9} "
                f"{show(stage.ratio(stage.mode)):>9}"
            )
        if name == "uniform":
            print(f"  in no stage's grid: {stats.no_stage_share:.2%}")
    for kind, path in written.items():
        print(f"wrote {kind}: {path}")


def _cmd_sample(args: argparse.Namespace) -> None:
    if not 0 <= args.n <= MAX_SAMPLE:
        raise ValueError(
            f"--n must be in 0..{MAX_SAMPLE:,} (sampled paths are held in memory; "
            f"simulate streams any count), got {args.n:,}"
        )
    space = load_space(args.space)
    options: dict[str, Any] = {"scaling_stage": args.stage}
    if args.sampler == "hss":
        options["stage_weights"] = parse_stage_weights(args.stage_weights)
    elif args.stage_weights != "uniform":
        raise ValueError("--stage-weights applies to --sampler hss only")
    if args.fit:
        if args.stage is None:
            raise ValueError("--fit needs --stage J (it keeps paths within f_J +- tol_J)")
        options["flops_window"] = stage_window(_budgets(args, space), args.stage)
    sampler = make_sampler(args.sampler, space, **options)
    sampled = sampler.sample_batch(args.n, np.random.default_rng(args.seed))
    paths = sampled.paths(space)
    if args.json:
        flops = count_batch(space, sampled.batch).flops
        payload = [
            {"path": path.encode(), "scaling_stage": int(stage), "flops": int(value)}
            for path, stage, value in zip(paths, sampled.scaling_stage, flops, strict=True)
        ]
        print(json.dumps(payload, indent=2))
    else:
        print("\n".join(path.encode() for path in paths))


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="scalenet-sampling",
        description="ScaleNet path sampling: uniform and hierarchical (HSS).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add_common(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--seed", type=int, default=0, help="seed of the sampling generator")
        cmd.add_argument(
            "--space", default="imagenet", help=f"one of {list_spaces()} or a YAML file"
        )
        cmd.add_argument(
            "--stage-weights", default="uniform",
            help="HSS stage weights: uniform (paper), grid_size (official code) or w0,...,wM",
        )  # fmt: skip
        cmd.add_argument(
            "--budgets", metavar="FILE",
            help="budgets JSON (the budgets stage's output); default: computed from the space",
        )  # fmt: skip
        cmd.add_argument(
            "--budget-seed", type=int, default=0,
            help=f"seed of the f0 Monte Carlo ({_BUDGET_SAMPLES:,} base models) without --budgets",
        )  # fmt: skip
        cmd.add_argument("--json", action="store_true", help="machine-readable output")

    simulate = sub.add_parser("simulate", help="FLOPs distribution of the samplers (Fig. 1)")
    simulate.add_argument("--sampler", choices=[*SAMPLERS, "both"], default="both")
    simulate.add_argument("--paths", type=int, default=750_000, help="paths per sampler")
    simulate.add_argument(
        "--out", metavar="DIR", help="write stats.json, histogram.json, distribution.png here"
    )
    simulate.add_argument("--no-plot", action="store_true", help="skip distribution.png")
    add_common(simulate)

    sample = sub.add_parser("sample", help="print sampled paths, one string per line")
    sample.add_argument("--sampler", choices=list(SAMPLERS), default="hss")
    sample.add_argument("--n", type=int, default=1, help=f"number of paths (0..{MAX_SAMPLE:,})")
    sample.add_argument("--stage", type=int, help="restrict to scaling stage J")
    sample.add_argument(
        "--fit", action="store_true", help="keep only paths within f_J +- tol_J (needs --stage)"
    )
    add_common(sample)
    return parser


_COMMANDS = {"simulate": _cmd_simulate, "sample": _cmd_sample}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input)."""
    args = _build_parser().parse_args(argv)
    return dispatch("scalenet-sampling", _COMMANDS, args)


if __name__ == "__main__":
    sys.exit(main())
