from __future__ import annotations

import pytest

from scalenet.space import Budgets, SearchSpace, compute_budgets, load_space


@pytest.fixture(scope="session")
def fmnist() -> SearchSpace:
    return load_space("fmnist")


@pytest.fixture(scope="session")
def imagenet() -> SearchSpace:
    return load_space("imagenet")


@pytest.fixture(scope="session")
def fmnist_budgets(fmnist: SearchSpace) -> Budgets:
    return compute_budgets(fmnist, seed=0)


@pytest.fixture(scope="session")
def imagenet_budgets(imagenet: SearchSpace) -> Budgets:
    return compute_budgets(imagenet, seed=0)
