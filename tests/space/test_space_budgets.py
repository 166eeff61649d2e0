import numpy as np
import pytest

from scalenet.space import Budgets, compute_budgets, load_space, mean_base_flops


def test_imagenet_budgets():
    budgets = compute_budgets(load_space("imagenet"), samples=100_000, seed=0)
    # docs/space.md: f0 = 300 M, rounded down from a 318.3 M mean (unit 50 M).
    assert budgets.f0 == 300_000_000
    assert budgets.mean_flops == pytest.approx(318_262_906, abs=1)
    assert (budgets.unit, budgets.tolerance, budgets.max_stage) == (50_000_000, 25_000_000, 3)
    assert budgets.values == [300_000_000, 600_000_000, 1_200_000_000, 2_400_000_000]
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


_GOOD = {"f0": 4_000_000, "max_stage": 3, "tolerance": 500_000}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**_GOOD, "f0": "3e8"}, "budgets: f0 must be an int, got '3e8'"),
        ({**_GOOD, "f0": 4e6}, "budgets: f0 must be an int, got 4000000.0"),
        ({**_GOOD, "max_stage": True}, "budgets: max_stage must be an int, got True"),
        ({**_GOOD, "tolerance": None}, "budgets: tolerance must be an int, got None"),
        ({**_GOOD, "mean_flops": "a"}, "budgets: mean_flops must be a number, got 'a'"),
        ({**_GOOD, "unit": 0.5}, "budgets: unit must be an int, got 0.5"),
        ({**_GOOD, "samples": [1]}, "budgets: samples must be an int, got [1]"),
        ({**_GOOD, "seed": "0"}, "budgets: seed must be an int, got '0'"),
        ([1, 2], "budgets must be a JSON object, got list"),
    ],
)
def test_budgets_json_types_are_strict(data, message):
    with pytest.raises(ValueError) as info:
        Budgets.from_json(data)
    assert str(info.value) == message


def test_budgets_json_accepts_numpy_ints_and_a_null_seed():
    data = {**_GOOD, "f0": np.int64(4_000_000), "mean_flops": 3_525_435, "seed": None}
    budgets = Budgets.from_json(data)
    assert budgets == Budgets(f0=4_000_000, max_stage=3, tolerance=500_000, mean_flops=3525435.0)
    assert type(budgets.f0) is int
