"""Export of static networks: ONNX (checked with onnxruntime) and TorchScript.

* :func:`export_onnx`: ``torch.onnx.export`` (TorchScript-based exporter, opset 17) with a dynamic
  batch axis; the graph expects images already at the path's resolution (the resize of
  :class:`~scalenet.supernet.standalone.static.Resize` is a no-op there and is traced away).
  ``verify=True`` runs the file with onnxruntime on a random batch and compares it with PyTorch.
* :func:`export_torchscript`: ``torch.jit.script`` (the resize stays in the graph, any input size).

The timm block strings of a path (``arch_def``, ``block_string``) are pure space logic: they live
in :mod:`scalenet.space.timm` (re-exported by :mod:`scalenet.supernet`).

ONNX needs the ``export`` extra (``onnx``, ``onnxruntime``), imported lazily.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import nn

from scalenet.space.files import atomic_write

__all__ = ["export_onnx", "export_torchscript", "onnx_max_abs_diff"]


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
