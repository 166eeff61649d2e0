"""Atomic checkpoints with every state an exact resume needs, RNG states included.

:class:`Checkpointer` writes ``torch.save`` payloads through
:func:`scalenet.space.files.atomic_write` (fsynced) and refuses a file of another kind
(:class:`CheckpointError`);
:func:`capture_rng` / :func:`restore_rng` save and restore Python's, numpy's and torch's generators.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import torch

from scalenet.space.files import atomic_write

__all__ = ["CheckpointError", "Checkpointer", "capture_rng", "restore_rng"]


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used (corrupted, truncated or of another run)."""


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
