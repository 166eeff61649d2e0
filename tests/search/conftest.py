from __future__ import annotations

import pytest

from scalenet.search import AnalyticEvaluator, make_analytic
from scalenet.space import Budgets, SearchSpace, load_space


@pytest.fixture(scope="session")
def space() -> SearchSpace:
    return load_space("fmnist")


@pytest.fixture(scope="session")
def budgets() -> Budgets:
    # outputs/budgets.json of the default pipeline: f0 = 4 MFLOPs, tolerance 0.5 M * 2^j.
    return Budgets(f0=4_000_000, max_stage=3, tolerance=500_000)


@pytest.fixture(scope="session")
def analytic(space: SearchSpace, budgets: Budgets) -> AnalyticEvaluator:
    return make_analytic(space, budgets)
