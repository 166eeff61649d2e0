"""``scalenet-space``: FLOPs, budgets, space size and layer tables from the command line.

Bad input exits with status 2 and one line on stderr naming the field; never a traceback.

``flops`` and ``show`` accept any d, w, r in (0, :data:`MAX_COEFFICIENT`]: generalized strategies
(Table 3's S4 and S5) extrapolate beyond Table 2's grids, so the grids are not enforced; the bound
keeps a typo such as ``-d 1e6`` from building a network of millions of blocks.

``--convention official`` (``flops``, ``show``, ``budgets``) counts FLOPs as the authors' counter
does (Table 4's numbers); the default ``torch`` equals ``torch.utils.flop_counter``.
``budgets --explicit 350M 800M 1.5G ...`` gives the budgets as a list instead of 2^j f0.
"""

from __future__ import annotations

import argparse
import decimal
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from scalenet.space.arch import Path, Scaling
from scalenet.space.budgets import MIN_SAMPLES, compute_budgets
from scalenet.space.cli_support import OneLineParser, dispatch
from scalenet.space.network import expand_path
from scalenet.space.resolve import checked_path, resolve_path
from scalenet.space.rules import DEFAULT_CONVENTION, FLOPS_CONVENTIONS
from scalenet.space.space import SearchSpace, list_spaces, load_space

__all__ = ["MAX_COEFFICIENT", "main", "resolve_path"]

#: Largest d, w or r that ``flops`` and ``show`` expand (S5 of Table 3 has r = 2.378).
MAX_COEFFICIENT = 16.0


def _scaling_from_args(args: argparse.Namespace) -> Scaling | None:
    values = (args.depth, args.width, args.resolution)
    if all(value is None for value in values):
        return None
    return Scaling(*(1.0 if value is None else value for value in values))


def _load_checked(args: argparse.Namespace) -> tuple[SearchSpace, Path]:
    space = load_space(args.space)
    path = checked_path(args.arch, space, _scaling_from_args(args))
    for name in ("depth", "width", "resolution"):
        value = getattr(path.scaling, name)
        if value > MAX_COEFFICIENT:
            raise ValueError(
                f"scaling: {name} {value:g} not in (0, {MAX_COEFFICIENT:g}] "
                "(the bound of scalenet-space flops/show)"
            )
    return space, path


