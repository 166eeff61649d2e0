"""Reusable training machinery: distributed context, schedules, guards, checkpoints, metrics.

Nothing here knows about supernets; the supernet trainer (:mod:`scalenet.supernet.trainer`) and a
retraining trainer compose these pieces:

* :class:`DistContext` / :func:`init_distributed`: rank, world size and device from torchrun's
  environment (gloo on CPU, nccl on GPU), or a single process;
* :func:`warmup_cosine` and :func:`param_groups`: the lr schedule (linear warm-up, then cosine) and
  weight-decay groups (none on BN and biases);
* :func:`check_finite` and :class:`NonFiniteError`: the loss / gradient-norm guard;
* :class:`Checkpointer` and :class:`CheckpointError`: atomic checkpoints with every state needed
  for an exact resume (RNG states included, :func:`capture_rng` / :func:`restore_rng`);
* :class:`MetricsWriter`: metrics as JSON lines (one object per line, DVC plots), truncated to the
  resumed iteration so a restart never duplicates lines;
* :class:`Throughput` and :func:`progress`: images/s and a tqdm bar on rank 0.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "DistContext",
    "MetricsWriter",
    "NonFiniteError",
    "Throughput",
    "atomic_write_bytes",
    "capture_rng",
    "check_finite",
    "init_distributed",
    "param_groups",
    "progress",
    "restore_rng",
    "warmup_cosine",
]


_CPU = torch.device("cpu")


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (corrupted, truncated or of another run)."""


class NonFiniteError(RuntimeError):
    """The loss or the gradient norm became NaN or infinite."""


@dataclass(frozen=True)
class DistContext:
    """Where this process runs.

    Attributes:
        rank: Global rank (0 in a single process).
        world_size: Number of processes.
        local_rank: Rank on this machine.
        device: The torch device of this process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = _CPU

    @property
    def distributed(self) -> bool:
        """Whether a process group with more than one member is running."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that writes files and shows progress)."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every rank (no-op in a single process)."""
        if self.distributed:
            dist.barrier()

    def mean(self, value: float) -> float:
        """Mean of ``value`` over the ranks."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size


def init_distributed(device: str = "auto") -> DistContext:
    """Join torchrun's process group if its environment is set, else run alone.

    Args:
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    Returns:
        The :class:`DistContext`; with ``WORLD_SIZE > 1`` the default process group is initialized
        (nccl on CUDA, gloo on CPU).
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device {device!r} not in {{auto, cpu, cuda}}")
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        torch_device = torch.device("cuda", local_rank)
    else:
        torch_device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistContext(rank, world_size, local_rank, torch_device)


def warmup_cosine(iteration: int, total: int, warmup: int, final_factor: float = 0.0) -> float:
    """The lr factor: linear 0 -> 1 over ``warmup`` iterations, then a cosine to ``final_factor``.

    The warm-up of supplementary A rises linearly from zero; the cosine anneals the rest.
    """
    if warmup > 0 and iteration < warmup:
        return (iteration + 1) / warmup
    span = max(1, total - warmup)
    progress_done = min(1.0, (iteration - warmup) / span)
    return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress_done))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimizer groups: weights with ``weight_decay``, BN parameters and biases without.

    One-dimensional parameters (BN affine pairs, biases) get no decay.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def check_finite(name: str, value: torch.Tensor | float, iteration: int, detail: str = "") -> None:
    """Raise :class:`NonFiniteError` naming ``name``, the iteration and ``detail`` if not finite."""
    number = (
        float(value.detach().float().item()) if isinstance(value, torch.Tensor) else float(value)
    )
    if not math.isfinite(number):
        extra = f" ({detail})" if detail else ""
        raise NonFiniteError(
            f"{name} is {number} at iteration {iteration}{extra}; lower the lr, raise the warm-up "
            "or disable autocast, then resume from the last checkpoint"
        )


def capture_rng(
    numpy_generators: Mapping[str, np.random.Generator] | None = None,
) -> dict[str, Any]:
    """The torch (CPU and CUDA) RNG states plus the bit-generator states of ``numpy_generators``.

    numpy states are stored as JSON text so the checkpoint loads with ``weights_only=True``.
    """
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    state["numpy"] = {
        name: json.dumps(generator.bit_generator.state)
        for name, generator in (numpy_generators or {}).items()
    }
    return state


def restore_rng(
    state: Mapping[str, Any], numpy_generators: Mapping[str, np.random.Generator] | None = None
) -> None:
    """Restore what :func:`capture_rng` captured (numpy generators are updated in place)."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, generator in (numpy_generators or {}).items():
        if name not in state["numpy"]:
            raise CheckpointError(f"checkpoint has no RNG state for {name!r}")
        generator.bit_generator.state = json.loads(state["numpy"][name])


