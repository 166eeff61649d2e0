"""Benchmark: 750,000 paths sampled and their FLOPs counted, per sampler (goal: < 10 s for both).

Measures, side by side in one run, the sampling time and the FLOPs-counting time of HSS and the
uniform sampler on the default space (fmnist) and on imagenet, plus the one-path `sample` rate.
Saves benchmarks/results/sampling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from scalenet.sampling import SAMPLERS, make_sampler
from scalenet.space import count_batch, load_space

CHUNK = 250_000


def bench(space_name: str, paths: int, seed: int) -> dict[str, dict[str, float]]:
    space = load_space(space_name)
    rows = {}
    for name in SAMPLERS:
        sampler = make_sampler(name, space)
        rng = np.random.default_rng(seed)
        sample_s = count_s = 0.0
        cpu_start = time.process_time()
        remaining = paths
        while remaining > 0:
            size = min(remaining, CHUNK)
            start = time.perf_counter()
            sampled = sampler.sample_batch(size, rng)
            middle = time.perf_counter()
            count_batch(space, sampled.batch)
            end = time.perf_counter()
            sample_s += middle - start
            count_s += end - middle
            remaining -= size
        cpu_s = time.process_time() - cpu_start
        start = time.perf_counter()
        singles = 2_000
        for _ in range(singles):
            sampler.sample(rng)
        single_s = time.perf_counter() - start
        rows[name] = {
            "sample_s": sample_s,
            "flops_s": count_s,
            "total_s": sample_s + count_s,
            "cpu_s": cpu_s,
            "paths_per_s": paths / (sample_s + count_s),
            "single_sample_us": single_s / singles * 1e6,
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=750_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spaces", nargs="+", default=["fmnist", "imagenet"])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sampling.json"))
    args = parser.parse_args()
    results: dict[str, object] = {
        "paths": args.paths,
        "goal_s": 10.0,
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "load_average_before": os.getloadavg()[0],
        "spaces": {},
    }
    print(f"{args.paths:,} paths per sampler (sampled + FLOPs counted)")
    print(f"{'space':<10}{'sampler':<9}{'sample s':>9}{'FLOPs s':>9}{'total s':>9}{'cpu s':>8}"
          f"{'paths/s':>11}{'1-path us':>11}")  # fmt: skip
    for space_name in args.spaces:
        rows = bench(space_name, args.paths, args.seed)
        both = sum(row["total_s"] for row in rows.values())
        both_cpu = sum(row["cpu_s"] for row in rows.values())
        results["spaces"][space_name] = {  # type: ignore[index]
            "samplers": rows,
            "both_total_s": both,
            "both_cpu_s": both_cpu,
            "meets_goal": both < 10.0,
            "uniform_over_hss": rows["uniform"]["total_s"] / rows["hss"]["total_s"],
        }
        for name, row in rows.items():
            print(
                f"{space_name:<10}{name:<9}{row['sample_s']:>9.2f}{row['flops_s']:>9.2f}"
                f"{row['total_s']:>9.2f}{row['cpu_s']:>8.2f}{row['paths_per_s']:>11,.0f}{row['single_sample_us']:>11.0f}"
            )
        print(
            f"{space_name:<10}{'both':<9}{'':>18}{both:>9.2f}{both_cpu:>8.2f}  "
            f"goal < 10 s: {both < 10.0} (load average {os.getloadavg()[0]:.1f})"
        )
    results["load_average_after"] = os.getloadavg()[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
