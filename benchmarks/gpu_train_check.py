"""GPU check (prepared script): 200 iterations of super-supernet training under torchrun.

The `train_supernet` stage's trainer on synthetic ImageNet-sized data: the `imagenet` space's
super-supernet (`bcnet` width mode, both channel sides every step), HSS paths (the sampler of
`train_supernet@hss`), SGD Nesterov with a linear warm-up and a cosine, bf16 autocast and
channels-last (the trainer's GPU defaults), batches of random images at the side the FFCV loader
delivers (ceil(224 x the largest resolution coefficient) = 354 px; the supernet resizes each batch
to its path's resolution) and random labels in 0..999. The batches are made once on the device,
so the figure is the training's own, without a data loader.

    python -m torch.distributed.run --standalone --nproc_per_node=1 \
        benchmarks/gpu_train_check.py --out benchmarks/results/gpu_check/train

Writes OUT/checkpoint.pt (the input of benchmarks/gpu_search_check.py), OUT/metrics.jsonl and
OUT/train_check.json (rank 0): images/s over the whole run and after the first logged window,
seconds, the last loss, peak GPU memory, the checkpoint's size. Starts fresh (an old checkpoint
in OUT is deleted). Without a CUDA GPU it exits at once with status 2 and one line on stderr.
``--smoke`` runs a tiny CPU version (the `fmnist` space at 16 px, 4 iterations, batch 4) that
checks the script. Needs torch (>= 2.4), numpy, pyyaml, tqdm and this repository's scalenet-space,
-sampling and -supernet sources (found through sys.path; no ffcv, deap or dvc).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path as FilePath
from typing import Any

from _gpu_common import NO_GPU, ROOT, add_sources, device_name, input_side

add_sources("scalenet-space", "scalenet-sampling", "scalenet-supernet")

import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from scalenet.sampling import make_sampler  # noqa: E402
from scalenet.space import load_space  # noqa: E402
from scalenet.supernet import NonFiniteError, SupernetTrainer, SuperSupernet, TrainConfig  # noqa: E402
from scalenet.supernet.engine import init_distributed  # noqa: E402


class SyntheticBatches:
    """Random ``(images, labels)`` batches made once on the device, cycled; resumable.

    ``pool`` distinct batches are drawn from a generator seeded with ``seed + rank`` (ranks see
    different images, as the loader's shards); an epoch is ``length`` batches. ``state_dict`` /
    ``load_state_dict`` give the trainer's checkpoint the position, as the real loaders do.
    """

    def __init__(
        self,
        *,
        batch_size: int,
        side: int,
        num_classes: int,
        device: torch.device,
        pool: int = 4,
        length: int = 1000,
        seed: int = 0,
        rank: int = 0,
    ) -> None:
        generator = torch.Generator(device=device).manual_seed(seed + rank)
        self.pool = [
            (
                torch.randn(batch_size, 3, side, side, generator=generator, device=device),
                torch.randint(0, num_classes, (batch_size,), generator=generator, device=device),
            )
            for _ in range(pool)
        ]
        self.length = length
        self.epoch = 0
        self.position = 0

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        while self.position < self.length:
            batch = self.pool[self.position % len(self.pool)]
            self.position += 1
            yield batch
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        """``{epoch, position}``: the next batch to yield."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a saved position."""
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


def steady_rate(metrics: FilePath) -> float | None:
    """Mean images/s of the logged windows after the first (which holds the start-up costs)."""
    if not metrics.is_file():
        return None
    records = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines()]
    rates = [float(record["images_per_second"]) for record in records[1:]]
    return round(sum(rates) / len(rates), 1) if rates else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run that checks the script")
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "gpu_check" / "train")
    )
    parser.add_argument("--space", default="imagenet")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128, help="per process (the config's)")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--width-mode", default="bcnet")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.smoke:
        args.space, args.iterations, args.batch_size = "fmnist", 4, 4
        args.warmup, args.checkpoint_every, args.log_every = 1, 2, 1
    elif not torch.cuda.is_available():
        print(f"gpu_train_check: {NO_GPU}", file=sys.stderr)
        sys.exit(2)
    context = init_distributed("cpu" if args.smoke else "cuda")
    out = FilePath(args.out)
    if context.is_main:  # a check starts fresh: the trainer would resume an old checkpoint
        out.mkdir(parents=True, exist_ok=True)
        for name in ("checkpoint.pt", "metrics.jsonl", "metrics.csv", "train_check.json"):
            (out / name).unlink(missing_ok=True)
    context.barrier()
    space = load_space(args.space)
    if args.smoke:  # paths at 16..26 px: a few seconds on one CPU thread
        space = dataclasses.replace(space, resolution=16)
    side = input_side(space)
    torch.manual_seed(args.seed)
    supernet = SuperSupernet(space, width_mode=args.width_mode)
    batches = SyntheticBatches(
        batch_size=args.batch_size,
        side=side,
        num_classes=space.num_classes,
        device=context.device,
        seed=args.seed,
        rank=context.rank,
    )
    config = TrainConfig(
        iterations=args.iterations,
        lr=args.lr,
        warmup=args.warmup,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        seed=args.seed,
        progress=False,
    )
    trainer = SupernetTrainer(supernet, make_sampler("hss", space), batches, config, out, context)
    if context.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(context.device)
    started = time.perf_counter()
    try:
        result = trainer.run(resume=False)
    except NonFiniteError as error:
        print(f"gpu_train_check: {str(error).splitlines()[0]}", file=sys.stderr)
        sys.exit(1)
    seconds = time.perf_counter() - started
    if not context.is_main:
        return
    checkpoint = out / "checkpoint.pt"
    sync = "allreduce" if trainer.allreduce else "ddp" if context.distributed else "none"
    summary: dict[str, Any] = {
        "part": "train_supernet",
        "smoke": args.smoke,
        "launcher": "torchrun" if "TORCHELASTIC_RUN_ID" in os.environ else "python",
        "world_size": context.world_size,
        "device": device_name(context.device),
        "torch": torch.__version__,
        "space": space.name,
        "sampler": "hss",
        "width_mode": args.width_mode,
        "bf16": trainer.amp,
        "channels_last": trainer.channels_last,
        "gradient_sync": sync,
        "input_side": side,
        "batch_size_per_process": args.batch_size,
        "global_batch": args.batch_size * context.world_size,
        "iterations": result.iterations,
        "seconds": round(seconds, 1),
        "images_per_second": round(result.images_per_second, 1),
        "images_per_second_after_first_window": steady_rate(out / "metrics.jsonl"),
        "last_loss": round(result.last_loss, 4),
        "supernet_parameters": sum(parameter.numel() for parameter in supernet.parameters()),
        "checkpoint": str(checkpoint),
        "checkpoint_bytes": checkpoint.stat().st_size if checkpoint.is_file() else 0,
    }
    if context.device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(context.device) / 2**30
        summary["peak_memory_gib"] = round(peak, 2)
    (out / "train_check.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
