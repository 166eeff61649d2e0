"""Export of static networks: ONNX (checked with onnxruntime), TorchScript, timm block strings.

* :func:`export_onnx`: ``torch.onnx.export`` (TorchScript-based exporter, opset 17) with a dynamic
  batch axis; the graph expects images already at the path's resolution (the resize of
  :class:`~scalenet.supernet.static.Resize` is a no-op there and is traced away). ``verify=True``
  runs the file with onnxruntime on a random batch and compares it with PyTorch.
* :func:`export_torchscript`: ``torch.jit.script`` (the resize stays in the graph, any input size).
* :func:`arch_def` / :func:`block_string`: the scaled blocks of a path in timm's ``arch_def``
  notation (``ir_r2_k5_s2_e6_c40_se0.25``), so the network can be rebuilt in other frameworks.

ONNX needs the ``export`` extra (``onnx``, ``onnxruntime``), imported lazily.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path as FilePath

import torch
from torch import nn

from scalenet.space import Path, SearchSpace, expand_path
from scalenet.space.files import atomic_write
from scalenet.space.network import scaled_blocks

__all__ = [
    "arch_def",
    "block_string",
    "export_onnx",
    "export_torchscript",
    "onnx_max_abs_diff",
    "write_block_string",
]


def _resolution(model: nn.Module) -> int:
    resolution = getattr(model, "resolution", None)
    if not isinstance(resolution, int):
        raise ValueError("model has no integer 'resolution' (a StaticNet has)")
    return resolution


def export_onnx(
    model: nn.Module,
    file: str | os.PathLike[str],
    *,
    opset: int = 17,
    verify: bool = True,
    tolerance: float = 1e-4,
    seed: int = 0,
) -> float | None:
    """Write ``model`` as ONNX (input ``images`` [batch, 3, R, R], output ``logits``).

    Args:
        model: A static network (exported in eval mode, on the CPU; the model is not changed).
        file: Target ``.onnx`` file (written atomically).
        opset: ONNX opset.
        verify: Run the file with onnxruntime and compare with PyTorch.
        tolerance: Largest allowed absolute logit difference when verifying.
        seed: Seed of the verification batch.

    Returns:
        The max absolute difference when ``verify``, else None.

    Raises:
        ValueError: If the onnxruntime output differs by more than ``tolerance``.
        ImportError: If ``onnx`` / ``onnxruntime`` are missing (``pip install
            scalenet-supernet[export]``).
    """
    import copy

    resolution = _resolution(model)
    cpu_model = copy.deepcopy(model).cpu().eval()
    images = torch.zeros(2, 3, resolution, resolution)

    def write(temp: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                cpu_model,
                (images,),
                temp,
                dynamo=False,
                input_names=["images"],
                output_names=["logits"],
                dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=opset,
            )

    atomic_write(file, write, fsync=True)
    if not verify:
        return None
    difference = onnx_max_abs_diff(cpu_model, file, seed=seed)
    if difference > tolerance:
        raise ValueError(
            f"{file}: onnxruntime logits differ from PyTorch by {difference:.3g} > {tolerance:g}"
        )
    return difference


@torch.no_grad()
def onnx_max_abs_diff(
    model: nn.Module, file: str | os.PathLike[str], *, batch: int = 2, seed: int = 0
) -> float:
    """Max absolute difference of the logits of ``model`` (eval, CPU) and the ONNX ``file``."""
    try:
        import onnx  # type: ignore[import-not-found,unused-ignore]
        import onnxruntime  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise ImportError(
            "ONNX export needs onnx and onnxruntime: pip install 'scalenet-supernet[export]'"
        ) from None
    onnx.checker.check_model(str(file))
    resolution = _resolution(model)
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, resolution, resolution, generator=generator)
    session = onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    (ort_logits,) = session.run(["logits"], {"images": images.numpy()})
    was_training = model.training
    model.eval()
    try:
        reference = model.cpu()(images)
    finally:
        model.train(was_training)
    return float((torch.from_numpy(ort_logits) - reference).abs().max())


def export_torchscript(model: nn.Module, file: str | os.PathLike[str]) -> torch.jit.ScriptModule:
    """Write ``model`` (eval, CPU copy) as TorchScript with ``torch.jit.script``; returns it."""
    import copy

    cpu_model = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(cpu_model)
        atomic_write(file, lambda temp: torch.jit.save(scripted, temp), fsync=True)
    return scripted


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
    text = block_string(space, path)
    atomic_write(file, lambda temp: FilePath(temp).write_text(text, encoding="utf-8"), fsync=True)
