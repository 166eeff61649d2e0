"""timm's block strings of a scaled path: rebuild a ScaleNet network in timm or another framework.

* :func:`arch_def`: the scaled blocks of a path in timm's ``arch_def`` notation, one list of
  block strings per stage (``ir_r2_k5_s2_e6_c40_se0.25``); for EfficientNet-B0 in the imagenet
  space it is timm's ``efficientnet_b0`` definition, block for block;
* :func:`block_string`: the same with a header (path, space, resolution, stem, head, FLOPs and
  parameters), one line per stage; :func:`write_block_string` writes it to a file atomically.

Pure space logic (no torch): what a path expands to (:func:`~scalenet.space.network.expand_path`).
"""

from __future__ import annotations

import os

from scalenet.space.arch import Path
from scalenet.space.files import write_text
from scalenet.space.network import expand_path, scaled_blocks
from scalenet.space.space import SearchSpace

__all__ = ["arch_def", "block_string", "write_block_string"]


def _fmt(value: float) -> str:
    return f"{value:g}"


def arch_def(space: SearchSpace, path: Path | str) -> list[list[str]]:
    """The timm ``arch_def`` of the scaled path: one list of block strings per stage.

    Consecutive identical blocks of a stage share one entry with a repeat count (timm applies the
    stride to the entry's first block only); ``ds`` is a depthwise-separable block (expand 1),
    ``ir`` an inverted residual; ``c`` is the scaled output width, ``se`` the squeeze ratio of the
    block's input channels (scalenet's convention: ``max(1, int(ratio * in_chs))``).
    """
    if isinstance(path, str):
        path = Path.decode(path)
    network = expand_path(space, path)
    layers = {layer.name: layer for layer in network.layers}
    stages: list[list[str]] = []
    for stage_index, blocks in enumerate(scaled_blocks(space, path), start=1):
        entries: list[str] = []
        index = 0
        while index < len(blocks):
            repeat = 1
            while index + repeat < len(blocks) and blocks[index + repeat] == blocks[index]:
                repeat += 1
            block = blocks[index]
            layer = layers[f"stage{stage_index}.block{index + 1}"]
            kind = "ds" if block.expand == 1 else "ir"
            parts = [kind, f"r{repeat}", f"k{block.kernel}", f"s{layer.stride}"]
            if block.expand != 1:
                parts.append(f"e{block.expand}")
            parts.append(f"c{layer.out_chs}")
            if block.se:
                parts.append(f"se{_fmt(space.se_ratio)}")
            entries.append("_".join(parts))
            index += repeat
        stages.append(entries)
    return stages


def block_string(space: SearchSpace, path: Path | str) -> str:
    """A readable listing of the scaled path: header comments, then one line per stage.

    Example line: ``stage2: ir_r1_k3_s2_e6_c24_se0.25 ir_r2_k5_s1_e6_c24_se0.25``.
    """
    if isinstance(path, str):
        path = Path.decode(path)
    network = expand_path(space, path)
    stem = network.layers[0]
    head = next(layer for layer in network.layers if layer.name == "head")
    lines = [
        f"# path {path.encode()}",
        f"# space {space.name}: resolution {network.resolution}, stem conv3x3 s{stem.stride} "
        f"c{stem.out_chs}, head conv1x1 c{head.out_chs}, classes {space.num_classes}, "
        f"activation {space.activation}, SE gate {space.gate}",
        f"# flops {network.flops} (multiply-accumulates), params {network.params}",
    ]
    for index, entries in enumerate(arch_def(space, path), start=1):
        lines.append(f"stage{index}: {' '.join(entries)}")
    return "\n".join(lines) + "\n"


def write_block_string(space: SearchSpace, path: Path | str, file: str | os.PathLike[str]) -> None:
    """Write :func:`block_string` to ``file`` atomically."""
    write_text(file, block_string(space, path), fsync=True)
