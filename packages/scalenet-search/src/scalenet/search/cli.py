"""``scalenet-search``: run MCEA from a config file, compute ranking coefficients.

* ``scalenet-search mcea --config FILE --out DIR``: a YAML/JSON config (see :func:`load_config`);
  resumes from ``DIR/state.json`` when present; writes ``DIR/result.json`` and ``DIR/log.jsonl``.
* ``scalenet-search rank --acc FILE --flops FILE [--json]``: Pearson, Spearman and the paper's
  Kendall; files hold a JSON list, a ``.npy`` array or one number per line.

Bad input exits with status 2 and one line on stderr naming the field; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from scalenet.search.evaluator import Evaluator, MapFn, PathEvaluatorAdapter, load_evaluator
from scalenet.search.mcea import MCEA, MCEAConfig, SearchResult
from scalenet.search.ranking import ranking_coefficients
from scalenet.space import Budgets, SearchSpace, compute_budgets, load_budgets, load_space
from scalenet.space.cli_support import OneLineParser, dispatch
from scalenet.space.files import write_text

__all__ = ["SearchConfig", "build_budgets", "load_config", "load_numbers", "main", "run_search"]

_SHORT_KEYS = {"P": "population", "N": "generations", "T": "iterations", "K": "initial_bases"}
_CONFIG_KEYS = {
    "space",
    "budgets",
    "budget_samples",
    "budget_seed",
    "tolerance",
    "evaluator",
    "evaluator_kwargs",
    "evaluator_call",
    "workers",
    "seed",
    "mcea",
    *_SHORT_KEYS,
}
_CALLS = ("arch_scaling", "path")


@dataclass(frozen=True)
class SearchConfig:
    """A parsed ``mcea`` config file.

    Attributes:
        space: Space name or YAML file.
        budgets: A budgets JSON file (e.g. outputs/budgets.json), or None to compute them.
        budget_samples: Monte Carlo samples when computing the budgets.
        budget_seed: Their seed.
        tolerance: Overrides the budgets' stage-0 tolerance (doubling per stage) when set.
        evaluator: ``'module:callable'`` building the evaluator.
        evaluator_kwargs: Its keyword arguments (``space`` and ``budgets`` are injected when the
            callable takes them).
        evaluator_call: ``arch_scaling`` (the evaluator takes (BaseArch, Scaling)) or ``path``
            (it takes a Path, like scalenet-supernet's).
        workers: Worker processes for evaluations (0: serial).
        mcea: The MCEA hyper-parameters.
    """

    space: str
    evaluator: str
    budgets: str | None = None
    budget_samples: int = 100_000
    budget_seed: int = 0
    tolerance: int | None = None
    evaluator_kwargs: dict[str, Any] = field(default_factory=dict)
    evaluator_call: str = "arch_scaling"
    workers: int = 0
    mcea: MCEAConfig = field(default_factory=MCEAConfig)


def load_config(path: str | FilePath) -> SearchConfig:
    """Read a YAML or JSON config.

    Keys: ``space``, ``evaluator`` (required); ``budgets`` (file) or ``budget_samples`` /
    ``budget_seed``; ``tolerance``; ``evaluator_kwargs``; ``evaluator_call``; ``workers``;
    ``P``, ``N``, ``T``, ``K``, ``seed`` (shortcuts) and ``mcea`` (any :class:`MCEAConfig` field).

    Raises:
        ValueError: Naming the file and the offending key.
    """
    file = FilePath(path)
    if not file.is_file():
        raise ValueError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))  # JSON is YAML too
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML/JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a mapping")
    unknown = sorted(set(data) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(
            f"{path}: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_CONFIG_KEYS))}"
        )
    for key in ("space", "evaluator"):
        if not isinstance(data.get(key), str):
            raise ValueError(f"{path}: {key} must be a string, got {data.get(key)!r}")
    mcea = data.get("mcea") or {}
    if not isinstance(mcea, dict):
        raise ValueError(f"{path}: mcea must be a mapping")
    mcea = dict(mcea)
    for short, name in _SHORT_KEYS.items():
        if short in data:
            mcea[name] = data[short]
    if "seed" in data:
        mcea["seed"] = data["seed"]
    call = data.get("evaluator_call", "arch_scaling")
    if call not in _CALLS:
        raise ValueError(f"{path}: evaluator_call {call!r} not in {{{', '.join(_CALLS)}}}")
    kwargs = data.get("evaluator_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ValueError(f"{path}: evaluator_kwargs must be a mapping")
    for key in ("budget_samples", "budget_seed", "workers"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], int)):
            raise ValueError(f"{path}: {key} must be an int, got {data[key]!r}")
    tolerance = data.get("tolerance")
    if tolerance is not None and (
        isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0
    ):
        raise ValueError(f"{path}: tolerance must be an int >= 0, got {tolerance!r}")
    try:
        config = MCEAConfig.from_json(mcea)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None
    return SearchConfig(
        space=data["space"],
        evaluator=data["evaluator"],
        budgets=data.get("budgets"),
        budget_samples=int(data.get("budget_samples", 100_000)),
        budget_seed=int(data.get("budget_seed", 0)),
        tolerance=tolerance,
        evaluator_kwargs=dict(kwargs),
        evaluator_call=call,
        workers=int(data.get("workers", 0)),
        mcea=config,
    )


def build_budgets(config: SearchConfig, space: SearchSpace) -> Budgets:
    """The budgets of a config: from its file or by Monte Carlo, with the tolerance override."""
    if config.budgets is not None:
        budgets = load_budgets(config.budgets, space)
    else:
        budgets = compute_budgets(space, samples=config.budget_samples, seed=config.budget_seed)
    if config.tolerance is not None:
        budgets = replace(budgets, tolerance=config.tolerance)
    return budgets


def run_search(
    config: SearchConfig,
    out_dir: str | FilePath,
    *,
    evaluator: Evaluator | None = None,
    progress: bool = False,
) -> SearchResult:
    """Run (or resume) the search of ``config`` in ``out_dir``; writes ``result.json`` there.

    Args:
        config: The parsed config.
        out_dir: Output folder (state, cache, log, result).
        evaluator: Use this evaluator instead of building ``config.evaluator``.
        progress: Show a progress bar.
    """
    space = load_space(config.space)
    budgets = build_budgets(config, space)
    if evaluator is None:
        evaluator = load_evaluator(
            config.evaluator, config.evaluator_kwargs, space=space, budgets=budgets
        )
        if config.evaluator_call == "path":
            evaluator = PathEvaluatorAdapter(evaluator)  # type: ignore[arg-type]
    fingerprint = {
        "evaluator": config.evaluator,
        "evaluator_kwargs": config.evaluator_kwargs,
        "evaluator_call": config.evaluator_call,
    }
    pool = None
    map_fn: MapFn | None = None
    if config.workers > 0:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(config.workers)
        map_fn = pool.map
    try:
        search = MCEA(
            space,
            budgets,
            evaluator,
            config.mcea,
            out_dir=str(out_dir),
            map_fn=map_fn,
            fingerprint=fingerprint,
            progress=progress,
        )
        result = search.run()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    payload = {"space": space.name, "budgets": budgets.to_json(), **result.to_json()}
    write_text(FilePath(out_dir) / "result.json", json.dumps(payload, indent=2) + "\n", fsync=True)
    return result


def load_numbers(path: str | FilePath, what: str = "values") -> npt.NDArray[np.float64]:
    """Numbers from a ``.npy`` file, a JSON list or a text file with one number per line.

    Raises:
        ValueError: Naming the file and the offending line.
    """
    file = FilePath(path)
    if not file.is_file():
        raise ValueError(f"{what} file {path} does not exist")
    if file.suffix == ".npy":
        try:
            return np.asarray(np.load(file, allow_pickle=False), dtype=np.float64).ravel()
        except (ValueError, OSError) as error:
            raise ValueError(f"{what} file {path}: not a numeric .npy array ({error})") from None
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{what} file {path}: not valid JSON ({error.msg})") from None
        if not isinstance(data, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in data
        ):
            raise ValueError(f"{what} file {path}: expected a JSON list of numbers")
        return np.asarray(data, dtype=np.float64)
    values = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append(float(line))
        except ValueError:
            raise ValueError(
                f"{what} file {path} line {number}: {line.strip()!r} is not a number"
            ) from None
    return np.asarray(values, dtype=np.float64)


def _cmd_mcea(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    result = run_search(config, args.out, progress=not args.quiet and sys.stderr.isatty())
    if args.json:
        print(json.dumps({key: v for key, v in result.to_json().items() if key != "log"}, indent=2))
        return
    print("\n".join(result.summary()))
    print(f"written     {FilePath(args.out) / 'result.json'}, {FilePath(args.out) / 'log.jsonl'}")


def _cmd_rank(args: argparse.Namespace) -> None:
    acc = load_numbers(args.acc, "acc")
    flops = load_numbers(args.flops, "flops")
    coefficients = ranking_coefficients(acc, flops)
    if args.json:
        print(json.dumps(coefficients.to_json(), indent=2, sort_keys=True))
        return
    print(f"paths     {coefficients.count:,}")
    for name, what in (
        ("pearson", "eq. 1"),
        ("spearman", "eq. 2 on average ranks; = eq. 3 without ties"),
        ("kendall", "eqs. 4-6: ties discordant, absolute value"),
    ):
        value = getattr(coefficients, name)
        shown = f"{value:.4f}  ({what})" if value is not None else coefficients.notes[name]
        print(f"{name:<10}{shown}")


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="scalenet-search", description="ScaleNet MCEA search and ranking coefficients."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    mcea = sub.add_parser("mcea", help="joint search of base model and scaling strategies")
    mcea.add_argument("--config", required=True, help="YAML/JSON config file")
    mcea.add_argument("--out", required=True, help="output folder (resumed when it holds a state)")
    mcea.add_argument("--json", action="store_true", help="machine-readable output")
    mcea.add_argument("--quiet", action="store_true", help="no progress bar")
    rank = sub.add_parser("rank", help="Pearson, Spearman and Kendall of accuracy vs FLOPs")
    rank.add_argument("--acc", required=True, help="accuracies: JSON list, .npy or one per line")
    rank.add_argument("--flops", required=True, help="FLOPs: JSON list, .npy or one per line")
    rank.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


_COMMANDS = {"mcea": _cmd_mcea, "rank": _cmd_rank}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input)."""
    args = _build_parser().parse_args(argv)
    return dispatch("scalenet-search", _COMMANDS, args)


if __name__ == "__main__":
    sys.exit(main())
