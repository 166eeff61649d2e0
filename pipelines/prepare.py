"""DVC stage `prepare`: Fashion-MNIST (the embedded default) -> .beton files + manifest.json.

    python pipelines/prepare.py --params params.yaml --out data/fmnist

Reads the `prepare:` section of params.yaml (source: an IDX folder, or null for Debian's
/usr/share/datasets/fashion-mnist; image_format jpeg | raw; max_side; jpeg_quality;
minival_per_class; seed; num_workers: 1 gives byte-identical files run to run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import fail, load_params

from scalenet.data import (
    FASHION_MNIST_CLASSES,
    DataError,
    FfcvUnavailableError,
    find_fashion_mnist,
    prepare_idx,
)

SCHEMA: dict[str, type | tuple[type, ...]] = {
    "source": (str, type(None)),
    "image_format": str,
    "max_side": (int, type(None)),
    "jpeg_quality": int,
    "minival_per_class": int,
    "seed": int,
    "num_workers": int,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path, default=Path("data/fmnist"))
    args = parser.parse_args()
    section = load_params(args.params, "prepare", SCHEMA)
    try:
        source = find_fashion_mnist(section["source"])
        manifest = prepare_idx(
            source,
            args.out,
            class_names=FASHION_MNIST_CLASSES,
            image_format=section["image_format"],
            max_side=section["max_side"],
            jpeg_quality=section["jpeg_quality"],
            minival_per_class=section["minival_per_class"],
            seed=section["seed"],
            num_workers=section["num_workers"],
        )
    except (DataError, FfcvUnavailableError) as error:
        fail(str(error))
    for name, record in manifest.splits.items():
        print(f"{args.out / record.file}: {record.num_samples} images ({name})")


if __name__ == "__main__":
    main()
