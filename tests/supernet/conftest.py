from __future__ import annotations

import pytest
import torch

from scalenet.space import SearchSpace, load_space


@pytest.fixture(scope="session")
def space() -> SearchSpace:
    return load_space("fmnist")


@pytest.fixture(autouse=True)
def _small_threads() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_space(space: SearchSpace) -> SearchSpace:
    """The fmnist space at 16 px (paths at 16..26 px): fast enough for many forward passes."""
    import dataclasses

    return dataclasses.replace(space, name="fmnist16", resolution=16)
