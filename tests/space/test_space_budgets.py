import numpy as np
import pytest

from scalenet.space import Budgets, compute_budgets, load_space, mean_base_flops


def test_imagenet_budgets():
    budgets = compute_budgets(load_space("imagenet"), samples=100_000, seed=0)
    assert budgets.f0 % 50_000_000 == 0
    assert abs(budgets.f0 - budgets.mean_flops) <= 25_000_000
    assert budgets.values == [budgets.f0 * 2**j for j in range(4)]
    assert budgets.budget(5) == 32 * budgets.f0  # beyond M, for generalization


def test_budgets_are_deterministic_under_a_seed():
    space = load_space("fmnist")
    first = compute_budgets(space, samples=100_000, seed=1)
    second = compute_budgets(space, samples=100_000, seed=1)
    assert first == second
    assert first.mean_flops != compute_budgets(space, samples=100_000, seed=2).mean_flops


def test_mean_is_stable_across_chunking():
    space = load_space("fmnist")
    mean = mean_base_flops(space, 300_000, np.random.default_rng(0))
    assert abs(mean / 3.525e6 - 1) < 0.01


def test_fits_and_tolerance_doubling():
    budgets = Budgets(f0=100, max_stage=3, tolerance=10)
    assert budgets.fits(110, 0) and not budgets.fits(111, 0)
    assert budgets.fits(np.array([720, 800, 881]), 3).tolist() == [True, True, False]
    assert budgets.tolerance_at(3) == 80
    assert budgets.nearest_stage(np.array([90, 210, 5000])).tolist() == [0, 1, 3]
    assert Budgets.from_json(budgets.to_json()) == budgets


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": 10}, "samples must be >= 100,000"),
        ({"unit": 0}, "unit must be >= 1"),
    ],
)
def test_bad_budget_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_budgets(load_space("fmnist"), **kwargs)


def test_bad_budgets_values():
    with pytest.raises(ValueError, match="f0 must be > 0"):
        Budgets(f0=0, max_stage=3, tolerance=1)
    with pytest.raises(ValueError, match="missing key 'f0'"):
        Budgets.from_json({"max_stage": 3})
