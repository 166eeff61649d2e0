"""Share of training steps each channel receives under each width mode (no training needed).

Draws ``--steps`` paths from a scalenet.sampling sampler exactly as the supernet trainer does (one
path per step from a generator seeded with the trainer's seed), takes the sides each step trains
(:func:`scalenet.supernet.trainer.train_sides`) and the capacity of each mode's supernet, and
counts, per channel position of a few representative dimensions of the fmnist space:

* ``step_share``: the fraction of steps in which the channel is in the active slice of at least
  one trained side (it gets a gradient in that step);
* ``pass_share``: the fraction of forward/backward passes that use it (``bcnet`` makes two passes
  per step, the other modes one).

Regions, for capacity ``C`` and the narrowest active width ``a`` of the dimension: ``centre`` the
channels between ``min(a, C - a)`` and ``max(a, C - a)`` (with ``C = ceil(c * w_max)``: the core
that every left and every right slice holds; with BCNet's ``C = ceil(c * w_max) + c``: the
channels between the two sides' outer ``c``), ``edge`` all the others; ``min``/``mean``/``max``
over the positions of each, and of all. Writes benchmarks/results/bcnet_channel_share.json and
prints a summary table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path as FilePath
from typing import Any

import numpy as np

from scalenet.sampling import make_sampler
from scalenet.space import LayerSpec, load_space
from scalenet.space import expand_path as expand
from scalenet.supernet import WIDTH_MODES, SuperSupernet, train_sides
from scalenet.supernet.dynamic.ops import channel_slice

RESULTS = FilePath(__file__).parent / "results" / "bcnet_channel_share.json"

#: (name, layer of expand_path, attribute of the width, capacity of a SuperSupernet)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "stem.out (c = 8)": ("stem", "out_chs"),
    "stage5.out (c = 32)": ("stage5.block1", "out_chs"),
    "stage5.block1.hidden (e = 3 or 6)": ("stage5.block1", "mid_chs"),
}


def capacities(net: SuperSupernet) -> dict[str, int]:
    """The capacity of every measured dimension in ``net``."""
    block = net.slots[4][0]
    return {
        "stem.out (c = 8)": net.stem_conv.max_out_chs,
        "stage5.out (c = 32)": block.max_out_chs,
        "stage5.block1.hidden (e = 3 or 6)": block.max_mid_chs,
    }


def summarize(values: np.ndarray) -> dict[str, float]:
    return {
        "min": round(float(values.min()), 4),
        "mean": round(float(values.mean()), 4),
        "max": round(float(values.max()), 4),
    }


def regions(share: np.ndarray, narrowest: int) -> dict[str, dict[str, float]]:
    capacity = len(share)
    low, high = sorted((narrowest, capacity - narrowest))
    centre = np.zeros(capacity, dtype=bool)
    centre[low:high] = True
    return {
        "all": summarize(share),
        "edge": summarize(share[~centre]),
        "centre": summarize(share[centre]) if centre.any() else {},
        "centre_channels": [low, high],  # type: ignore[dict-item]
    }


def measure(
    widths: dict[str, np.ndarray], mode: str, net: SuperSupernet
) -> dict[str, dict[str, Any]]:
    """Per dimension: capacity, width range and the shares of every channel position."""
    steps = len(next(iter(widths.values())))
    sides = [train_sides(mode, step) for step in range(steps)]
    out: dict[str, dict[str, Any]] = {}
    for name, capacity in capacities(net).items():
        stepped = np.zeros(capacity)
        passes = np.zeros(capacity)
        total_passes = 0
        for active, step_sides in zip(widths[name].tolist(), sides, strict=True):
            used = np.zeros(capacity, dtype=bool)
            for side in step_sides:
                part = channel_slice(active, capacity, side)
                passes[part] += 1
                used[part] = True
                total_passes += 1
            stepped += used
        step_share = stepped / steps
        pass_share = passes / total_passes
        out[name] = {
            "capacity": capacity,
            "widths": [int(widths[name].min()), int(widths[name].max())],
            "step_share": regions(step_share, int(widths[name].min())),
            "pass_share": regions(pass_share, int(widths[name].min())),
            "step_share_per_channel": [round(float(v), 4) for v in step_share],
            "pass_share_per_channel": [round(float(v), 4) for v in pass_share],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--samplers", nargs="+", default=["hss", "uniform"])
    parser.add_argument("--seed", type=int, default=0, help="the trainer's seed")
    parser.add_argument("--out", type=FilePath, default=RESULTS)
    args = parser.parse_args()

    space = load_space("fmnist")
    nets = {mode: SuperSupernet(space, width_mode=mode) for mode in WIDTH_MODES}
    results: dict[str, Any] = {"space": space.name, "steps": args.steps, "samplers": {}}
    for sampler_name in args.samplers:
        sampler = make_sampler(sampler_name, space)
        rng = np.random.default_rng(args.seed)  # SupernetTrainer.path_rng
        widths: dict[str, list[int]] = {name: [] for name in DIMENSIONS}
        for _ in range(args.steps):
            layers: dict[str, LayerSpec] = {
                layer.name: layer for layer in expand(space, sampler.sample(rng)).layers
            }
            for name, (layer_name, attribute) in DIMENSIONS.items():
                widths[name].append(getattr(layers[layer_name], attribute))
        arrays = {name: np.asarray(values) for name, values in widths.items()}
        results["samplers"][sampler_name] = {
            mode: measure(arrays, mode, net) for mode, net in nets.items()
        }

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"{args.steps} steps per sampler; shares min / mean / max (edge | centre)")
    for sampler_name, modes in results["samplers"].items():
        for mode, dims in modes.items():
            for name, record in dims.items():
                for kind in ("step_share", "pass_share"):
                    cells = " | ".join(
                        "{min:.2f}/{mean:.2f}/{max:.2f}".format(**record[kind][region])
                        for region in ("edge", "centre")
                    )
                    low, high = record[kind]["centre_channels"]
                    print(
                        f"{sampler_name:7s} {mode:15s} {name:34s} C={record['capacity']:4d} "
                        f"centre [{low:3d}, {high:3d}) {kind:10s} {cells}"
                    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
