"""GPU benchmark (prepared script): super-supernet training throughput vs static networks.

ImageNet space, 224 px, batch 256, bf16 autocast, channels_last, SGD (Nesterov) steps:

* the super-supernet over random paths (base model uniform, depth and width from a random scaling
  stage's grid, resolution 1.0 so every path runs at 224 px);
* the same paths extracted as static networks;
* torchvision's efficientnet_b0 as the reference.

Prints images/s and the ratios (goal: supernet within 1.25x of static) and saves
benchmarks/results/supernet_gpu.json. Needs only torch (>= 2.4), numpy, pyyaml and this
repository's scalenet-space / scalenet-supernet sources (no ffcv, deap or dvc); torchvision is
optional. ``--smoke`` runs a tiny CPU version (2 paths, batch 2, 64 px) to check the script;
without ``--smoke`` and without a CUDA GPU it exits at once with status 2 and one line on stderr.
scripts/gpu_check.sh runs it as the first of its three parts.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path as FilePath
from typing import Any

ROOT = FilePath(__file__).resolve().parent.parent
for package in ("scalenet-space", "scalenet-supernet"):
    source = ROOT / "packages" / package / "src"
    if source.is_dir() and str(source) not in sys.path:
        sys.path.insert(0, str(source))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from scalenet.space import Path, Scaling, load_space, random_base_batch  # noqa: E402
from scalenet.supernet.dynamic.model import SuperSupernet  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "supernet_gpu.json"
NO_GPU = (
    "no CUDA GPU visible (torch.cuda.is_available() is False); run this on a machine with a GPU "
    "or pass --smoke for the CPU check of the script"
)


def sample_paths(space_name: str, count: int, seed: int) -> list[Path]:
    space = load_space(space_name)
    rng = np.random.default_rng(seed)
    paths = []
    for _ in range(count):
        base = random_base_batch(space, 1, rng).path(0, space).base
        grid = space.scaling.grid(int(rng.integers(space.scaling.max_stage + 1)))
        scaling = Scaling(float(rng.choice(grid.depth)), float(rng.choice(grid.width)), 1.0)
        paths.append(Path(base, scaling))
    return paths


def throughput(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    warmup: int,
    steps: int,
    amp: bool,
    before_step: object = None,
) -> float:
    """Training images/s: ``warmup`` untimed steps, then ``steps`` timed ones."""
    device = images.device
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = criterion(model(images).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * images.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run that checks the script")
    parser.add_argument("--paths", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    if args.smoke:
        args.paths, args.batch_size, args.warmup, args.steps = 2, 2, 1, 1
    elif not torch.cuda.is_available():
        print(f"gpu_supernet: {NO_GPU}", file=sys.stderr)
        sys.exit(2)
    device = torch.device("cpu" if args.smoke else "cuda")
    amp = device.type == "cuda"
    channels_last = device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed)
    space = load_space("imagenet")
    resolution = 64 if args.smoke else space.resolution
    memory = torch.channels_last if channels_last else torch.contiguous_format
    images = torch.randn(args.batch_size, 3, resolution, resolution, device=device)
    images = images.contiguous(memory_format=memory)
    labels = torch.randint(0, space.num_classes, (args.batch_size,), device=device)
    supernet = SuperSupernet(space, width_mode="bcnet").to(device).train()
    supernet.to(memory_format=memory)

    def rate(model: nn.Module) -> float:
        return throughput(model, images, labels, warmup=args.warmup, steps=args.steps, amp=amp)

    rows: list[dict[str, Any]] = []
    super_rates, static_rates = [], []
    for index, path in enumerate(sample_paths("imagenet", args.paths, args.seed)):
        side = "left" if index % 2 == 0 else "right"
        supernet.set_active(path, side)
        if args.smoke:  # the supernet resizes to the path's resolution; keep the smoke input small
            supernet.set_active(
                Path(path.base, Scaling(path.scaling.depth, path.scaling.width, 64 / 224)), side
            )
        super_rate = rate(supernet)
        active = supernet.active
        assert active is not None
        static = supernet.extract(active.path, side).to(device).train().to(memory_format=memory)
        static_rate = rate(static)
        super_rates.append(super_rate)
        static_rates.append(static_rate)
        rows.append(
            {
                "path": path.encode(),
                "supernet_img_s": round(super_rate, 1),
                "static_img_s": round(static_rate, 1),
                "static_over_supernet": round(static_rate / super_rate, 3),
            }
        )
        print(f"path {index}: supernet {super_rate:8.1f} img/s  static {static_rate:8.1f} img/s  "
              f"ratio {static_rate / super_rate:.3f}", flush=True)  # fmt: skip
        del static
    reference: dict[str, Any] = {}
    try:
        import torchvision

        b0 = torchvision.models.efficientnet_b0(weights=None).to(device).train()
        b0 = b0.to(memory_format=memory)
        b0_rate = rate(b0)
        reference = {"efficientnet_b0_img_s": round(b0_rate, 1)}
        print(f"torchvision efficientnet_b0: {b0_rate:8.1f} img/s", flush=True)
    except ImportError:
        reference = {"efficientnet_b0_img_s": None, "note": "torchvision not installed"}
    super_mean = statistics.fmean(super_rates)
    static_mean = statistics.fmean(static_rates)
    ratios = [static / sup for static, sup in zip(static_rates, super_rates, strict=True)]
    summary: dict[str, Any] = {
        "benchmark": "supernet_gpu_train_throughput",
        "part": "throughput",
        "smoke": args.smoke,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.machine(),
        "torch": torch.__version__,
        "space": "imagenet",
        "resolution": resolution,
        "batch_size": args.batch_size,
        "bf16": amp,
        "channels_last": channels_last,
        "supernet_img_s_mean": round(super_mean, 1),
        "static_img_s_mean": round(static_mean, 1),
        "static_over_supernet_median": round(statistics.median(ratios), 3),
        "goal": "static_over_supernet_median <= 1.25",
        **reference,
        "rows": rows,
    }
    if reference.get("efficientnet_b0_img_s"):
        summary["b0_over_supernet"] = round(reference["efficientnet_b0_img_s"] / super_mean, 3)
    out = FilePath(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
