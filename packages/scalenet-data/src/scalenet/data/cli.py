"""``scalenet-data``: prepare ``.beton`` files from a source, and inspect them.

Examples::

    scalenet-data prepare --source /data/imagenet --format imagefolder --out data/imagenet
    scalenet-data prepare --source /usr/share/datasets/fashion-mnist --format idx --out data/fm
    scalenet-data inspect data/fm/train.beton --decode --verify
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from scalenet.data.beton import inspect_beton
from scalenet.data.errors import DataError, FfcvUnavailableError
from scalenet.data.sources import read_class_list
from scalenet.data.splits import DEFAULT_MINIVAL_PER_CLASS
from scalenet.data.writer import prepare_idx, prepare_imagefolder, verify_beton

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="scalenet-data", description="Prepare and inspect FFCV .beton data sets."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser(
        "prepare",
        help="write train/minival/(val|test) .beton files and manifest.json",
        description=(
            "imagefolder: SOURCE/train/<class>/* (+ SOURCE/val/<class>/* -> val.beton); "
            "idx: SOURCE/train-*-ubyte[.gz] (+ t10k-* -> test.beton). minival.beton holds "
            "--minival-per-class images of each class out of train."
        ),
    )
    prepare.add_argument("--source", required=True, help="source folder")
    prepare.add_argument("--format", required=True, choices=("imagefolder", "idx"))
    prepare.add_argument("--out", required=True, help="output folder")
    prepare.add_argument(
        "--minival-per-class",
        type=int,
        default=DEFAULT_MINIVAL_PER_CLASS,
        help="images per class held out of train (default %(default)s; 0: none)",
    )
    prepare.add_argument(
        "--classes",
        help="class subset: a file with one name per line, or 'imagenet100' (built-in CMC list)",
    )
    prepare.add_argument(
        "--class-names", help="idx only: file naming labels 0, 1, ... one per line"
    )
    prepare.add_argument(
        "--max-side", type=int, default=None, help="shrink images whose longer side exceeds S"
    )
    mode = prepare.add_mutually_exclusive_group()
    mode.add_argument(
        "--jpeg", dest="image_format", action="store_const", const="jpeg", help="(default)"
    )
    mode.add_argument("--raw", dest="image_format", action="store_const", const="raw")
    prepare.set_defaults(image_format="jpeg")
    prepare.add_argument("--jpeg-quality", type=int, default=90)
    prepare.add_argument("--seed", type=int, default=0, help="seed of the minival split")
    prepare.add_argument("--num-workers", type=int, default=None, help="writer processes")

    inspect = commands.add_parser(
        "inspect",
        help="check a .beton file and print a summary",
        description=(
            "Checks the file's structure (header, metadata, allocation table, every image "
            "pointer), not the images. JPEG data that does not decode is found by --decode "
            "(loaders decode only a few images when they open a file, and FFCV hands such an "
            "image out as garbage); JPEG data that still decodes to a wrong image, and damaged "
            "raw pixels, only by --verify."
        ),
    )
    inspect.add_argument("file", help="a .beton file")
    inspect.add_argument(
        "--decode",
        action="store_true",
        help="also decode every image (finds JPEG data that does not decode)",
    )
    inspect.add_argument(
        "--verify",
        action="store_true",
        help="also compare the content hash with the manifest.json next to the file (finds "
        "any change; reads the whole file)",
    )
    return parser


def _prepare(args: argparse.Namespace) -> None:
    classes = read_class_list(args.classes) if args.classes else None
    options = {
        "minival_per_class": args.minival_per_class,
        "seed": args.seed,
        "image_format": args.image_format,
        "max_side": args.max_side,
        "jpeg_quality": args.jpeg_quality,
        "num_workers": args.num_workers,
    }
    if args.format == "imagefolder":
        if args.class_names:
            raise DataError("--class-names: only for --format idx (folders name the classes)")
        manifest = prepare_imagefolder(args.source, args.out, classes, **options)
    else:
        names = read_class_list(args.class_names) if args.class_names else None
        manifest = prepare_idx(args.source, args.out, names, classes, **options)
    for name, record in manifest.splits.items():
        print(f"{args.out}/{record.file}: {record.num_samples} images ({name})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (1 on a data error, with the message on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "prepare":
            _prepare(args)
        else:
            info = inspect_beton(args.file, decode=args.decode).to_json()
            if args.verify:
                info["content_hash"] = verify_beton(args.file).content_hash
            print(json.dumps(info, indent=2))
    except (DataError, FfcvUnavailableError) as exc:
        print(f"scalenet-data: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
