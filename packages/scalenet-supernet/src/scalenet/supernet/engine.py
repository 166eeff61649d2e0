"""Reusable training machinery: distributed context, schedules, guards, checkpoints, metrics.

Nothing here knows about supernets; the supernet trainer (:mod:`scalenet.supernet.trainer`) and
the retraining trainer (:mod:`scalenet.supernet.retrain`) compose these pieces:

* :class:`DistContext` / :func:`init_distributed`: rank, world size and device from torchrun's
  environment (gloo on CPU, nccl on GPU), or a single process;
* :func:`warmup_cosine` and :func:`param_groups`: the lr schedule (linear warm-up, then cosine) and
  weight-decay groups (none on BN and biases);
* :func:`check_finite` and :class:`NonFiniteError`: the loss / gradient-norm guard;
* :func:`broadcast_module` and :func:`allreduce_gradients`: data parallelism without DDP for
  networks whose active part changes every step (one all-reduce of the gradients that exist);
* :class:`Checkpointer` and :class:`CheckpointError`: atomic checkpoints with every state needed
  for an exact resume (RNG states included, :func:`capture_rng` / :func:`restore_rng`);
* :class:`MetricsWriter`: metrics as JSON lines (one object per line), truncated to the resumed
  iteration so a restart never duplicates lines, and copied to a CSV table for DVC plots;
* :class:`Throughput` and :func:`progress`: images/s and a tqdm bar on rank 0;
* :class:`TrainingLoop` (with :class:`LoopConfig`, :class:`LoopResult`, :class:`ResumableBatches`
  and :func:`endless`): the resumable loop both trainers run. It owns the iteration counter, the
  checkpoint file and the metrics file; the trainer gives it a step function, its checkpoint state
  and restore functions and the extra fields of a metrics record.
"""

from __future__ import annotations

import atexit
import csv
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from scalenet.space.files import atomic_write, read_jsonl_lines
from scalenet.space.progress import progress_bar

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "DistContext",
    "LoopConfig",
    "LoopResult",
    "MetricsWriter",
    "NonFiniteError",
    "ResumableBatches",
    "Throughput",
    "TrainingLoop",
    "allreduce_gradients",
    "batches_state",
    "broadcast_module",
    "capture_rng",
    "check_finite",
    "distributed_map",
    "endless",
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
        atomic_write(self.path, lambda temp: torch.save(payload, temp), fsync=True)

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
    """Append metrics as JSON lines; only the main rank writes.

    JSON Lines survive a kill (a cut last line is skipped), but DVC plots read only JSON, YAML,
    CSV and TSV files, so :meth:`export_csv` writes the same records as a CSV table for
    ``dvc plots``.

    Args:
        path: The ``.jsonl`` file.
        enabled: False on non-main ranks.
    """

    def __init__(self, path: str | os.PathLike[str], enabled: bool = True) -> None:
        self.path = FilePath(path)
        self.enabled = enabled

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """The readable records with their lines (a line cut by a kill is skipped)."""
        return [
            (line, record)
            for line, record in read_jsonl_lines(self.path)
            if isinstance(record, dict)
        ]

    def truncate_after(self, iteration: int) -> None:
        """Drop records with ``iteration`` greater than the given one (after a resume)."""
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line, rec in self.records() if int(rec.get("iteration", 0)) <= iteration]
        atomic_write(
            self.path,
            lambda temp: FilePath(temp).write_text("".join(f"{line}\n" for line in kept), "utf-8"),
            fsync=True,
        )

    def export_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the records as a CSV table, atomically.

        Columns: ``iteration`` first, then the other fields in sorted order; a field that a record
        lacks is left empty.
        """
        if not self.enabled:
            return
        records = [record for _line, record in self.records()]
        fields = sorted({key for record in records for key in record} - {"iteration"})
        columns = ["iteration", *fields]

        def write(temp: str) -> None:
            with open(temp, "w", encoding="utf-8", newline="") as stream:
                table = csv.DictWriter(stream, fieldnames=columns, restval="")
                table.writeheader()
                table.writerows(records)

        atomic_write(path, write, fsync=True)

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
    return progress_bar(iterable, total=total, initial=initial, enabled=enabled, desc=desc)


# -- the resumable training loop -------------------------------------------------------------------


@runtime_checkable
class ResumableBatches(Protocol):
    """A batch iterable whose position can be saved (e.g. ``data.ShuffledBatches``)."""

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield ``(images, labels)`` from the current position."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The position."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position."""
        ...


def batches_state(batches: object) -> str:
    """The position of ``batches`` as JSON text for a checkpoint (``"null"``: not resumable)."""
    return json.dumps(batches.state_dict() if isinstance(batches, ResumableBatches) else None)


