import numpy as np
import pytest

from scalenet.space import (
    PAPER_IMAGENET_BUDGETS,
    Budgets,
    Path,
    compute_budgets,
    count,
    count_batch,
    feasible_bases,
    load_space,
    mean_base_flops,
    random_base_batch,
)


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


def test_explicit_budgets_replace_the_doubling_rule():
    budgets = compute_budgets(load_space("imagenet"), explicit=PAPER_IMAGENET_BUDGETS)
    assert budgets.f0 == 350_000_000 and budgets.explicit == PAPER_IMAGENET_BUDGETS
    assert budgets.values == [350_000_000, 800_000_000, 1_500_000_000, 3_000_000_000]
    # Beyond M the list's own budgets (S4, S5), then doubling.
    assert [budgets.budget(j) for j in (4, 5, 6)] == [6_000_000_000, 10_000_000_000, 20 * 10**9]
    # The Monte Carlo mean is still recorded (f0 = 350 M is the paper's, not the 300 M rule's).
    assert budgets.mean_flops == pytest.approx(318_262_906, abs=1)
    # The tolerance grows with the budget: 25 M * f_j / f0.
    assert [budgets.tolerance_at(j) for j in range(4)] == [
        25_000_000, 57_142_857, 107_142_857, 214_285_714,
    ]  # fmt: skip
    assert budgets.fits(800_000_000 + 57_142_857, 1) and not budgets.fits(860_000_000, 1)
    nearest = budgets.nearest_stage(np.array([300e6, 520e6, 540e6, 1.2e9, 2.2e9, 9e9]))
    assert nearest.tolist() == [0, 0, 1, 2, 3, 3]
    data = budgets.to_json()
    assert data["explicit"] == list(PAPER_IMAGENET_BUDGETS) and data["f0"] == 350_000_000
    assert Budgets.from_json(data) == budgets


def test_default_budgets_json_has_no_new_keys():
    data = Budgets(f0=100, max_stage=3, tolerance=10).to_json()
    assert "explicit" not in data and "convention" not in data
    assert Budgets.from_json(data).explicit == ()
    assert [Budgets(f0=100, max_stage=3, tolerance=10).tolerance_at(j) for j in range(4)] == [
        10, 20, 40, 80,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("explicit", "message"),
    [
        ([], "explicit must list at least one budget (f_0), got []"),
        ([350e6, 800e6], "explicit[0] must be an int, got 350000000.0"),
        ([0, 800], "explicit[0] must be > 0, got 0"),
        ([350, 800, 700, 900], "explicit must increase, got 800 then 700 at [1], [2]"),
        ([350, 350, 700, 900], "explicit must increase, got 350 then 350 at [0], [1]"),
        ("350,800", "explicit must be a list, got str"),
    ],
)
def test_bad_explicit_budgets(explicit, message):
    with pytest.raises(ValueError) as info:
        compute_budgets(load_space("fmnist"), explicit=explicit)
    assert str(info.value) == message


def test_explicit_budgets_must_cover_every_scaling_stage():
    with pytest.raises(ValueError, match=r"explicit lists 3 budget\(s\), scaling stages 0..3 need"):
        compute_budgets(load_space("fmnist"), explicit=[4_000_000, 8_000_000, 16_000_000])
    with pytest.raises(ValueError, match="f0 5 must equal explicit\\[0\\] = 4"):
        Budgets(f0=5, max_stage=0, tolerance=1, explicit=(4,))
    with pytest.raises(ValueError, match=r"budgets: explicit\[1\] must be an int, got 'x'"):
        Budgets.from_json({**_GOOD, "explicit": [4_000_000, "x", 9, 10]})


