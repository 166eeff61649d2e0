"""GPU check (prepared script): a small MCEA search with the super-supernet evaluator on the GPU.

The `search` stage's composition on synthetic data: scalenet-search's MCEA (P = 4, N = 1, T = 1,
K = 1 by default: the initial strategies, one NSGA-II base step of one generation, one scaling
step; 162 evaluations in the `imagenet` space, counted with the analytic evaluator; the paper's
run is P = 50, N = 40, T = 8, K = 20) with the paper's budgets (350, 800, 1,500, 3,000 MFLOPs for
S0..S3, as configs/imagenet.yaml), scored by scalenet-supernet's SupernetEvaluator on the
super-supernet checkpoint of benchmarks/gpu_train_check.py: each path's BN statistics
recalibrated on fixed random batches, then top-1 on random "mini-val" batches, both sides of the
bilateral network (`eval_side: both`, the config's). The accuracies of random data mean nothing;
the figure is the evaluation rate.

    python benchmarks/gpu_search_check.py \
        --checkpoint benchmarks/results/gpu_check/train/checkpoint.pt

Under torchrun every rank scores its share of each batch of paths on its own GPU and rank 0
writes, as the `search` stage does (scalenet.supernet.engine.distributed_map).

Writes OUT (benchmarks/results/gpu_check/search.json): evaluations, cache hits, seconds,
evaluations/s, the first evaluation's seconds (start-up) and the rate of the others, the searched
base model and strategies, the evaluation's images/s, and how long one evaluation of the `search`
stage of configs/imagenet.yaml (10 x 256 recalibration images and the 50,000 mini-val images,
both sides) would take at that rate. ``--time-limit`` stops the search after that many seconds
and still writes the figures (``completed: false``). Without the checkpoint the search runs on an
untrained super-supernet (same cost per evaluation) and says so. Without a CUDA GPU it exits at
once with status 2 and one line on stderr; ``--smoke`` runs a tiny CPU version (the `fmnist`
space at 16 px, S1 only). Needs torch (>= 2.4), numpy, pyyaml, deap and this repository's
scalenet-space, -search and -supernet sources (found through sys.path).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path as FilePath
from typing import Any

from _gpu_common import NO_GPU, ROOT, add_sources, device_name, input_side

add_sources("scalenet-space", "scalenet-sampling", "scalenet-search", "scalenet-supernet")

import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from scalenet.space import (  # noqa: E402
    PAPER_IMAGENET_BUDGETS,
    BaseArch,
    Budgets,
    Scaling,
    SearchSpace,
    compute_budgets,
    load_space,
)
from scalenet.supernet import SupernetEvaluator, SuperSupernet  # noqa: E402
from scalenet.supernet.engine import distributed_map, init_distributed  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gpu_check"
#: Images one evaluation forwards in the `search` stage of configs/imagenet.yaml: both sides, each
#: over recalib_batches x eval_batch_size = 10 x 256 training images and the 50 x 1,000 mini-val.
IMAGENET_PER_PATH = 2 * (10 * 256 + 50 * 1000)


class TimeUpError(Exception):
    """The time limit passed (raised between two evaluations)."""


class TimedEvaluator:
    """The supernet evaluator, timed per call; raises :class:`TimeUpError` after the limit."""

    def __init__(self, evaluator: SupernetEvaluator, device: torch.device, limit: float) -> None:
        self.evaluator = evaluator
        self.device = device
        self.deadline = time.perf_counter() + limit
        self.seconds: list[float] = []

    def __call__(self, base: BaseArch, scaling: Scaling) -> float:
        if time.perf_counter() > self.deadline:
            raise TimeUpError
        started = time.perf_counter()
        accuracy = self.evaluator(base, scaling)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.seconds.append(time.perf_counter() - started)
        return accuracy


def random_batches(
    count: int, batch_size: int, side: int, num_classes: int, seed: int, device: torch.device
) -> list[tuple[Tensor, Tensor]]:
    """``count`` fixed random ``(images, labels)`` batches on ``device``."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        images = torch.randn(batch_size, 3, side, side, generator=generator)
        labels = torch.randint(0, num_classes, (batch_size,), generator=generator)
        batches.append((images.to(device), labels.to(device)))
    return batches


def search_budgets(space: SearchSpace, max_stage: int | None) -> Budgets:
    """The paper's budgets for the `imagenet` space (configs/imagenet.yaml); else 2^j f0."""
    explicit = PAPER_IMAGENET_BUDGETS if space.name == "imagenet" else None
    return compute_budgets(space, samples=100_000, seed=0, explicit=explicit, max_stage=max_stage)


