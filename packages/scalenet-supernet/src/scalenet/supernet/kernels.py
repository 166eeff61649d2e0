"""CPU kernels that eager PyTorch lacks: a fast depthwise weight gradient, fused BN and activation.

On the CPU, PyTorch computes a depthwise convolution's weight gradient with oneDNN, which is
slow for the shapes of small MBConv networks: 5x5 and 7x7 kernels over feature maps of 2-32 pixels
(measured on 2 cores: 1.5-2.5 ms for a channels-last ``[32, 192, 4, 4]`` input and a 7x7 kernel,
against 0.03-0.1 ms for this module's loop; 3-4x for a ``[32, 48, 32, 32]`` input). It took about
half of a super-supernet training step (docs/running.md, "CPU performance").

:func:`depthwise_conv2d` is ``F.conv2d(x, weight, None, stride, padding, groups=channels)`` with a
backward pass whose weight gradient is a Numba-compiled loop over the channels-last tensors
(vectorized over channels; single-threaded, so its sums come out the same on every run). The
forward pass and the input gradient stay oneDNN's. The kernel runs where it pays and is exact
to float rounding: CPU float32 tensors with gradients; anything else (CUDA, other dtypes, no
gradient, ``torch.jit``/ONNX tracing) is plain ``F.conv2d``.

Path evaluation (BN recalibration, then the mini-val forward) is forward-only work on small
feature maps, where every BatchNorm and activation is a separate pass over memory:

* :func:`batch_norm_act` is a train-mode BatchNorm (batch statistics, running statistics
  updated as :func:`torch.nn.functional.batch_norm` does) and the activation after it in two
  Numba passes over a channels-last tensor, for the recalibration forward (no gradients);
* :func:`fold_batch_norm` and :func:`conv_act` give the eval-mode forward: each BatchNorm folded
  into the convolution before it, the activation (and a residual sum) fused into oneDNN's
  convolution as a post-op (``torch.ops.mkldnn._convolution_pointwise``, the kernel that
  ``torch.compile`` emits for the same pattern on the CPU).

``SCALENET_CPU_KERNELS=0`` in the environment turns the kernels off (PyTorch's own calls, as
before them): the benchmarks' baseline, and a way to rule the kernels out.
:class:`DepthwiseConv2d` and :class:`PointwiseConv2d` are :class:`torch.nn.Conv2d` (same
parameters, same state dict) that convolve through :func:`depthwise_conv2d` and
:func:`pointwise_conv2d`; the static networks use them.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numba
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

__all__ = [
    "KERNELS_ENV",
    "DepthwiseConv2d",
    "PointwiseConv2d",
    "activation_code",
    "batch_norm_act",
    "conv_act",
    "cpu_kernels_enabled",
    "depthwise_conv2d",
    "depthwise_weight_grad",
    "fold_batch_norm",
    "fused_inference",
    "pointwise_conv2d",
]

#: Environment variable: ``0`` (or ``false``/``no``/``off``) turns this module's kernels off.
KERNELS_ENV = "SCALENET_CPU_KERNELS"

#: Numba's compilation of the loops below: vectorized (fastmath lets it reorder float sums, so
#: they differ from PyTorch's in the last bits, the same on every run), cached on disk, no GIL.
_jit = numba.njit(fastmath=True, cache=True, boundscheck=False, nogil=True)
#: The same for the small functions the loops call: inlined into them by Numba (a call left to
#: LLVM stops the loop's vectorization, 5x slower).
_inline = numba.njit(fastmath=True, cache=True, boundscheck=False, nogil=True, inline="always")


def cpu_kernels_enabled() -> bool:
    """Whether the CPU kernels are on (``SCALENET_CPU_KERNELS`` unset or not a false value)."""
    value = os.environ.get(KERNELS_ENV, "1").strip().lower()
    if value in ("1", "true", "yes", "on", ""):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{KERNELS_ENV}={value!r} not in {{0, 1}} (or false/true, no/yes, off/on)")


@_jit
def _weight_grad_loop(x, grad_out, kernel, stride, padding, out):  # type: ignore[no-untyped-def]
    """The depthwise weight gradient as loops (compiled by Numba on first use).

    ``x`` ``[N, H, W, C]`` and ``grad_out`` ``[N, OH, OW, C]`` (channels-last views), ``out``
    ``[k, k, C]``: ``out[i, j, c]`` = the sum over ``n, oh, ow`` of
    ``x[n, oh*s + i - p, ow*s + j - p, c] * grad_out[n, oh, ow, c]``. The innermost loop runs over
    the contiguous channels (vectorized); ``out`` (at most 49 x C floats) stays in L1.
    """
    n_images, height, width, channels = x.shape
    out_h, out_w = grad_out.shape[1], grad_out.shape[2]
    out[:] = 0
    for n in range(n_images):
        for oh in range(out_h):
            for i in range(kernel):
                ih = oh * stride + i - padding
                if ih < 0 or ih >= height:
                    continue
                for ow in range(out_w):
                    for j in range(kernel):
                        iw = ow * stride + j - padding
                        if iw < 0 or iw >= width:
                            continue
                        for c in range(channels):
                            out[i, j, c] += x[n, ih, iw, c] * grad_out[n, oh, ow, c]


@_inline
def _activation(z, code):  # type: ignore[no-untyped-def]
    """``act(z)`` for the activation ``code``: 0 identity, 1 hard-swish, 2 ReLU, 3 ReLU6.

    (SiLU has no code here: its ``exp`` stops the loops' vectorization, 4.5x slower than
    PyTorch's two calls, which it keeps.)
    """
    if code == 1:
        return z * min(max(z + np.float32(3.0), np.float32(0.0)), np.float32(6.0)) / np.float32(6.0)
    if code == 2:
        return max(z, np.float32(0.0))
    if code == 3:
        return min(max(z, np.float32(0.0)), np.float32(6.0))
    return z


@_jit
def _fold_columns(columns, channels):  # type: ignore[no-untyped-def]
    """Per-column sums of a tiled ``[R, r * C]`` view folded to the ``C`` channels."""
    out = np.zeros(channels, np.float64)
    for t in range(columns.shape[0]):
        out[t % channels] += columns[t]
    return out


@_jit
def _tile(values, width):  # type: ignore[no-untyped-def]
    """``values`` (per channel) repeated across a row of ``width`` (a multiple of its size)."""
    out = np.empty(width, np.float32)
    for t in range(width):
        out[t] = values[t % values.shape[0]]
    return out


@_jit
def _batch_norm_act_loop(  # type: ignore[no-untyped-def]
    x, weight, bias, running_mean, running_var, momentum, eps, code, out
):
    """Train-mode BatchNorm of a channels-last tensor and its activation into ``out``.

    ``x`` and ``out`` are ``[R, r * C]`` views (``r`` pixels a row: rows of at least 64 floats
    vectorize however few the channels), ``out`` not ``x`` (written in place the loops do not
    vectorize). Batch statistics in float64: the biased variance normalizes, the unbiased one
    moves the running variance; the running statistics move by ``momentum`` in place.
    """
    rows, width = x.shape
    channels = weight.shape[0]
    count = rows * (width // channels)
    sums = np.zeros(width, np.float64)
    squares = np.zeros(width, np.float64)
    for m in range(rows):
        for t in range(width):
            value = np.float64(x[m, t])
            sums[t] += value
            squares[t] += value * value
    total = _fold_columns(sums, channels)
    total_squares = _fold_columns(squares, channels)
    scale = np.empty(channels, np.float32)
    shift = np.empty(channels, np.float32)
    for c in range(channels):
        mean = total[c] / count
        var = max(total_squares[c] / count - mean * mean, 0.0)
        running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean
        running_var[c] = (1.0 - momentum) * running_var[c] + momentum * var * count / (count - 1)
        invstd = np.float32(1.0 / np.sqrt(var + eps))
        scale[c] = weight[c] * invstd
        shift[c] = bias[c] - np.float32(mean) * weight[c] * invstd
    scale_row = _tile(scale, width)
    shift_row = _tile(shift, width)
    for m in range(rows):
        for t in range(width):
            out[m, t] = _activation(x[m, t] * scale_row[t] + shift_row[t], code)


def _channels_last_array(tensor: Tensor) -> np.ndarray:
    """``tensor`` ``[N, C, H, W]`` as a C-contiguous ``[N, H, W, C]`` array.

    No copy when the tensor is channels-last already.
    """
    return tensor.detach().permute(0, 2, 3, 1).contiguous().numpy()


def depthwise_weight_grad(
    x: Tensor, grad_out: Tensor, kernel: int, stride: int, padding: int
) -> Tensor:
    """The weight gradient ``[C, 1, k, k]`` of a depthwise convolution (CPU, float32).

    Args:
        x: The convolution's input ``[N, C, H, W]`` (any memory format).
        grad_out: The gradient of its output ``[N, C, OH, OW]``.
        kernel: Kernel side ``k``.
        stride: Stride.
        padding: Zero padding on every side.
    """
    channels = x.shape[1]
    out = np.empty((kernel, kernel, channels), np.float32)
    _weight_grad_loop(
        _channels_last_array(x), _channels_last_array(grad_out), kernel, stride, padding, out
    )
    return torch.from_numpy(out).permute(2, 0, 1).unsqueeze(1).contiguous()


class _DepthwiseConv2d(torch.autograd.Function):
    """oneDNN's forward and input gradient; the Numba weight gradient."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, stride: int, padding: int) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, None, stride, padding, 1, x.shape[1])

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        x, weight = ctx.saved_tensors
        stride, padding = ctx.stride, ctx.padding
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, [stride, stride], [padding, padding], [1, 1],
                False, [0, 0], x.shape[1], [True, False, False],
            )[0]  # fmt: skip
        if ctx.needs_input_grad[1]:
            grad_weight = depthwise_weight_grad(x, grad_out, weight.shape[-1], stride, padding)
        return grad_x, grad_weight, None, None


