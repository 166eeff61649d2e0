"""Vectorized analytic FLOPs vs the one-path-at-a-time counter, on the same sampled paths.

Draws PATHS paths (uniform base models, d/w/r uniform over Table 2's union), times
`count_batch` on all of them and `count` (layer-by-layer expansion) on the first SCALAR_PATHS of
them (or all with --full), checks both agree, and saves the per-path throughput ratio as JSON,
with the goal of issue 2 (vectorized FLOPs of 750,000 paths in under GOAL_S seconds) and whether
this run meets it (a run on fewer paths does not show the goal is met, so it reports false).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path as FilePath

import numpy as np

from scalenet.space import count, count_batch, load_space, random_base_batch

GOAL_S = 5.0
GOAL_PATHS = 750_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--space", default="imagenet")
    parser.add_argument("--paths", type=int, default=750_000)
    parser.add_argument("--scalar-paths", type=int, default=20_000)
    parser.add_argument("--full", action="store_true", help="time the scalar counter on all paths")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/space.json")
    args = parser.parse_args()

    space = load_space(args.space)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    batch = random_base_batch(space, args.paths, rng)
    union = [np.asarray(space.scaling.union(d)) for d in ("depth", "width", "resolution")]
    batch = batch.with_scaling(*(rng.choice(values, size=args.paths) for values in union))
    sample_s = time.perf_counter() - start

    start = time.perf_counter()
    vector = count_batch(space, batch)
    vector_s = time.perf_counter() - start

    scalar_n = args.paths if args.full else min(args.scalar_paths, args.paths)
    paths = [batch.path(index) for index in range(scalar_n)]
    start = time.perf_counter()
    scalar = [count(space, path).flops for path in paths]
    scalar_s = time.perf_counter() - start
    if scalar != vector.flops[:scalar_n].tolist():
        raise SystemExit("vectorized and per-path FLOPs disagree")

    vector_rate = args.paths / vector_s
    scalar_rate = scalar_n / scalar_s
    result = {
        "space": space.name,
        "paths": args.paths,
        "sample_s": round(sample_s, 3),
        "vectorized_flops_s": round(vector_s, 3),
        "vectorized_paths_per_s": round(vector_rate),
        "scalar_paths_timed": scalar_n,
        "scalar_s": round(scalar_s, 3),
        "scalar_paths_per_s": round(scalar_rate),
        "speedup_vectorized_over_scalar": round(vector_rate / scalar_rate, 1),
        "scalar_s_extrapolated_to_all_paths": round(args.paths / scalar_rate, 1),
        "goal_s": GOAL_S,
        "meets_goal": args.paths >= GOAL_PATHS and vector_s < GOAL_S,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    out = FilePath(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
