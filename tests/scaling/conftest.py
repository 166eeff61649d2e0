from __future__ import annotations

from pathlib import Path

import pytest

from scalenet.space import SearchSpace, load_space

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]

#: The imagenet space's Monte Carlo f0 (compute_budgets, 100,000 samples, seed 0).
IMAGENET_F0 = 300_000_000


@pytest.fixture(scope="session")
def imagenet() -> SearchSpace:
    return load_space("imagenet")


@pytest.fixture(scope="session")
def fmnist() -> SearchSpace:
    return load_space("fmnist")