def load_supernet(checkpoint: FilePath, space: SearchSpace) -> tuple[SuperSupernet, str | None]:
    """The checkpoint's super-supernet, or an untrained one (and why) when there is none."""
    if checkpoint.is_file():
        return SuperSupernet.from_checkpoint(str(checkpoint), space), None
    note = f"checkpoint {checkpoint} not found: an untrained super-supernet was searched"
    return SuperSupernet(space, width_mode="bcnet"), note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run that checks the script")
    parser.add_argument("--checkpoint", default=str(RESULTS / "train" / "checkpoint.pt"))
    parser.add_argument("--out", default=str(RESULTS / "search.json"))
    parser.add_argument("--state", default=None, help="search state folder (default: OUT's stem)")
    parser.add_argument("--space", default="imagenet")
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument("--generations", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=1)
    parser.add_argument("--initial-bases", type=int, default=1)
    parser.add_argument("--max-stage", type=int, default=None, help="M searched (default: all)")
    parser.add_argument("--recalib-batches", type=int, default=2)
    parser.add_argument("--val-batches", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--time-limit", type=float, default=70.0, help="seconds of searching")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.smoke:
        args.space, args.batch_size, args.recalib_batches, args.val_batches = "fmnist", 4, 1, 1
        args.max_stage = 1  # S1 only: 39 evaluations instead of 210
    elif not torch.cuda.is_available():
        print(f"gpu_search_check: {NO_GPU}", file=sys.stderr)
        sys.exit(2)
    # Imported here: deap is the one dependency of this part that the GPU machine may lack.
    from scalenet.search import MCEA, MCEAConfig

    # Under torchrun every rank scores its share of each batch of paths (the `search` stage's
    # distributed_map); alone, the serial map.
    context = init_distributed("cpu" if args.smoke else "cuda")
    device = context.device
    space = load_space(args.space)
    if args.smoke:  # paths at 16..26 px
        space = dataclasses.replace(space, resolution=16)
    budgets = search_budgets(space, args.max_stage)
    supernet, note = load_supernet(FilePath(args.checkpoint), space)
    if args.smoke:  # the checkpoint names the space; the smoke run shrinks its resolution
        supernet.space = space
    supernet.to(device).to(memory_format=torch.channels_last)
    side = input_side(space)  # the largest input any path uses
    size, classes = args.batch_size, space.num_classes
    recalibration = random_batches(args.recalib_batches, size, side, classes, args.seed, device)
    validation = random_batches(args.val_batches, size, side, classes, args.seed + 1, device)
    evaluator = SupernetEvaluator(
        supernet, recalibration, validation, recalib_batches=args.recalib_batches, side="both"
    )
    timed = TimedEvaluator(evaluator, device, args.time_limit)
    config = MCEAConfig(
        population=args.population,
        generations=args.generations,
        iterations=args.iterations,
        initial_bases=args.initial_bases,
        seed=args.seed,
    )
    state = FilePath(args.state) if args.state else FilePath(args.out).with_suffix(".state")
    if context.is_main:
        shutil.rmtree(state, ignore_errors=True)  # a check starts fresh, never resumes
    context.barrier()
    search = MCEA(
        space, budgets, timed, config, out_dir=str(state), progress=False,
        map_fn=distributed_map(context), writer=context.is_main,
    )  # fmt: skip
    started = time.perf_counter()
    completed = True
    outcome: dict[str, Any] = {}
    try:
        result = search.run()
        outcome = {
            "base": result.base.encode(),
            "base_flops": result.base_flops,
            "strategies": [choice.to_json() for choice in result.strategies],
            "cache_hits": result.cache_hits,
        }
    except (TimeUpError, RuntimeError) as error:
        # distributed_map re-raises a rank's TimeUpError on every rank as a RuntimeError naming it
        if not isinstance(error, TimeUpError) and "TimeUpError" not in str(error):
            raise
        completed = False
    seconds = time.perf_counter() - started
    times = timed.seconds
    rest = times[1:]
    # every rank timed its own share: the totals are over the ranks
    evaluations = round(context.mean(len(times)) * context.world_size)
    if not context.is_main:
        return
    per_path = 2 * (args.recalib_batches + args.val_batches) * args.batch_size
    rate = evaluations * per_path / seconds if seconds > 0 else 0.0
    summary: dict[str, Any] = {
        "part": "search",
        "smoke": args.smoke,
        "device": device_name(device),
        "torch": torch.__version__,
        "space": space.name,
        "budgets": budgets.values,
        "mcea": {
            "P": args.population,
            "N": args.generations,
            "T": args.iterations,
            "K": args.initial_bases,
        },
        "eval_side": "both",
        "input_side": side,
        "recalibration_images": args.recalib_batches * args.batch_size,
        "validation_images": args.val_batches * args.batch_size,
        "completed": completed,
        "time_limit_s": args.time_limit,
        "world_size": context.world_size,
        "evaluations": evaluations,
        "seconds": round(seconds, 1),
        "evaluations_per_second": round(evaluations / seconds, 3) if seconds > 0 else None,
        "first_evaluation_s": round(times[0], 3) if times else None,
        # rank 0's own rate after its first evaluation (start-up costs), per process
        "evaluations_per_second_after_first": round(len(rest) / sum(rest), 3) if rest else None,
        # forward passes: both sides, each over the recalibration and the validation images
        "evaluation_images_per_second": round(evaluations * per_path / seconds, 1)
        if seconds > 0
        else None,
        # one evaluation as the `search` stage of configs/imagenet.yaml runs it (10 x 256
        # recalibration images, the 50,000 mini-val images, both sides), at this rate
        "seconds_per_evaluation_at_imagenet_config": round(IMAGENET_PER_PATH / rate, 1)
        if rate and space.name == "imagenet"
        else None,
        "checkpoint": args.checkpoint if note is None else None,
        **({"note": note} if note else {}),
        **outcome,
    }
    out = FilePath(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