def _eligible(x: Tensor) -> bool:
    """A CPU float32 tensor outside tracing and compilation, with the kernels on."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.compiler.is_compiling()
        and cpu_kernels_enabled()
    )


def _use_kernel(x: Tensor, weight: Tensor) -> bool:
    """Whether the weight-gradient loop applies.

    It does for an eligible ``x``, a float32 weight that needs its gradient, gradients recorded.
    """
    return (
        weight.dtype == torch.float32
        and weight.requires_grad
        and torch.is_grad_enabled()
        and _eligible(x)
    )


def depthwise_conv2d(x: Tensor, weight: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
    """A depthwise convolution (``groups`` = channels, no bias) with the fast CPU weight gradient.

    Equal to ``F.conv2d(x, weight, None, stride, padding, 1, x.shape[1])`` in value and in
    gradients up to float rounding (the weight gradient sums in another order).

    Args:
        x: Input ``[N, C, H, W]``.
        weight: ``[C, 1, k, k]`` (a view, such as a supernet's sliced weight, is fine).
        stride: Stride.
        padding: Zero padding on every side.
    """
    if _use_kernel(x, weight):
        out: Tensor = _DepthwiseConv2d.apply(x, weight, stride, padding)
        return out
    return F.conv2d(x, weight, None, stride, padding, 1, x.shape[1])


def pointwise_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """A 1x1 convolution of stride 1, as a matrix product over a channels-last CPU tensor.

    ``F.linear`` on the ``[N, H, W, C]`` view (no copy) and back: its backward is two GEMMs,
    about 2x faster than oneDNN's 1x1 convolution backward on feature maps of 2-8 pixels
    (equal on larger ones), and the result is channels-last again. Other inputs (CUDA, NCHW,
    kernels off) take ``F.conv2d``.

    Args:
        x: Input ``[N, C_in, H, W]``.
        weight: ``[C_out, C_in, 1, 1]`` (a view, such as a sliced weight, is fine).
        bias: ``[C_out]`` or None.
    """
    if (
        x.device.type == "cpu"
        and x.is_contiguous(memory_format=torch.channels_last)
        and cpu_kernels_enabled()
    ):
        matrix = weight.reshape(weight.shape[0], weight.shape[1])
        return F.linear(x.permute(0, 2, 3, 1), matrix, bias).permute(0, 3, 1, 2)
    return F.conv2d(x, weight, bias)


class PointwiseConv2d(nn.Conv2d):
    """A 1x1 :class:`torch.nn.Conv2d` (stride 1) that convolves through :func:`pointwise_conv2d`.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        bias: Whether the layer has a bias.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = False):
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Convolve ``x`` (TorchScript compiles plain ``F.conv2d``)."""
        if torch.jit.is_scripting():
            return F.conv2d(x, self.weight, self.bias)
        return pointwise_conv2d(x, self.weight, self.bias)


class DepthwiseConv2d(nn.Conv2d):
    """A bias-free depthwise :class:`torch.nn.Conv2d` whose backward uses :func:`depthwise_conv2d`.

    Args:
        channels: Input and output channels (``groups`` = ``channels``).
        kernel: Square kernel side.
        stride: Stride.
        padding: Zero padding (default ``kernel // 2``).
    """

    def __init__(self, channels: int, kernel: int, stride: int = 1, padding: int | None = None):
        padding = kernel // 2 if padding is None else padding
        super().__init__(channels, channels, kernel, stride, padding, groups=channels, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Depthwise-convolve ``x`` (TorchScript compiles plain ``F.conv2d``)."""
        if torch.jit.is_scripting():
            return F.conv2d(x, self.weight, None, self.stride, self.padding, 1, self.groups)
        padding = self.padding
        assert isinstance(padding, tuple)
        return depthwise_conv2d(x, self.weight, self.stride[0], padding[0])


#: The activations the fused kernels apply, by module type: the Numba loops' code (-1: none,
#: PyTorch's calls run instead) and oneDNN's post-op (name, scalars).
ACTIVATION_CODES: dict[type[nn.Module], tuple[int, str, list[float]]] = {
    nn.Identity: (0, "none", []),
    nn.Hardswish: (1, "hardswish", []),
    nn.ReLU: (2, "relu", []),
    nn.ReLU6: (3, "hardtanh", [0.0, 6.0]),
    nn.SiLU: (-1, "swish", []),
}


def activation_code(act: nn.Module | None) -> tuple[int, str, list[float]] | None:
    """The fused kernels' code of an activation module (None: not one they implement)."""
    return ACTIVATION_CODES.get(type(act) if act is not None else nn.Identity)


@functools.cache
def _onednn() -> bool:
    """Whether this torch build has oneDNN's fused convolution (asked once per process)."""
    return torch.backends.mkldnn.is_available() and hasattr(
        torch.ops.mkldnn, "_convolution_pointwise"
    )


def fused_inference(x: Tensor) -> bool:
    """Whether the fused forward-only kernels apply to ``x``.

    They do for a CPU float32 tensor with no gradients recorded, outside tracing and
    compilation, with the kernels on and oneDNN present.
    """
    return not torch.is_grad_enabled() and _eligible(x) and _onednn()


def _rows(x: Tensor) -> tuple[int, int]:
    """The ``[R, r * C]`` shape of the view of a channels-last ``x`` that the BN loops take.

    Rows of at least 64 floats where the pixel count allows (``r`` pixels a row, a divisor of
    the pixel count), so that few channels vectorize too.
    """
    channels = x.shape[1]
    pixels = x.numel() // channels
    per_row = max(1, 64 // channels)
    while pixels % per_row:
        per_row -= 1
    return pixels // per_row, per_row * channels


def _view(tensor: Tensor, shape: tuple[int, int]) -> np.ndarray:
    """The ``[R, r * C]`` NumPy view of a channels-last contiguous CPU tensor (no copy)."""
    return tensor.detach().permute(0, 2, 3, 1).reshape(shape).numpy()


#: Smaller tensors take PyTorch's calls, whose fixed cost is lower (measured, forward only:
#: ``[32, 192, 2, 2]`` 1.4x and ``[32, 24, 8, 8]`` 1.1x slower fused, ``[32, 48, 16, 16]``
#: 1.5x and ``[32, 48, 32, 32]`` 1.7x faster).
FUSED_BN_MIN_ELEMENTS = 65536


def batch_norm_act(
    x: Tensor,
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    momentum: float,
    eps: float,
    act: nn.Module | None,
) -> Tensor:
    """Train-mode BatchNorm, then ``act``: two passes over ``x`` where PyTorch makes three.

    As ``act(F.batch_norm(x, running_mean, running_var, weight, bias, True, momentum, eps))``
    up to float rounding: ``x`` is normalized by its batch statistics (biased variance) and the
    running statistics move towards them by ``momentum`` (unbiased variance), in place. The
    fused loop runs for the BN recalibration of a path (:func:`fused_inference`: no gradients
    recorded) on a channels-last ``x`` of at least :data:`FUSED_BN_MIN_ELEMENTS` values and an
    activation the loops know (:data:`ACTIVATION_CODES`); anything else, training included,
    runs PyTorch's two calls. (A fused backward pass was measured too: no faster in the
    training step of 2 processes, whose BatchNorms are bound by the memory both share.)
    """
    code = activation_code(act)
    if (
        code is None
        or code[0] < 0
        or x.dim() != 4
        or x.numel() < FUSED_BN_MIN_ELEMENTS
        or not fused_inference(x)
        or not x.is_contiguous(memory_format=torch.channels_last)
        or not running_mean.is_contiguous()
        or not running_var.is_contiguous()
    ):
        out = F.batch_norm(x, running_mean, running_var, weight, bias, True, momentum, eps)
        return act(out) if act is not None else out
    shape = _rows(x)
    out = torch.empty_like(x, memory_format=torch.channels_last)
    _batch_norm_act_loop(
        _view(x, shape), weight.detach().contiguous().numpy(), bias.detach().contiguous().numpy(),
        _writable(running_mean), _writable(running_var), float(momentum), float(eps),
        code[0], _view(out, shape),
    )  # fmt: skip
    return out


def _writable(buffer: Tensor) -> np.ndarray:
    """A NumPy view of a contiguous CPU buffer (running statistics), written in place."""
    if not buffer.is_contiguous():
        raise ValueError("running statistics must be contiguous to be updated in place")
    return buffer.detach().numpy()


def fold_batch_norm(
    conv_weight: Tensor, weight: Tensor, bias: Tensor, mean: Tensor, var: Tensor, eps: float
) -> tuple[Tensor, Tensor]:
    """An eval-mode BatchNorm folded into the convolution before it: ``(weight', bias')``.

    ``conv(x, weight') + bias'`` equals ``batch_norm(conv(x, conv_weight))`` with the running
    statistics ``mean``, ``var`` (up to float rounding).
    """
    scale = weight * torch.rsqrt(var + eps)
    folded = (conv_weight * scale.view(-1, 1, 1, 1)).contiguous()
    return folded, (bias - mean * scale).contiguous()


def conv_act(
    x: Tensor,
    weight: Tensor,
    bias: Tensor,
    stride: int,
    padding: int,
    groups: int,
    act: nn.Module | None,
    residual: Tensor | None = None,
) -> Tensor:
    """``act(conv2d(x, weight, bias, ...))`` or ``conv2d(...) + residual`` in one oneDNN call.

    For forward-only work (:func:`fused_inference`); ``act`` must be in
    :data:`ACTIVATION_CODES` (a residual sum takes no activation). Elsewhere (oneDNN missing,
    another activation) it runs the separate torch calls.
    """
    code = activation_code(act)
    if code is None or not _onednn() or (residual is not None and code[0] != 0):
        out = F.conv2d(x, weight, bias, stride, padding, 1, groups)
        out = act(out) if act is not None else out
        return out + residual if residual is not None else out
    pad, step = [padding, padding], [stride, stride]
    if residual is not None:
        binary: Tensor = torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual, weight, bias, pad, step, [1, 1], groups, "add", 1.0, None, [], None
        )
        return binary
    fused: Tensor = torch.ops.mkldnn._convolution_pointwise(
        x, weight, bias, pad, step, [1, 1], groups, code[1], code[2], ""
    )
    return fused