def atomic_write_bytes(path: str | os.PathLike[str], writer: Any) -> None:
    """Call ``writer(temp_path)``, fsync, then rename over ``path`` (same folder: atomic)."""
    target = FilePath(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        writer(temp)
        with open(temp, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


class Checkpointer:
    """Atomic checkpoints of one run in one file.

    The file holds a ``format`` tag, a ``kind`` (what wrote it), the iteration and whatever the
    caller stores (model, optimizer, scheduler, sampler and RNG states, data order...). It is
    written to a temporary file and renamed, so a kill leaves the previous checkpoint intact.

    Args:
        path: The checkpoint file.
        kind: A tag naming the trainer (a checkpoint of another kind is refused).
    """

    FORMAT = "scalenet-checkpoint-v1"

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        self.path = FilePath(path)
        self.kind = kind

    def exists(self) -> bool:
        """Whether a checkpoint file is there."""
        return self.path.exists()

    def save(self, iteration: int, state: Mapping[str, Any]) -> None:
        """Write ``state`` at ``iteration`` atomically."""
        payload = {"format": self.FORMAT, "kind": self.kind, "iteration": iteration, **state}
        atomic_write_bytes(self.path, lambda temp: torch.save(payload, temp))

    def load(self, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """Read the checkpoint.

        Raises:
            CheckpointError: If the file is unreadable, truncated, or not a checkpoint of this kind,
                with a message telling how to proceed (never a silent restart).
        """
        hint = "delete it to train from scratch, or restore a good copy"
        try:
            payload = torch.load(self.path, map_location=map_location, weights_only=True)
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CheckpointError(
                f"checkpoint {self.path} is corrupted or unreadable ({message}); {hint}"
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != self.FORMAT:
            raise CheckpointError(f"checkpoint {self.path} is not a scalenet checkpoint; {hint}")
        if payload.get("kind") != self.kind:
            raise CheckpointError(
                f"checkpoint {self.path} was written by {payload.get('kind')!r}, "
                f"expected {self.kind!r}; {hint}"
            )
        return payload


class MetricsWriter:
    """Append metrics as JSON lines (DVC plots read them); only the main rank writes.

    Args:
        path: The ``.jsonl`` file.
        enabled: False on non-main ranks.
    """

    def __init__(self, path: str | os.PathLike[str], enabled: bool = True) -> None:
        self.path = FilePath(path)
        self.enabled = enabled

    def truncate_after(self, iteration: int) -> None:
        """Drop records with ``iteration`` greater than the given one (after a resume)."""
        if not self.enabled or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if int(record.get("iteration", 0)) <= iteration:
                kept.append(line)
        atomic_write_bytes(
            self.path,
            lambda temp: FilePath(temp).write_text("".join(f"{line}\n" for line in kept), "utf-8"),
        )

    def reset(self) -> None:
        """Start an empty file (a fresh run)."""
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line."""
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(dict(record), sort_keys=True) + "\n")


class Throughput:
    """Images per second over a sliding window of steps."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.images = 0

    def update(self, images: int) -> None:
        """Count ``images`` more."""
        self.images += images

    def rate(self, reset: bool = True) -> float:
        """Images/s since the last reset."""
        now = time.perf_counter()
        value = self.images / max(now - self.start, 1e-9)
        if reset:
            self.start, self.images = now, 0
        return value


def progress(iterable: Iterable[int], *, total: int, initial: int, enabled: bool, desc: str) -> Any:
    """A tqdm bar over ``iterable`` (``set_postfix`` works on it); silent when not ``enabled``."""
    from tqdm import tqdm  # lazy: the model and the benchmarks import this module without tqdm

    return tqdm(
        iterable, total=total, initial=initial, disable=not enabled, desc=desc, dynamic_ncols=True
    )
