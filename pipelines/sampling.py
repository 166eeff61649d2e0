"""DVC stage `sampling`: HSS vs uniform FLOPs distributions (supplementary Fig. 1).

Reads the budgets stage's output; writes stats.json (a DVC metric), histogram.json and
distribution.png (a DVC plot) under --out.
"""

from __future__ import annotations

import argparse

from _common import fail, load_params, stage_cost

from scalenet.sampling import SAMPLERS, load_budgets, run_simulations, write_simulation
from scalenet.space import load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--budgets", default="outputs/budgets.json")
    parser.add_argument("--out", default="outputs/sampling")
    args = parser.parse_args()
    params = load_params(args.params, "sampling")
    try:
        if params["paths"] < 1:
            raise ValueError(f"sampling.paths must be >= 1, got {params['paths']}")
        weights = params["stage_weights"]
        stage_weights = weights if isinstance(weights, str) else tuple(weights)
        space = load_space(params["space"])
        budgets = load_budgets(args.budgets, space)
        results = run_simulations(
            space, budgets, list(SAMPLERS), params["paths"], params["seed"],
            stage_weights=stage_weights,
        )  # fmt: skip
        write_simulation(args.out, space, budgets, results, params["seed"])
    except (ValueError, TypeError) as error:
        fail(str(error))
    hss, uniform = results["hss"], results["uniform"]
    print(
        f"sampling: space {space.name}, {params['paths']:,} paths per sampler; "
        f"HSS stage shares {[round(s, 3) for s in hss.stage_share]}, "
        f"uniform window shares {[round(s, 4) for s in uniform.window_share]}"
    )


if __name__ == "__main__":
    with stage_cost("sampling"):
        main()