def _emit(args: argparse.Namespace, payload: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        print(json.dumps(payload, indent=2, sort_keys=True))
    else:
        print("\n".join(lines))


def _convention_note(convention: str, opening: str = ", ") -> str:
    # Text output names a convention only when it is not the default.
    if convention == DEFAULT_CONVENTION:
        return ""
    return f"{opening}{convention} convention" + (")" if opening.endswith("(") else "")


def _cmd_flops(args: argparse.Namespace) -> None:
    space, path = _load_checked(args)
    network = expand_path(space, path, convention=args.convention)
    payload = {
        "path": path.encode(),
        "space": space.name,
        "convention": args.convention,
        "flops": network.flops,
        "params": network.params,
        "resolution": network.resolution,
    }
    _emit(
        args,
        payload,
        [
            f"path        {path.encode()}",
            f"flops       {network.flops:,} ({network.flops / 1e6:.2f} M MACs"
            f"{_convention_note(args.convention)})",
            f"params      {network.params:,} ({network.params / 1e6:.3f} M)",
            f"resolution  {network.resolution}",
        ],
    )


def _cmd_show(args: argparse.Namespace) -> None:
    space, path = _load_checked(args)
    network = expand_path(space, path, convention=args.convention)
    if args.json:
        print(json.dumps(network.to_json(), indent=2, sort_keys=True))
        return
    header = (
        f"{'layer':<16}{'kind':<8}{'in':>6}{'mid':>6}{'out':>6}{'k':>3}{'s':>3}{'e':>3}"
        f"{'se':>5}{'size':>10}{'res':>5}{'MFLOPs':>10}{'params':>10}"
    )
    print(f"path: {path.encode()}")
    print(header)
    print("-" * len(header))
    for layer in network.layers:
        size = f"{layer.in_size}>{layer.out_size}"
        print(
            f"{layer.name:<16}{layer.kind:<8}{layer.in_chs:>6}{layer.mid_chs:>6}{layer.out_chs:>6}"
            f"{layer.kernel:>3}{layer.stride:>3}{layer.expand:>3}{layer.se_chs:>5}{size:>10}"
            f"{'y' if layer.residual else '':>5}{layer.flops / 1e6:>10.3f}{layer.params:>10,}"
        )
    print("-" * len(header))
    print(
        f"total: {network.flops / 1e6:.2f} M MACs{_convention_note(args.convention, ' (')}, "
        f"{network.params / 1e6:.3f} M params, {network.resolution} px"
    )


def _cmd_budgets(args: argparse.Namespace) -> None:
    space = load_space(args.space)
    budgets = compute_budgets(
        space,
        samples=args.samples,
        seed=args.seed,
        explicit=args.explicit,
        convention=args.convention,
    )
    lines = [
        f"space       {space.name}",
        f"mean_flops  {budgets.mean_flops:,.0f} (mean over {budgets.samples:,} base models, "
        f"seed {args.seed}{_convention_note(budgets.convention)})",
    ]
    if budgets.explicit:
        lines += [
            f"f0          {budgets.f0:,} (explicit)",
            "budgets     explicit f_j +- tolerance * f_j / f0:",
        ]
    else:
        lines += [
            f"f0          {budgets.f0:,} (mean_flops rounded to a multiple of {budgets.unit:,})",
            "budgets     f_j = 2^j * f0 +- tolerance * 2^j:",
        ]
    lines += [
        f"  j = {j}     {budgets.budget(j):,} +- {budgets.tolerance_at(j):,}"
        + ("  (beyond M: generalized)" if j > budgets.max_stage else "")
        for j in range(max(budgets.max_stage + 1, len(budgets.explicit)))
    ]
    _emit(args, {"space": space.name, **budgets.to_json()}, lines)


def _cmd_size(args: argparse.Namespace) -> None:
    space = load_space(args.space)
    payload = {
        "space": space.name,
        "base_models": space.num_base_models,
        "scaling_strategies": space.scaling.num_strategies,
        "total": space.num_paths,
        "strategies_per_stage": [grid.size for grid in space.scaling.stages],
    }
    _emit(
        args,
        payload,
        [
            f"base models         {space.num_base_models:,} ({space.num_base_models:.3e})",
            f"scaling strategies  {space.scaling.num_strategies:,} "
            f"(per scaling stage: {', '.join(str(g.size) for g in space.scaling.stages)})",
            f"total               {space.num_paths:,} ({space.num_paths:.3e})",
        ],
    )


def _cmd_spaces(args: argparse.Namespace) -> None:
    names = list_spaces()
    if args.json:
        print(json.dumps({name: load_space(name).to_json() for name in names}, indent=2))
    else:
        for name in names:
            print(f"{name:<12} {load_space(name).description}")


def _positive_float(text: str) -> float:
    # argparse prefixes these messages with the argument's name ("argument --depth/-d: ...").
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if math.isnan(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    if math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _flops_value(text: str) -> int:
    # A FLOPs count: an integer, or a number with an M or G suffix ("350M", "1.5G").
    # Decimal, not float: 0.35G must be exactly 350,000,000.
    scale = {"M": 10**6, "G": 10**9}.get(text[-1:].upper(), 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = decimal.Decimal(number) * scale
    except decimal.InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a FLOPs count (an integer, or e.g. 350M, 1.5G)"
        ) from None
    if not value.is_finite() or value <= 0 or value != value.to_integral_value():
        raise argparse.ArgumentTypeError(f"must be a positive whole number of FLOPs, got {text}")
    return int(value)


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="scalenet-space", description="ScaleNet search space: FLOPs, budgets, size."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add_common(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--space", default="imagenet", help=f"one of {list_spaces()} or a YAML file"
        )
        cmd.add_argument("--json", action="store_true", help="machine-readable output")

    def add_convention(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--convention",
            choices=FLOPS_CONVENTIONS,
            default=DEFAULT_CONVENTION,
            help="FLOPs convention: torch (= torch.utils.flop_counter, default) or official "
            "(the authors' counter, Table 4)",
        )

    for name, helptext in (("flops", "FLOPs and params of a path"), ("show", "layer table")):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument(
            "arch", metavar="ARCH", help="preset name, arch or path string, or a JSON file"
        )
        cmd.add_argument("--depth", "-d", type=_positive_float, help="depth coefficient d")
        cmd.add_argument("--width", "-w", type=_positive_float, help="width coefficient w")
        cmd.add_argument(
            "--resolution", "-r", type=_positive_float, help="resolution coefficient r"
        )
        add_convention(cmd)
        add_common(cmd)
    budgets = sub.add_parser("budgets", help="FLOPs budgets f_0..f_M by Monte Carlo")
    budgets.add_argument("--samples", type=int, default=MIN_SAMPLES, help="base models to draw")
    budgets.add_argument("--seed", type=int, default=0)
    budgets.add_argument(
        "--explicit",
        nargs="+",
        type=_flops_value,
        metavar="FLOPS",
        help="explicit budgets f_0 f_1 ... (increasing; e.g. the paper's 350M 800M 1.5G 3G 6G "
        "10G) instead of 2^j f0",
    )
    add_convention(budgets)
    add_common(budgets)
    size = sub.add_parser("size", help="exact size of the search space")
    add_common(size)
    spaces = sub.add_parser("spaces", help="list the shipped spaces")
    spaces.add_argument("--json", action="store_true")
    return parser


_COMMANDS = {
    "flops": _cmd_flops,
    "show": _cmd_show,
    "budgets": _cmd_budgets,
    "size": _cmd_size,
    "spaces": _cmd_spaces,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input)."""
    args = _build_parser().parse_args(argv)
    return dispatch("scalenet-space", _COMMANDS, args)


if __name__ == "__main__":
    sys.exit(main())