def endless(batches: Iterable[tuple[Tensor, Tensor]]) -> Iterator[tuple[Tensor, Tensor]]:
    """``batches`` iterated again and again (one pass per epoch).

    Raises:
        ValueError: If two passes in a row yield nothing (the batches are empty).
    """
    empty_passes = 0
    while empty_passes < 2:  # one empty pass is allowed: a position saved at an epoch's end
        empty_passes += 1
        for batch in batches:
            empty_passes = 0
            yield batch
    raise ValueError("the training batches are empty")


@dataclass(frozen=True)
class LoopConfig:
    """How :meth:`TrainingLoop.run` runs.

    Attributes:
        total: Iterations of the whole run (a resumed run continues up to it).
        checkpoint_every: Iterations between checkpoints (0: only at the end).
        log_every: Iterations between metric records (the last iteration is always recorded).
        seed: Seed of torch at the start (a resumed run then restores the saved RNG states).
        progress: Show a tqdm bar on the main rank.
        desc: Label of the bar.
        kill_env: An environment variable: set to ``N``, the process sends itself SIGKILL right
            after iteration ``N`` (the hook of the resume tests); None: no hook.
    """

    total: int
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0
    progress: bool = True
    desc: str = "train"
    kill_env: str | None = None

    def __post_init__(self) -> None:
        if self.total < 1:
            raise ValueError(f"total must be >= 1, got {self.total}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")
        if self.log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every}")


@dataclass(frozen=True)
class LoopResult:
    """What a finished run reports.

    Attributes:
        iterations: Iterations done in total.
        resumed_from: Iteration the run resumed from (0 for a fresh run).
        last_loss: Mean loss of the last logged window (NaN when this invocation did no step).
        seconds: Wall time of this invocation.
        images_per_second: Mean training throughput of this invocation (all ranks).
    """

    iterations: int
    resumed_from: int
    last_loss: float
    seconds: float
    images_per_second: float


