"""Distributed context and data parallelism: torchrun's environment, gloo on CPU, nccl on GPU.

* :class:`DistContext` / :func:`init_distributed`: rank, world size and device from torchrun's
  environment, or a single process;
* :func:`distributed_map`: a map that shares the work out over the ranks (path evaluation);
* :func:`broadcast_module` and :func:`allreduce_gradients`: data parallelism without DDP for
  networks whose active part changes every step (one all-reduce of the gradients that exist).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistContext",
    "MapFn",
    "allreduce_gradients",
    "broadcast_module",
    "distributed_map",
    "init_distributed",
]


_CPU = torch.device("cpu")


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
        # Tear the group down before the interpreter does: left to garbage collection at exit,
        # gloo's threads can be destroyed while joinable and abort the process ("terminate
        # called without an active exception", exit 134) after a successful run.
        atexit.register(_destroy_process_group)
    return DistContext(rank, world_size, local_rank, torch_device)


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


MapFn = Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]]


def distributed_map(context: DistContext) -> MapFn:
    """A ``map`` whose items are shared out over the ranks of ``context``, results on every rank.

    Rank r computes items r, r + W, r + 2W, ... (W = world size) on its own device; the results
    are gathered (``all_gather_object``) and returned in item order on every rank, so every rank
    sees the same list as a serial ``map``. Give it as ``map_fn`` to the search (scalenet-search's
    ``MCEA(map_fn=...)``): each rank then evaluates its share of every population. Every rank
    must call it with the same items. Without a process group it is the serial ``map``.

    An exception in ``fn`` on any rank is raised on every rank (as a RuntimeError naming the
    rank and the error), so no rank is left waiting in the gather.
    """

    def mapped(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        values = list(items)
        if not context.distributed:
            return [fn(value) for value in values]
        mine: list[tuple[int, Any]] = []
        error = ""
        for index in range(context.rank, len(values), context.world_size):
            try:
                mine.append((index, fn(values[index])))
            except Exception as failure:  # re-raised below, on every rank
                error = f"{type(failure).__name__}: {failure}"
                break
        gathered: list[Any] = [None] * context.world_size
        dist.all_gather_object(gathered, (error, mine))
        for rank, (message, _) in enumerate(gathered):
            if message:
                raise RuntimeError(f"rank {rank}: {message}")
        results: list[Any] = [None] * len(values)
        for _, pairs in gathered:
            for index, value in pairs:
                results[index] = value
        return results

    return mapped


def broadcast_module(module: nn.Module, context: DistContext, source: int = 0) -> None:
    """Copy rank ``source``'s parameters and buffers to every rank (as DDP does at start-up)."""
    if not context.distributed:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, source)


def allreduce_gradients(parameters: Iterable[nn.Parameter], context: DistContext) -> int:
    """Average the gradients that exist over the ranks, in one flat all-reduce; returns their size.

    The alternative to DistributedDataParallel for a weight-sharing network: every rank activates
    the same path, so the same parameters have gradients everywhere, and only those are sent
    (DDP with ``find_unused_parameters`` walks the graph and reduces every bucket, zeros
    included: 18 ms of a 91 ms step of a small path on 2 CPU processes, against 6 ms here).

    Raises:
        RuntimeError: If the ranks hold gradients of different sizes (different paths).
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    size = sum(grad.numel() for grad in grads)
    if not context.distributed:
        return size
    sizes = torch.tensor([size, -size], dtype=torch.int64, device=context.device)
    dist.all_reduce(sizes, op=dist.ReduceOp.MAX)
    if int(sizes[0]) != size or -int(sizes[1]) != size:
        raise RuntimeError(
            f"ranks hold gradients of different sizes ({-int(sizes[1])}..{int(sizes[0])}): "
            "they trained different paths"
        )
    if not grads:
        return 0
    flat = torch.cat([grad.reshape(-1) for grad in grads])  # logical (NCHW) order, any layout
    dist.all_reduce(flat)
    flat.div_(context.world_size)
    offset = 0
    for grad in grads:
        count = grad.numel()
        grad.copy_(flat[offset : offset + count].view(grad.shape))
        offset += count
    return size
