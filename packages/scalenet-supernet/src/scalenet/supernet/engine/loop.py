"""The resumable training loop both trainers run, its schedule and its guards.

* :func:`warmup_cosine` and :func:`param_groups`: the lr schedule (linear warm-up, then cosine)
  and weight-decay groups (none on BN and biases);
* :func:`check_finite` and :class:`NonFiniteError`: the loss / gradient-norm guard;
* :class:`TrainingLoop` (with :class:`LoopConfig`, :class:`LoopResult`, :class:`ResumableBatches`
  and :func:`endless`): it owns the iteration counter, the checkpoint file and the metrics file;
  the trainer gives it a step function, its checkpoint state and restore functions and the extra
  fields of a metrics record.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from scalenet.space.files import write_json
from scalenet.supernet.engine.checkpoint import Checkpointer, CheckpointError
from scalenet.supernet.engine.distributed import DistContext
from scalenet.supernet.engine.loggers import MetricsLogger, check_loggers, open_loggers
from scalenet.supernet.engine.metrics import MetricsWriter, Throughput, progress

__all__ = [
    "SETTINGS_FILE",
    "LoopConfig",
    "LoopResult",
    "LoopTrainer",
    "NonFiniteError",
    "ResumableBatches",
    "TrainingLoop",
    "batches_state",
    "check_finite",
    "endless",
    "param_groups",
    "resume_or_restart",
    "warmup_cosine",
]


class NonFiniteError(RuntimeError):
    """The loss or the gradient norm became NaN or infinite."""


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

    @classmethod
    def of(cls, config: Any, *, total: int, desc: str, kill_env: str | None) -> LoopConfig:
        """The loop settings of a trainer's config, for ``total`` iterations.

        ``config`` is a trainer's config with ``checkpoint_every``, ``log_every``, ``seed`` and
        ``progress`` (:class:`~scalenet.supernet.trainer.TrainConfig`, ``RetrainConfig``).
        """
        return cls(
            total=total,
            checkpoint_every=config.checkpoint_every,
            log_every=config.log_every,
            seed=config.seed,
            progress=config.progress,
            desc=desc,
            kill_env=kill_env,
        )

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

    def summary(
        self, out_dir: str | os.PathLike[str], previous: str | os.PathLike[str] | None = None
    ) -> dict[str, float | None]:
        """``final_loss``, ``train_seconds`` and ``train_images_per_second`` of the finished run.

        A run resumed at its end trains no step: its own loss is NaN and its timing 0, so the
        loss comes from the last readable record of ``out_dir/metrics.jsonl`` and the timing
        from the ``previous`` summary (a JSON file written from an earlier call; None where
        neither is known).
        """
        loss: float | None = self.last_loss
        if loss != loss:  # NaN: no step in this invocation
            loss = _last_logged_loss(FilePath(out_dir) / "metrics.jsonl")
        timing: dict[str, float | None] = {
            "train_seconds": round(self.seconds, 1),
            "train_images_per_second": round(self.images_per_second, 1),
        }
        if self.iterations == self.resumed_from and previous is not None:
            earlier = FilePath(previous)
            if earlier.is_file():
                recorded = json.loads(earlier.read_text(encoding="utf-8"))
                timing = {key: recorded.get(key) or None for key in timing}
        return {"final_loss": None if loss is None else round(loss, 4), **timing}


def _last_logged_loss(file: FilePath) -> float | None:
    """The loss of the last readable record of a metrics file (None when there is none)."""
    for _line, record in reversed(MetricsWriter(file).records()):
        try:
            return float(record["loss"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


class TrainingLoop:
    """The resumable training loop of both trainers, with its checkpoint and metrics files.

    A loop serves one output folder: ``checkpoint.pt`` (a :class:`Checkpointer` of ``kind``) and
    ``metrics.jsonl`` (a :class:`MetricsWriter`, written by the main rank only, and passed to
    its ``loggers``: ``metrics.csv`` at the end of :meth:`run` by default, DVCLive or
    TensorBoard as training goes). It owns the
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
        fingerprint: The settings that decide the weights (JSON-serializable). When given,
            :meth:`run` first keeps the folder's checkpoint only if it was made with the same
            settings and starts over otherwise (:func:`resume_or_restart`), so a folder kept
            between runs (DVC's ``persist: true``) never resumes a run of other settings.
        name: The label of the line that says so (default: ``kind``).
        loggers: Where the metrics records go besides ``metrics.jsonl``
            (:mod:`scalenet.supernet.engine.loggers`: ``csv``, ``dvclive``, ``tensorboard``);
            by default the ``metrics.csv`` table.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        kind: str,
        context: DistContext | None = None,
        *,
        fingerprint: Mapping[str, Any] | None = None,
        name: str | None = None,
        loggers: Iterable[str] = ("csv",),
    ) -> None:
        self.loggers = check_loggers(loggers)
        self.context = context or DistContext()
        self.out_dir = FilePath(out_dir)
        self.checkpointer = Checkpointer(self.out_dir / "checkpoint.pt", kind)
        self.metrics = MetricsWriter(self.out_dir / "metrics.jsonl", enabled=self.context.is_main)
        self.iteration = 0
        self.fingerprint = None if fingerprint is None else dict(fingerprint)
        self.name = name or kind

    def resumes(self) -> bool:
        """Whether :meth:`run` will continue the folder's checkpoint (nothing is changed here).

        True when a checkpoint is there and, with a ``fingerprint``, it was made with the same
        settings; call it before :meth:`run` (which may start over).
        """
        if not self.checkpointer.exists():
            return False
        return self.fingerprint is None or _same_settings(self.out_dir, self.fingerprint)

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
        loggers are closed (the ``csv`` logger writes ``metrics.csv`` then).

        Raises:
            CheckpointError: A checkpoint is there but unusable, or ``resume`` is False.
            RuntimeError: ``step`` did not advance :attr:`iteration` by one.
        """
        if self.fingerprint is not None:
            if self.context.is_main:
                resume_or_restart(self.out_dir, self.fingerprint, name=self.name)
            self.context.barrier()  # every rank sees the checkpoint kept or removed
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
        loggers: list[MetricsLogger] = []
        if self.context.is_main and self.loggers:
            kept = [record for _line, record in self.metrics.records()]
            loggers = open_loggers(self.loggers, self.out_dir, kept, self.iteration)
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
                logged = {
                    "iteration": done,
                    "loss": round(last_loss, 6),
                    "lr": learning_rate,
                    "images_per_second": round(rate, 2),
                    **(record(done) if record is not None else {}),
                }
                self.metrics.write(logged)
                for logger in loggers:
                    logger.log(logged)
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
        for logger in loggers:
            logger.close()
        seconds = time.perf_counter() - start
        return LoopResult(
            iterations=self.iteration,
            resumed_from=resumed_from,
            last_loss=last_loss,
            seconds=seconds,
            images_per_second=images_seen / max(seconds, 1e-9),
        )


class LoopTrainer:
    """What both trainers share around their :class:`TrainingLoop`.

    A subclass calls :meth:`open_loop` in its constructor and defines :meth:`state` (everything
    its exact resume needs); it gets the loop's :attr:`iteration` counter, :meth:`resumes` and
    :meth:`save`.
    """

    loop: TrainingLoop

    def open_loop(
        self,
        out_dir: str | os.PathLike[str],
        kind: str,
        context: DistContext,
        *,
        fingerprint: Mapping[str, Any] | None,
        name: str | None,
        loggers: Iterable[str],
    ) -> None:
        """Make the :class:`TrainingLoop` of ``out_dir`` (its arguments are the loop's)."""
        self.loop = TrainingLoop(
            out_dir, kind, context, fingerprint=fingerprint, name=name, loggers=loggers
        )
        self.checkpointer = self.loop.checkpointer
        self.metrics = self.loop.metrics

    def state(self) -> dict[str, Any]:
        """Everything an exact resume needs (the iteration is added by the checkpointer)."""
        raise NotImplementedError

    def resumes(self) -> bool:
        """Whether ``run()`` continues the checkpoint in the output folder (see ``fingerprint``)."""
        return self.loop.resumes()

    @property
    def iteration(self) -> int:
        """Optimizer steps done (the counter of :attr:`loop`)."""
        return self.loop.iteration

    @iteration.setter
    def iteration(self, value: int) -> None:
        self.loop.iteration = value

    def save(self) -> None:
        """Write a checkpoint of :meth:`state` at the current iteration (main rank only)."""
        self.loop.save(self.state)


#: The file in a training folder that records the settings its checkpoint was made with.
SETTINGS_FILE = "training.json"


def resume_or_restart(
    out_dir: str | os.PathLike[str], fingerprint: Mapping[str, Any], *, name: str = "train"
) -> bool:
    """Keep ``out_dir``'s checkpoint only if it was made with the settings ``fingerprint``.

    The settings that decide the weights are stamped in ``out_dir/training.json``. A checkpoint
    there (kept between runs, e.g. by DVC's ``persist: true``, so that a killed run resumes) is
    kept when the stamp equals ``fingerprint``; otherwise it and ``metrics.jsonl`` are removed and
    training starts over. The stamp is then (re)written. Call it on the main rank, before the
    loop runs (the other ranks wait at a barrier).

    Args:
        out_dir: The training folder (``checkpoint.pt``, ``metrics.jsonl``).
        fingerprint: JSON-serializable settings (a JSON round trip must give them back).
        name: The label of the one line printed.

    Returns:
        Whether the run resumes from the checkpoint.
    """
    out = FilePath(out_dir)
    stamp = out / SETTINGS_FILE
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        if _same_settings(out, fingerprint):
            print(f"{name}: resuming from {checkpoint}")
            return True
        print(f"{name}: training settings changed, starting over ({checkpoint} removed)")
        checkpoint.unlink()
        (out / "metrics.jsonl").unlink(missing_ok=True)
    write_json(stamp, dict(fingerprint))
    return False


def _same_settings(out: FilePath, fingerprint: Mapping[str, Any]) -> bool:
    """Whether ``out``'s settings stamp equals ``fingerprint`` (False without a stamp)."""
    stamp = out / SETTINGS_FILE
    if not stamp.exists():
        return False
    return bool(json.loads(stamp.read_text(encoding="utf-8")) == fingerprint)
