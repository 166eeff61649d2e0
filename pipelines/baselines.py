"""DVC stage `baselines`: the two families the searched one is compared with.

* ``compound``: an EfficientNet-B0-style base of the space (``baselines.compound_base``: an arch
  string or a preset name) scaled by compound scaling (alpha, beta, gamma; phi solved per budget
  2^j f0), as EfficientNet scales B0;
* ``random``: a random base model of the space within the f0 budget (seeded rejection sampling),
  scaled by the *searched* strategies S_1..S_M and generalized to S_K exactly like the ScaleNet
  family (same function and projection as the `generalize` stage).

Writes OUT/compound/ and OUT/random/ in the `generalize` stage's format (S<j>.json, family.json,
family.md), so `retrain` treats the three families alike.
"""

from __future__ import annotations

import argparse
from pathlib import Path as FilePath

import numpy as np
from _common import fail, load_params, stage_cost

from scalenet.scaling import (
    CompoundCoefficients,
    build_family,
    compound_family,
    load_strategies,
    write_family,
)
from scalenet.space import (
    BaseArch,
    Budgets,
    SearchSpace,
    checked_path,
    feasible_bases,
    load_budgets,
    load_space,
)


def compound_base(text: str, space: SearchSpace) -> BaseArch:
    """``baselines.compound_base``: a preset name or an arch string, checked against the space."""
    try:
        # a preset must use the space's choices too: the comparison is within the space
        return checked_path(text, space, presets="choices").base
    except ValueError as error:
        fail(f"baselines.compound_base {text!r}: {error}")


def random_base(space: SearchSpace, budgets: Budgets, seed: int) -> BaseArch:
    """The first of seeded random base models (batches of 512) whose FLOPs fit the f0 budget."""
    rng = np.random.default_rng(seed)
    try:
        return feasible_bases(space, budgets, 1, rng, chunk=512, max_tries=200)[0]
    except ValueError as error:
        fail(f"baselines.random_seed: no random base model of space {space.name}: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--search", default="outputs/search/result.json")
    parser.add_argument("--budgets", default="outputs/budgets.json")
    parser.add_argument("--out", default="outputs/family")
    args = parser.parse_args()
    params = load_params(args.params, "baselines")
    generalize = load_params(args.params, "generalize")
    coefficients = params["coefficients"]
    if len(coefficients) != 3 or not all(isinstance(c, int | float) for c in coefficients):
        fail(f"baselines.coefficients must be [alpha, beta, gamma], got {coefficients!r}")
    space = load_space(params["space"])
    try:
        budgets = load_budgets(args.budgets, space)
        searched = load_strategies(args.search)
        # f_0..f_K: budgets.explicit (the paper's ImageNet list) or 2^j f0
        stage_budgets = [budgets.budget(j) for j in range(generalize["stages"] + 1)]
        coeffs = CompoundCoefficients(*(float(c) for c in coefficients))
        compound = compound_family(
            space,
            compound_base(params["compound_base"], space),
            generalize["stages"],
            budgets.f0,
            coeffs,
            budgets=stage_budgets,
        )
        random = build_family(
            space,
            random_base(space, budgets, params["random_seed"]),
            searched.strategies,
            generalize["stages"],
            budgets.f0,
            function=generalize["function"],
            project=generalize["project"],
            budgets=stage_budgets,
        )
    except ValueError as error:
        fail(str(error))
    out = FilePath(args.out)
    for name, family in (("compound", compound), ("random", random)):
        write_family(family, out / name)
        sizes = ", ".join(f"S{m.stage} {m.cost.flops / 1e6:.1f}M" for m in family.members)
        print(f"baselines: {name}: base {family.members[0].path.base.encode()}; {sizes}")


if __name__ == "__main__":
    with stage_cost("baselines"):
        main()
