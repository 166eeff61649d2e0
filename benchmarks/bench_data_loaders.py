"""FFCV train loader vs torchvision ImageFolder + DataLoader, same images, side by side.

    python benchmarks/bench_data_loaders.py [--out benchmarks/results/data_loaders.json]

20,000 JPEG images at 64 px (Fashion-MNIST upscaled when installed, else generated) are written
once as an ImageFolder tree (PIL, quality 90) and as .beton files (JPEG and raw) made from that
tree. Every loader does random-resized-crop to 64 + horizontal flip + normalization, with the same
batch size and number of workers; loaders are timed in interleaved rounds (one epoch each per
round, after a warm-up epoch that includes FFCV's compilation) so that load changes on the
machine hit them alike. Goal of the issue: FFCV JPEG >= 3x torchvision.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from scalenet.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageFolderSource,
    find_fashion_mnist,
    idx_source,
    train_loader,
    write_beton,
)
from scalenet.data.errors import DataError


def make_images(count: int, size: int) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        source = idx_source(find_fashion_mnist(), "train")
        images = source.images[:count]
        labels = source.labels[:count]
        upscaled = np.stack(
            [
                np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BICUBIC))
                for im in images
            ]
        )
        return np.repeat(upscaled[..., None], 3, axis=3), labels, "fashion-mnist upscaled"
    except DataError:
        rng = np.random.default_rng(0)
        labels = np.arange(count) % 10
        yy, xx = np.mgrid[0:size, 0:size]
        base = ((xx[None] * (labels[:, None, None] + 1) + yy[None] * 3) % 256).astype(np.uint8)
        noise = rng.integers(0, 32, (count, size, size, 3), dtype=np.uint8)
        return (base[..., None] + noise).astype(np.uint8), labels, "generated"


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> None:
    for label in np.unique(labels):
        (root / f"c{label:02d}").mkdir(parents=True, exist_ok=True)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(image).save(root / f"c{label:02d}" / f"{index:06d}.jpg", quality=90)


def torchvision_loader(root: Path, batch_size: int, size: int, workers: int) -> Iterable[Any]:
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [
            transforms.RandomResizedCrop(size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    return torch.utils.data.DataLoader(
        datasets.ImageFolder(str(root), transform=transform),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=workers > 0,
    )


def run_epoch(loader: Iterable[Any]) -> tuple[int, float]:
    start = time.perf_counter()
    count = 0
    for images, _labels in loader:
        count += int(images.shape[0])
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/data_loaders.json"))
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="timed epochs per loader")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_data_"))
    try:
        images, labels, origin = make_images(args.images, args.size)
        folder = workdir / "folder"
        if folder.exists():
            shutil.rmtree(folder)
        start = time.perf_counter()
        write_folder(folder, images, labels)
        tree = ImageFolderSource(folder)
        write_beton(tree, workdir / "jpeg.beton", image_format="jpeg", num_workers=args.workers)
        write_beton(tree, workdir / "raw.beton", image_format="raw", num_workers=args.workers)
        prepare_s = time.perf_counter() - start

        options = {
            "batch_size": args.batch_size,
            "resolution": args.size,
            "num_workers": args.workers,
        }
        loaders: dict[str, Iterable[Any]] = {
            "ffcv_jpeg": train_loader(workdir / "jpeg.beton", backend="ffcv", **options),
            "ffcv_raw": train_loader(workdir / "raw.beton", backend="ffcv", **options),
            "torchvision_imagefolder": torchvision_loader(
                folder, args.batch_size, args.size, args.workers
            ),
            "scalenet_fallback_jpeg": train_loader(
                workdir / "jpeg.beton", backend="torchvision", **options
            ),
        }
        warmup = {name: run_epoch(loader)[1] for name, loader in loaders.items()}
        totals = {name: [0, 0.0] for name in loaders}
        for _ in range(args.rounds):
            for name, loader in loaders.items():
                count, seconds = run_epoch(loader)
                totals[name][0] += count
                totals[name][1] += seconds
        rates = {name: count / seconds for name, (count, seconds) in totals.items()}
        baseline = rates["torchvision_imagefolder"]
        result = {
            "config": {
                "images": args.images,
                "size": args.size,
                "batch_size": args.batch_size,
                "workers": args.workers,
                "rounds": args.rounds,
                "source": origin,
                "augmentation": "random-resized-crop + flip + normalize",
            },
            "images_per_s": {name: round(rate, 1) for name, rate in rates.items()},
            "ratio_vs_torchvision": {
                name: round(rate / baseline, 2) for name, rate in rates.items()
            },
            "warmup_epoch_s": {name: round(s, 2) for name, s in warmup.items()},
            "prepare_s": round(prepare_s, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
                "torch": torch.__version__,
            },
            "goal": "ffcv_jpeg >= 3x torchvision_imagefolder",
            "goal_met": rates["ffcv_jpeg"] >= 3 * baseline,
        }
        print(json.dumps(result, indent=2))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, args.out)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
