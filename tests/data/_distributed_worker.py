"""One rank of the two-process ``distributed=True`` loader test (run as a script, not collected).

Usage: ``python _distributed_worker.py RANK WORLD_SIZE PORT DATA_DIR OUT_JSON``. Joins a gloo
group on 127.0.0.1:PORT, builds the loaders of ``RUNS`` with ``distributed=True`` (train: two
epochs) and writes the labels each yielded, batch by batch, to OUT_JSON. The labels are the
sample indices.
"""

from __future__ import annotations

import datetime
import json
import sys
import warnings
from pathlib import Path

import torch.distributed as dist

from scalenet.data import eval_loader, train_loader

BATCH_SIZE = 4
SEED = 7
# (backend, loader, file); FFCV compiles a pipeline per loader (~10 s on a busy CPU), so it
# runs the two that matter: train on even.beton, eval (padded) on odd.beton.
RUNS = (
    ("ffcv", "train", "even"),
    ("ffcv", "eval", "odd"),
    ("torchvision", "train", "even"),
    ("torchvision", "train", "odd"),
    ("torchvision", "eval", "odd"),
)


def main(rank: int, world_size: int, port: int, data_dir: Path, out: Path) -> None:
    """Run every loader once (train: two epochs) and record what this rank got."""
    warnings.simplefilter("ignore")  # numba / FFCV chatter; the parent checks values
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=60),
    )
    result: dict[str, object] = {"rank": dist.get_rank(), "world_size": dist.get_world_size()}
    try:
        for backend, kind, name in RUNS:
            make = train_loader if kind == "train" else eval_loader
            loader = make(
                data_dir / f"{name}.beton",
                batch_size=BATCH_SIZE,
                resolution=8,
                distributed=True,
                seed=SEED,
                backend=backend,
                num_workers=1 if backend == "ffcv" else 0,
            )
            key = f"{backend}/{kind}/{name}"
            result[f"{key}/len"] = len(loader)
            for epoch in range(2 if kind == "train" else 1):
                result[f"{key}/{epoch}"] = [labels.tolist() for _, labels in loader]
        dist.barrier()
    finally:
        dist.destroy_process_group()
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    rank, world_size, port, data_dir, out = sys.argv[1:6]
    main(int(rank), int(world_size), int(port), Path(data_dir), Path(out))