class TrainingLoop:
    """The resumable training loop of both trainers, with its checkpoint and metrics files.

    A loop serves one output folder: ``checkpoint.pt`` (a :class:`Checkpointer` of ``kind``) and
    ``metrics.jsonl`` (a :class:`MetricsWriter`, written by the main rank only, copied to
    ``metrics.csv`` at the end of :meth:`run`). It owns the
    iteration counter; the trainer keeps its model, optimizer and data and lends the loop

    * ``step(images, labels) -> loss``: one optimizer step that advances :attr:`iteration` by one
      and returns the detached loss;
    * ``state() -> dict``: everything its exact resume needs (:meth:`save` adds the iteration);
    * ``load() -> int``: restores the checkpoint (usually with :meth:`load`), returns its iteration;
    * ``lr() -> float`` and ``record(iteration) -> dict``: the lr and the trainer's own fields of a
      metrics record.

    Args:
        out_dir: Folder of ``checkpoint.pt`` and ``metrics.jsonl``.
        kind: Checkpoint kind (a checkpoint written by another kind of trainer is refused).
        context: Distributed context (single process by default).
    """

    def __init__(
        self, out_dir: str | os.PathLike[str], kind: str, context: DistContext | None = None
    ) -> None:
        self.context = context or DistContext()
        self.out_dir = FilePath(out_dir)
        self.checkpointer = Checkpointer(self.out_dir / "checkpoint.pt", kind)
        self.metrics = MetricsWriter(self.out_dir / "metrics.jsonl", enabled=self.context.is_main)
        self.iteration = 0

    def save(self, state: Callable[[], Mapping[str, Any]]) -> None:
        """Checkpoint ``state()`` at :attr:`iteration` on the main rank, then wait for all ranks."""
        if self.context.is_main:
            self.checkpointer.save(self.iteration, state())
        self.context.barrier()

    def load(
        self,
        restore: Callable[[dict[str, Any]], None],
        *,
        identity: Mapping[str, Any] | None = None,
        batches: object = None,
    ) -> int:
        """Read the checkpoint, check that it is this run's, hand it to ``restore``.

        Args:
            restore: Loads the trainer's states (model, optimizer...) from the checkpoint's dict.
            identity: Values the checkpoint must hold, e.g. ``{"path": ...}``.
            batches: The training batches: when given, the checkpoint's ``data`` (written by
                :func:`batches_state`) is read and, for :class:`ResumableBatches`, restored.

        Returns:
            The checkpoint's iteration (the caller sets :attr:`iteration`; :meth:`run` does).

        Raises:
            CheckpointError: If the file is unreadable or of another kind, an ``identity`` value
                differs, or ``restore`` fails with a KeyError, RuntimeError or ValueError (states
                of another shape).
        """
        path = self.checkpointer.path
        hint = "delete it to train from scratch"
        payload = self.checkpointer.load(map_location=self.context.device)
        for key, mine in (identity or {}).items():
            if payload.get(key) != mine:
                raise CheckpointError(
                    f"checkpoint {path} has {key} {payload.get(key)!r}, this run {mine!r}; {hint}"
                )
        try:
            restore(payload)
            data_state = json.loads(payload["data"]) if batches is not None else None
        except (KeyError, RuntimeError, ValueError) as error:
            raise CheckpointError(
                f"checkpoint {path} does not match this run ({error}); {hint}"
            ) from None
        if data_state is not None and isinstance(batches, ResumableBatches):
            batches.load_state_dict(data_state)
        return int(payload["iteration"])

    def run(
        self,
        config: LoopConfig,
        *,
        step: Callable[[Tensor, Tensor], Tensor],
        batches: Iterable[tuple[Tensor, Tensor]],
        state: Callable[[], Mapping[str, Any]],
        load: Callable[[], int],
        lr: Callable[[], float],
        record: Callable[[int], Mapping[str, Any]] | None = None,
        model: nn.Module | None = None,
        resume: bool = True,
    ) -> LoopResult:
        """Train until ``config.total`` iterations, resuming from the checkpoint if there is one.

        torch is seeded with ``config.seed``; an existing checkpoint is restored by ``load`` (its
        iteration becomes :attr:`iteration`, metric records after it are dropped), otherwise the
        run starts at 0 with an empty metrics file. ``model`` (if given) is put in training mode.
        Each iteration takes the next batch of :func:`endless` ``(batches)`` and calls ``step``;
        then

        * every ``log_every`` iterations and at the last one, a record goes to ``metrics.jsonl``
          and the bar: ``iteration``, ``loss`` (mean over the steps since the last record and over
          the ranks), ``lr``, ``images_per_second`` and the fields of ``record(iteration)``;
        * every ``checkpoint_every`` iterations before the last one, a checkpoint;
        * after iteration ``N`` when the variable ``config.kill_env`` is ``N``: SIGKILL.

        At the end a checkpoint is written if this invocation trained (or none exists), and the
        metrics are copied to ``metrics.csv`` (the file ``dvc plots`` reads).

        Raises:
            CheckpointError: A checkpoint is there but unusable, or ``resume`` is False.
            RuntimeError: ``step`` did not advance :attr:`iteration` by one.
        """
        torch.manual_seed(config.seed)
        if self.checkpointer.exists():
            if not resume:
                raise CheckpointError(
                    f"checkpoint {self.checkpointer.path} exists; "
                    "resume or choose another output folder"
                )
            self.iteration = load()
            self.metrics.truncate_after(self.iteration)
        else:
            self.iteration = 0
            self.metrics.reset()
        resumed_from = self.iteration
        kill_at = int(os.environ.get(config.kill_env, "-1")) if config.kill_env else -1
        if model is not None:
            model.train()
        start = time.perf_counter()
        images_seen = 0
        throughput = Throughput()
        window: list[Tensor] = []
        last_loss = float("nan")
        stream = endless(batches)
        bar = progress(
            range(self.iteration, config.total),
            total=config.total,
            initial=self.iteration,
            enabled=config.progress and self.context.is_main,
            desc=config.desc,
        )
        for before in bar:
            images, labels = next(stream)
            window.append(step(images, labels))
            done = self.iteration
            if done != before + 1:
                raise RuntimeError(f"step moved the iteration from {before} to {done}, not by one")
            batch_images = images.shape[0] * self.context.world_size
            throughput.update(batch_images)
            images_seen += batch_images
            if done % config.log_every == 0 or done == config.total:
                last_loss = self.context.mean(float(torch.stack(window).float().mean()))
                window.clear()
                learning_rate = lr()
                rate = throughput.rate()
                self.metrics.write(
                    {
                        "iteration": done,
                        "loss": round(last_loss, 6),
                        "lr": learning_rate,
                        "images_per_second": round(rate, 2),
                        **(record(done) if record is not None else {}),
                    }
                )
                bar.set_postfix(
                    loss=f"{last_loss:.3f}", lr=f"{learning_rate:.4f}", img_s=f"{rate:.0f}"
                )
            every = config.checkpoint_every
            if every and done % every == 0 and done < config.total:
                self.save(state)
            if done == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        bar.close()
        if self.iteration > resumed_from or not self.checkpointer.exists():
            self.save(state)
        self.metrics.export_csv(self.out_dir / "metrics.csv")
        seconds = time.perf_counter() - start
        return LoopResult(
            iterations=self.iteration,
            resumed_from=resumed_from,
            last_loss=last_loss,
            seconds=seconds,
            images_per_second=images_seen / max(seconds, 1e-9),
        )
