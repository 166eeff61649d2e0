"""DVC stage `prepare`: a data set -> .beton files + manifest.json.

    python pipelines/prepare.py --params params.yaml --out data/prepared

Reads the `prepare:` section of params.yaml: dataset fmnist (the embedded default: an IDX folder
in `source`, or null for Debian's /usr/share/datasets/fashion-mnist; writes train, minival and
test) or imagefolder (`source`: a folder with train/<class>/* and optionally val/<class>/*;
writes train, minival and val; `classes`: null, a shipped class list such as imagenet100, or a
list of class folder names); image_format jpeg | raw; max_side; jpeg_quality; minival_per_class;
seed; num_workers (1 gives byte-identical files run to run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import fail, load_params, stage_cost

from scalenet.data import (
    FASHION_MNIST_CLASSES,
    DataError,
    FfcvUnavailableError,
    find_fashion_mnist,
    prepare_idx,
    prepare_imagefolder,
    read_class_list,
)


def _classes(value: str | list[str] | None) -> list[str] | None:
    """prepare.classes: None (all), a shipped class list name or file, or a list of names."""
    if value is None:
        return None
    if isinstance(value, list):
        if not value or not all(isinstance(name, str) for name in value):
            fail("prepare.classes must be a non-empty list of class names")
        return value
    return read_class_list(value)  # a shipped list name (imagenet100) or a file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path, default=Path("data/prepared"))
    args = parser.parse_args()
    section = load_params(args.params, "prepare")
    options = {
        "image_format": section["image_format"],
        "max_side": section["max_side"],
        "jpeg_quality": section["jpeg_quality"],
        "minival_per_class": section["minival_per_class"],
        "seed": section["seed"],
        "num_workers": section["num_workers"],
    }
    try:
        classes = _classes(section["classes"])
        if section["dataset"] == "fmnist":
            source = find_fashion_mnist(section["source"])
            manifest = prepare_idx(
                source, args.out, class_names=FASHION_MNIST_CLASSES, classes=classes, **options
            )
        else:
            if section["source"] is None:
                fail("prepare.source must name the image folder (prepare.dataset: imagefolder)")
            manifest = prepare_imagefolder(section["source"], args.out, classes, **options)
    except (DataError, FfcvUnavailableError) as error:
        fail(str(error))
    for name, record in manifest.splits.items():
        print(f"{args.out / record.file}: {record.num_samples} images ({name})")


if __name__ == "__main__":
    with stage_cost("prepare"):
        main()