def test_budgets_record_their_flops_convention():
    space = load_space("fmnist")
    official = compute_budgets(space, convention="official")
    assert official.convention == "official" and official.to_json()["convention"] == "official"
    assert official.mean_flops != compute_budgets(space).mean_flops
    assert Budgets.from_json(official.to_json()) == official
    with pytest.raises(ValueError, match=r"^convention: 'ceil' not in \{torch, official\}$"):
        compute_budgets(space, convention="ceil")
    with pytest.raises(ValueError, match=r"^convention: 'ceil' not in \{torch, official\}$"):
        Budgets.from_json({**_GOOD, "convention": "ceil"})


def _budgets_file(tmp_path, payload) -> str:
    import json

    file = tmp_path / "budgets.json"
    file.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return str(file)


def test_load_budgets_reads_the_budgets_stage_file_and_checks_space_and_m(tmp_path):
    from scalenet.space import load_budgets

    space = load_space("fmnist")
    budgets = Budgets(f0=4_000_000, max_stage=3, tolerance=500_000, unit=1_000_000)
    file = _budgets_file(tmp_path, {"space": "fmnist", **budgets.to_json()})
    assert load_budgets(file) == budgets
    assert load_budgets(file, space) == budgets
    with pytest.raises(ValueError, match="is for space 'fmnist', not 'imagenet'"):
        load_budgets(file, load_space("imagenet"))
    other_m = _budgets_file(tmp_path, {**budgets.to_json(), "max_stage": 2})
    with pytest.raises(ValueError, match="max_stage 2 differs from the space's M = 3"):
        load_budgets(other_m, space)
    assert load_budgets(other_m).max_stage == 2  # without a space nothing is compared


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, r"budgets file .*absent\.json does not exist \(run the budgets stage\)"),
        ("{", r"budgets\.json: not valid JSON \(Expecting property name"),
        ("[1, 2]", r"budgets\.json: expected a JSON object"),
        ({"f0": 4}, r"budgets JSON is missing key 'max_stage'"),
        ({"f0": "4e6", "max_stage": 3, "tolerance": 1}, r"budgets: f0 must be an int"),
    ],
)
def test_load_budgets_bad_files_name_the_file_or_key(tmp_path, payload, message):
    from scalenet.space import load_budgets

    file = str(tmp_path / "absent.json") if payload is None else _budgets_file(tmp_path, payload)
    with pytest.raises(ValueError, match=message):
        load_budgets(file)


def test_load_budgets_rejects_non_utf8(tmp_path):
    from scalenet.space import load_budgets

    file = tmp_path / "budgets.json"
    file.write_bytes(b'{"f0": "\xff"}')
    with pytest.raises(ValueError, match="not UTF-8 text"):
        load_budgets(file)


def test_feasible_bases_are_the_fitting_draws_in_order():
    space = load_space("fmnist")
    budgets = Budgets(f0=4_000_000, max_stage=3, tolerance=500_000)
    bases = feasible_bases(space, budgets, 5, np.random.default_rng(3), chunk=100)
    # The same as filtering the seeded batches of 100 by hand, in draw order.
    rng, expected = np.random.default_rng(3), []
    while len(expected) < 5:
        batch = random_base_batch(space, 100, rng)
        flops = count_batch(space, batch).flops
        expected += [batch.path(i, space).base for i in range(100) if budgets.fits(flops[i], 0)]
    assert bases == expected[:5]
    assert all(abs(count(space, Path(b)).flops - 4_000_000) <= 500_000 for b in bases)
    # The default batch is max(64, 4 * count): other draws than batches of 100.
    assert feasible_bases(space, budgets, 5, np.random.default_rng(3)) != bases


def test_feasible_bases_gives_up_with_the_numbers():
    impossible = Budgets(f0=1_000, max_stage=3, tolerance=0)
    with pytest.raises(ValueError) as info:
        feasible_bases(load_space("fmnist"), impossible, 2, np.random.default_rng(0), max_tries=3)
    assert str(info.value) == (
        "found 0 of 2 base models within f0 = 1,000 +- 0 in 3 batches of 64; widen the tolerance"
    )
