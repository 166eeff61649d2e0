"""CPU benchmark: train-step time of sampled paths in the super-supernet vs their static networks.

For 20 random paths of the fmnist space (HSS-like: scaling stage uniform, then a strategy of its
grid), times one SGD training step (forward, loss, backward, optimizer step) of the supernet with
the path active and of the path's extracted static network, same batch and resolution, side by
side. Width modes timed: ``left`` (OFA/AutoSlim slices) and ``bcnet`` / ``bcnet_alternate``
(the supernet alternates the left and the right channel slice from step to step, so the slicing
of both sides is in the timing; ``bcnet`` on its enlarged capacity; its trainer makes two such
passes per step, one per side, which this per-pass ratio does not show). Reports the per-path
ratios and their median per mode (goal: <= 1.3). Saves benchmarks/results/supernet_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import torch
from torch import nn

from scalenet.space import Path, SearchSpace, count, load_space, random_base_batch
from scalenet.supernet import WIDTH_MODES, SuperSupernet

RESULTS = FilePath(__file__).parent / "results" / "supernet_cpu.json"
GOAL = 1.3


def sample_paths(space_name: str, count_: int, seed: int) -> list[Path]:
    space = load_space(space_name)
    rng = np.random.default_rng(seed)
    paths = []
    for _ in range(count_):
        base = random_base_batch(space, 1, rng).path(0, space).base
        strategies = space.scaling.strategies(int(rng.integers(space.scaling.max_stage + 1)))
        paths.append(Path(base, strategies[int(rng.integers(len(strategies)))]))
    return paths


def step_time(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    repeats: int,
    before_step: Callable[[int], None] | None = None,
) -> float:
    """Median time of one training step; ``before_step(index)`` runs inside the timing."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    criterion = nn.CrossEntropyLoss()
    times = []
    for index in range(repeats + 1):
        start = time.perf_counter()
        if before_step is not None:
            before_step(index)
        optimizer.zero_grad(set_to_none=True)
        criterion(model(images), labels).backward()
        optimizer.step()
        if index:  # the first step builds oneDNN primitives for the new shapes
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_path(
    supernet: SuperSupernet, space: SearchSpace, path: Path, mode: str, args: argparse.Namespace
) -> dict[str, Any]:
    """One path: supernet step (sides alternating under bcnet) vs the extracted static step."""
    resolution = count(space, path).resolution
    images = torch.randn(args.batch_size, 3, resolution, resolution)
    labels = torch.randint(0, space.num_classes, (args.batch_size,))
    sides = ("left", "right") if mode != "left" else ("left",)

    def activate(index: int) -> None:
        supernet.set_active(path, sides[index % len(sides)])

    static = supernet.extract(path, "left").train()
    super_s = step_time(supernet, images, labels, args.repeats, activate)
    static_s = step_time(static, images, labels, args.repeats)
    return {
        "path": path.encode(),
        "resolution": resolution,
        "mflops": round(count(space, path).flops / 1e6, 2),
        "supernet_ms": round(super_s * 1e3, 2),
        "static_ms": round(static_s * 1e3, 2),
        "ratio": round(super_s / static_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--space", default="fmnist")
    parser.add_argument("--paths", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--modes", nargs="+", default=["left", "bcnet"], choices=list(WIDTH_MODES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    space = load_space(args.space)
    paths = sample_paths(args.space, args.paths, args.seed)
    modes = {}
    for mode in args.modes:
        supernet = SuperSupernet(space, width_mode=mode).train()
        rows = []
        for path in paths:
            rows.append(time_path(supernet, space, path, mode, args))
            row = rows[-1]
            print(
                f"{mode:5s} {row['mflops']:7.2f} MFLOPs r{row['resolution']}: "
                f"supernet {row['supernet_ms']:8.1f} ms  static {row['static_ms']:8.1f} ms  "
                f"ratio {row['ratio']:.2f}"
            )
        ratios = [float(row["ratio"]) for row in rows]
        modes[mode] = {
            "median_ratio": round(statistics.median(ratios), 3),
            "mean_ratio": round(statistics.fmean(ratios), 3),
            "max_ratio": round(max(ratios), 3),
            "meets_goal": statistics.median(ratios) <= GOAL,
            "rows": rows,
        }
    summary = {
        "benchmark": "supernet_cpu_train_step",
        "space": args.space,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "paths": args.paths,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "goal": f"median ratio <= {GOAL}",
        "modes": modes,
    }
    out = FilePath(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for mode, result in modes.items():
        print(
            f"{mode}: median supernet/static train-step ratio {result['median_ratio']} "
            f"(goal <= {GOAL}: {result['meets_goal']})"
        )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
