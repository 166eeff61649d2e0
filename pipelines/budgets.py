"""DVC stage `budgets`: FLOPs budgets f_0..f_M of the space in params.yaml (a DVC metric).

``budgets.explicit`` (optional): a list of budgets f_0, f_1, ... in FLOPs (the paper's ImageNet-1k
350e6 .. 10e9, configs/imagenet.yaml) instead of f_j = 2^j f0; absent or null keeps the 2^j rule.
FLOPs are counted in the default (torch) convention, as every later stage counts them.
"""

from __future__ import annotations

import argparse

from _common import fail, load_params, stage_cost, write_json

from scalenet.space import compute_budgets, load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="outputs/budgets.json")
    args = parser.parse_args()
    params = load_params(args.params, "budgets")
    try:
        space = load_space(params["space"])
        budgets = compute_budgets(
            space,
            samples=params["samples"],
            seed=params["seed"],
            explicit=params["explicit"],
        )
    except ValueError as error:
        fail(str(error))
    write_json(args.out, {"space": space.name, **budgets.to_json()})
    print(f"budgets: space {space.name}, f0 = {budgets.f0:,}, f_j = {budgets.values}")


if __name__ == "__main__":
    with stage_cost("budgets"):
        main()
