"""Shared by the GPU check's scripts (gpu_train_check.py, gpu_search_check.py).

Imports only torch and the standard library: the scripts call :func:`add_sources` before they
import scalenet, so the GPU machine needs none of our packages installed.
"""

from __future__ import annotations

import math
import platform
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent

NO_GPU = (
    "no CUDA GPU visible (torch.cuda.is_available() is False); run this on a machine with a GPU "
    "or pass --smoke for the CPU check of the script"
)


def add_sources(*packages: str) -> None:
    """Put ``packages/<name>/src`` of this checkout first on ``sys.path`` (for each name)."""
    for package in packages:
        source = ROOT / "packages" / package / "src"
        if source.is_dir() and str(source) not in sys.path:
            sys.path.insert(0, str(source))


def input_side(space: Any) -> int:
    """The side of the batches: the largest input any path of ``space`` uses.

    The same rule as pipelines/_supernet.py's ``supernet_resolution`` (not importable from here:
    the pipeline helpers need the pipeline's own dependencies).
    """
    return math.ceil(space.resolution * max(space.scaling.union("resolution")))


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's architecture."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()})"
