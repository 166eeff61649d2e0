"""DVC stage `search`: MCEA joint search of the base model and S_1..S_M (writes result + log).

The evaluator is chosen by `search.evaluator`: `supernet` (top-1 of paths of the trained HSS
super-supernet, through scalenet-supernet) or `analytic` (the zero-cost evaluator with a known
optimum, scalenet.search.analytic). The search state lives in outputs/search/state/ (persisted
by DVC), so a killed `dvc repro` resumes where it stopped.

Under torchrun (`launcher`) every rank runs the same search and evaluates its share of every
batch of paths on its own device (local rank); the accuracies are gathered, so every rank holds
the same state, and rank 0 alone writes the state and the outputs. The result equals a
one-process run's.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

from _common import CostRecord, fail, load_params, stage_cost, write_json
from _params import config_from

from scalenet.search import MCEA, Evaluator, MCEAConfig, make_analytic
from scalenet.space import SearchSpace, load_budgets, load_space
from scalenet.space.files import file_sha256


def make_supernet_evaluator(
    args: argparse.Namespace, space: SearchSpace, device: Any = None
) -> Evaluator:
    """The super-supernet's evaluator: (BaseArch, Scaling) -> mini-val top-1 (%) of the checkpoint.

    Imports torch and scalenet.supernet lazily: the search package itself never depends on torch.
    """
    try:
        from _supernet import cpu_runtime, load_evaluator
    except ImportError as error:
        fail(
            f"search.evaluator is 'supernet' but scalenet.supernet cannot be imported ({error}); "
            "install packages/scalenet-supernet or set search.evaluator: analytic"
        )
    if not args.checkpoint:
        fail("search.evaluator is 'supernet': pass --checkpoint FILE (the HSS super-supernet)")
    train = load_params(args.params, "train_supernet")
    # every rank evaluates its share of each population (distributed_map), one path per thread
    cpu_runtime("search", train["eval_processes"], train["eval_threads"])
    return load_evaluator(args.checkpoint, args.data, train, space.name, device)


def distributed() -> tuple[Any, Any]:
    """Under torchrun (WORLD_SIZE > 1): the process group's context and its sharing ``map``.

    Without torchrun: (None, None), and nothing imports torch (the analytic evaluator needs none).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return None, None
    from scalenet.supernet.engine import distributed_map, init_distributed

    context = init_distributed("auto")
    return context, distributed_map(context)


def main(cost: CostRecord) -> bool:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--budgets", default="outputs/budgets.json")
    parser.add_argument("--checkpoint", help="super-supernet checkpoint (evaluator: supernet)")
    parser.add_argument("--data", default="data/prepared", help="folder written by prepare")
    parser.add_argument("--out", default="outputs/search")
    args = parser.parse_args()
    params = load_params(args.params, "search")
    try:
        space = load_space(params["space"])
        budgets = load_budgets(args.budgets, space)
        config = config_from(MCEAConfig, params)
    except (OSError, ValueError) as error:
        fail(str(error))
    context, map_fn = distributed()
    if params["evaluator"] == "analytic":
        evaluator: Evaluator = make_analytic(space, budgets)
    else:
        evaluator = make_supernet_evaluator(args, space, context.device if context else None)
    main_rank = context is None or context.is_main
    out = Path(args.out)
    state_dir = out / "state"
    # The cached accuracies belong to one super-supernet and one mini-val set: a new checkpoint
    # or new data must not resume the old search (it starts over).
    supernet = params["evaluator"] == "supernet"
    fingerprint = {
        "evaluator": params["evaluator"],
        "checkpoint": file_sha256(args.checkpoint) if supernet else "",
        "data": file_sha256(Path(args.data) / "manifest.json") if supernet else "",
    }
    try:
        search = MCEA(
            space, budgets, evaluator, config, out_dir=str(state_dir), fingerprint=fingerprint,
            map_fn=map_fn, progress=main_rank, writer=main_rank, restart=True,
        )  # fmt: skip
        resumed = search.resumes()
        cost.mark(resumed)
        result = search.run()
    except ValueError as error:
        fail(str(error))
    if not main_rank:
        return resumed
    payload = result.to_json()
    payload["space"] = space.name
    payload["evaluator"] = params["evaluator"]
    write_json(out / "result.json", payload)
    shutil.copyfile(state_dir / "log.jsonl", out / "log.jsonl")
    summary = {
        "mean_accuracy": result.mean_accuracy,
        "iterations": result.iterations,
        "evaluations": result.evaluations,
        "cache_hits": result.cache_hits,
    }
    write_json(out / "metrics.json", summary)
    print("\n".join(f"search: {line}" for line in result.summary()))
    return resumed


if __name__ == "__main__":
    with stage_cost("search") as cost:
        main(cost)
