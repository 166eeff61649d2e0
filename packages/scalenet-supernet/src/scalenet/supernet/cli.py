"""Command line: ``scalenet-supernet {info,train,eval,extract}``.

* ``info``: capacity of the super-supernet of a space (slots, channels, parameters);
* ``train``: train on Fashion-MNIST IDX files (the embedded default) with a scalenet.sampling
  sampler; resumes from ``OUT/checkpoint.pt`` when it is there (torchrun works too);
* ``eval``: mini-val top-1 of paths of a trained checkpoint (BN recalibrated per path);
* ``extract``: save a path of a checkpoint as a standalone static network.

Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import torch

from scalenet.data import (
    FASHION_MNIST_DIR,
    ImageSet,
    ShuffledBatches,
    fixed_batches,
    load_fashion_mnist,
    minival_split,
)
from scalenet.space import Path, load_space
from scalenet.space.cli_support import OneLineParser
from scalenet.supernet.dynamic.model import WIDTH_MODES, SuperSupernet
from scalenet.supernet.engine import CheckpointError, NonFiniteError, init_distributed
from scalenet.supernet.evaluate import SupernetEvaluator
from scalenet.supernet.standalone.static import save_static
from scalenet.supernet.trainer import (
    SupernetTrainer,
    TrainConfig,
)

__all__ = ["main", "split_fashion_mnist"]


def split_fashion_mnist(root: str, per_class: int, seed: int) -> tuple[ImageSet, ImageSet]:
    """Fashion-MNIST's training set split into (train, mini-val) with ``per_class`` held out."""
    data = load_fashion_mnist(root, "train")
    train_idx, minival_idx = minival_split(data.labels, per_class, seed)
    return data.subset(train_idx), data.subset(minival_idx)


def _build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="scalenet-supernet", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    info = commands.add_parser("info", help="capacity of a space's super-supernet")
    info.add_argument("--space", default="fmnist")
    info.add_argument("--width-mode", default="bcnet", choices=WIDTH_MODES)
    info.add_argument("--json", action="store_true")

    train = commands.add_parser("train", help="train on Fashion-MNIST (resumes from OUT)")
    train.add_argument("--space", default="fmnist")
    train.add_argument("--sampler", default="hss", help="scalenet.sampling sampler: hss or uniform")
    train.add_argument("--out", required=True, help="folder for checkpoint.pt and metrics.jsonl")
    train.add_argument("--data", default=FASHION_MNIST_DIR, help="folder of the IDX files")
    train.add_argument("--iterations", type=int, default=300)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=0.1)
    train.add_argument("--warmup", type=int, default=20)
    train.add_argument("--width-mode", default="bcnet", choices=WIDTH_MODES)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--checkpoint-every", type=int, default=50)
    train.add_argument("--minival-per-class", type=int, default=50)
    train.add_argument("--amp", default="auto", choices=("auto", "bf16", "off"))
    train.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    train.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)"
    )
    train.add_argument("--json", action="store_true")

    evaluate = commands.add_parser("eval", help="mini-val top-1 of paths of a checkpoint")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--path", action="append", required=True, help="path string (repeatable)")
    evaluate.add_argument("--data", default=FASHION_MNIST_DIR)
    evaluate.add_argument("--minival-per-class", type=int, default=50)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--recalib-batches", type=int, default=10)
    evaluate.add_argument("--batch-size", type=int, default=128)
    evaluate.add_argument("--side", default=None, choices=("left", "right", "both"))
    evaluate.add_argument("--json", action="store_true")

    extract = commands.add_parser("extract", help="save a path as a static network")
    extract.add_argument("--checkpoint", required=True)
    extract.add_argument("--path", required=True)
    extract.add_argument("--side", default="left", choices=("left", "right", "both"))
    extract.add_argument("--out", required=True)
    return parser


def _cmd_info(args: argparse.Namespace) -> dict[str, Any]:
    space = load_space(args.space)
    net = SuperSupernet(space, width_mode=args.width_mode)
    stages: list[Any] = list(net.stages)
    return {
        "space": space.name,
        "width_mode": net.width_mode,
        "slots_per_stage": [len(stage) for stage in stages],
        "stage_out_chs": [stage[0].max_out_chs for stage in stages],
        "stem_chs": net.stem_conv.max_out_chs,
        "params": sum(p.numel() for p in net.parameters()),
        "max_depth_coef": net.max_depth_coef,
        "max_width_coef": net.max_width_coef,
    }


def _cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from scalenet.sampling import make_sampler  # lazy: only the CLI needs the sampler package

    if args.threads:
        torch.set_num_threads(args.threads)
    space = load_space(args.space)
    sampler = make_sampler(args.sampler, space)
    context = init_distributed(args.device)
    train, _minival = split_fashion_mnist(args.data, args.minival_per_class, args.seed)
    batches = ShuffledBatches(
        train, args.batch_size, args.seed, rank=context.rank, world_size=context.world_size
    )
    config = TrainConfig(
        iterations=args.iterations, lr=args.lr, warmup=args.warmup, amp=args.amp,
        checkpoint_every=args.checkpoint_every, seed=args.seed, progress=sys.stderr.isatty(),
    )  # fmt: skip
    torch.manual_seed(args.seed)
    supernet = SuperSupernet(space, width_mode=args.width_mode)
    result = SupernetTrainer(supernet, sampler, batches, config, args.out, context).run()
    return {"out": args.out, **result.__dict__}


def _cmd_eval(args: argparse.Namespace) -> dict[str, Any]:
    supernet = SuperSupernet.from_checkpoint(args.checkpoint)
    train, minival = split_fashion_mnist(args.data, args.minival_per_class, args.seed)
    evaluator = SupernetEvaluator(
        supernet,
        ShuffledBatches(train, args.batch_size, args.seed),
        fixed_batches(minival, args.batch_size),
        recalib_batches=args.recalib_batches,
        side=args.side,
    )
    return {text: evaluator(Path.decode(text)) for text in args.path}


def _cmd_extract(args: argparse.Namespace) -> dict[str, Any]:
    supernet = SuperSupernet.from_checkpoint(args.checkpoint).eval()
    model = supernet.extract(Path.decode(args.path), args.side)
    save_static(model, args.out)
    return {
        "out": args.out,
        "path": model.path,
        "params": sum(p.numel() for p in model.parameters()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``scalenet-supernet``."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    handlers = {"info": _cmd_info, "train": _cmd_train, "eval": _cmd_eval, "extract": _cmd_extract}
    try:
        result = handlers[args.command](args)
    except (ValueError, FileNotFoundError, CheckpointError, NonFiniteError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        parser.exit(2, f"{parser.prog} {args.command}: error: {message}\n")
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
