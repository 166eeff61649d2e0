"""Subprocess entry of the resume and DDP tests: train a tiny super-supernet into OUT.

Usage: python supernet_train_script.py OUT ITERATIONS CHECKPOINT_EVERY [WIDTH_MODE [SYNC]]
(under torchrun it trains with DDP on gloo; every rank writes rank<r>.pt with its final weights and
paths<r>.json with the path string of each of its steps)
"""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import torch
from supernet_testutils import StageSampler

from scalenet.data import ShuffledBatches, synthetic_images
from scalenet.space import Path, load_space
from scalenet.supernet import SupernetTrainer, SuperSupernet, TrainConfig
from scalenet.supernet.engine import init_distributed


class RecordingSampler:
    """The test sampler, noting every path it hands to the trainer (one list per rank)."""

    def __init__(self, sampler: StageSampler) -> None:
        self.sampler = sampler
        self.paths: list[str] = []

    def sample(self, rng: np.random.Generator) -> Path:
        path = self.sampler.sample(rng)
        self.paths.append(path.encode())
        return path


def main() -> None:
    out, iterations, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    width_mode = sys.argv[4] if len(sys.argv) > 4 else "bcnet"
    gradient_sync = sys.argv[5] if len(sys.argv) > 5 else "auto"
    torch.set_num_threads(1)
    context = init_distributed("cpu")
    space = dataclasses.replace(load_space("fmnist"), resolution=16)
    torch.manual_seed(0)
    supernet = SuperSupernet(space, width_mode=width_mode)
    data = synthetic_images(256, side=16, seed=0)
    batches = ShuffledBatches(data, 8, seed=1, rank=context.rank, world_size=context.world_size)
    config = TrainConfig(
        iterations=iterations, lr=0.05, warmup=2, checkpoint_every=every, log_every=1,
        seed=3, progress=False, gradient_sync=gradient_sync,
    )  # fmt: skip
    sampler = RecordingSampler(StageSampler(space, max_stage=1))
    trainer = SupernetTrainer(supernet, sampler, batches, config, out, context)
    result = trainer.run()
    torch.save(supernet.state_dict(), f"{out}/rank{context.rank}.pt")
    with open(f"{out}/paths{context.rank}.json", "w", encoding="utf-8") as stream:
        json.dump(sampler.paths, stream)
    print(f"done {result.iterations} resumed_from {result.resumed_from}")
    if context.distributed:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
