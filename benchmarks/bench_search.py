"""Search overhead: MCEA with P = 50, N = 40, T = 8, M = 3 on a zero-cost (analytic) evaluator.

Measures the cost of the algorithm itself (NSGA-II, grids, FLOPs counting, caching), side by side:
in memory vs with the crash-safe state on disk (committed after every generation), and the
distinct evaluations requested vs the cache hits. Goal: under 60 s. Saves
benchmarks/results/search.json.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

from scalenet.search import MCEA, MCEAConfig, make_analytic
from scalenet.space import Budgets, load_space

RESULTS = Path(__file__).parent / "results" / "search.json"


def main() -> None:
    space = load_space("fmnist")
    budgets = Budgets(f0=4_000_000, max_stage=3, tolerance=500_000)  # outputs/budgets.json
    evaluator = make_analytic(space, budgets)
    config = MCEAConfig(population=50, generations=40, iterations=8, initial_bases=20, seed=0)
    runs = {}
    for name, cfg, on_disk in (
        ("full_T8_memory", config, False),  # the defaults: all T iterations, no carry_base
        ("full_T8_state_on_disk", config, True),
        ("early_stop_state_on_disk", MCEAConfig(**{**config.to_json(), "early_stop": True}), True),
        ("carry_base_T8_memory", MCEAConfig(**{**config.to_json(), "carry_base": True}), False),
    ):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            result = MCEA(space, budgets, evaluator, cfg, out_dir=folder if on_disk else None).run()
            seconds = time.perf_counter() - start
            state_bytes = sum(p.stat().st_size for p in Path(folder).iterdir()) if on_disk else 0
        requests = result.evaluations + result.cache_hits
        runs[name] = {
            "seconds": round(seconds, 3),
            "iterations": result.iterations,
            "evaluations": result.evaluations,
            "cache_hits": result.cache_hits,
            "hit_rate": round(result.cache_hits / requests, 4),
            "found_optimum": (result.base, tuple(c.scaling for c in result.strategies))
            == evaluator.optimum(),
            "state_bytes": state_bytes,
        }
        print(
            f"{name:<26} {seconds:7.2f} s  {result.iterations} iterations  "
            f"{result.evaluations:,} evaluations  {result.cache_hits:,} hits "
            f"({runs[name]['hit_rate']:.1%})  optimum {runs[name]['found_optimum']}"
        )
    memory, disk = runs["full_T8_memory"]["seconds"], runs["full_T8_state_on_disk"]["seconds"]
    payload = {
        "benchmark": "search",
        "machine": platform.platform(),
        "python": platform.python_version(),
        "config": {"P": 50, "N": 40, "T": 8, "M": 3, "K": 20, "space": "fmnist"},
        "goal_seconds": 60,
        "runs": runs,
        "ratio_state_on_disk_vs_memory": round(disk / memory, 3),
        "meets_goal": runs["full_T8_state_on_disk"]["seconds"] < 60,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(
        f"state on disk / in memory: {payload['ratio_state_on_disk_vs_memory']:.2f}x; "
        f"saved {RESULTS}"
    )


if __name__ == "__main__":
    main()
