from __future__ import annotations

import json
from pathlib import Path

import pytest

from scalenet.scaling import TABLE3_SEARCHED, load_strategies, parse_strategies
from scalenet.space import TABLE3_STRATEGIES, Scaling, get_arch

DATA = Path(__file__).parent / "data"


def _entries(*rows: tuple[int, float, float, float]) -> list[dict[str, float]]:
    return [{"stage": s, "depth": d, "width": w, "resolution": r} for s, d, w, r in rows]


def test_table3_preset_is_the_searched_stages() -> None:
    searched = load_strategies("table3")
    assert searched.strategies == TABLE3_STRATEGIES[1:4] == TABLE3_SEARCHED
    assert searched.base == get_arch("scalenet_s0")
    assert searched.max_stage == 3


def test_example_search_output_loads() -> None:
    searched = load_strategies(DATA / "search_table3_fmnist.json")
    assert searched.strategies == TABLE3_SEARCHED
    assert searched.base is not None and searched.base.depths == (1, 1, 3, 2, 2, 3, 1)


def test_yaml_list_and_round_trip(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text(
        "- {stage: 0, depth: 1, width: 1, resolution: 1}\n"
        "- {stage: 1, depth: 1.1, width: 1.05, resolution: 1.1}\n"
        "- {stage: 2, depth: 1.2, width: 1.1, resolution: 1.3}\n"
    )
    searched = load_strategies(file)
    assert searched.strategies == (Scaling(1.1, 1.05, 1.1), Scaling(1.2, 1.1, 1.3))
    assert searched.base is None
    again = parse_strategies(json.loads(json.dumps(searched.to_json())))
    assert again == searched


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_entries((1, 1.1, 1.1, 1.1), (3, 1.3, 1.3, 1.3)), r"s: stage 2 is missing .*got 1, 3\)"),
        (_entries((2, 1.1, 1.1, 1.1), (3, 1.3, 1.3, 1.3)), "stage 1 is missing"),
        (
            _entries((1, 1.1, 1.1, 1.1), (1, 1.3, 1.3, 1.3)),
            "stages must increase, but stage 1 follows stage 1",
        ),
        (_entries((2, 1.1, 1.1, 1.1), (1, 1.3, 1.3, 1.3)), "stage 1 follows stage 2"),
        (_entries((1, 1.1, -1.0, 1.1)), r"s: stage 1: width must be a finite number > 0, got -1.0"),
        (_entries((1, 1.1, 1.1, 0)), "stage 1: resolution must be a finite number > 0"),
        (_entries((1, "big", 1.1, 1.1)), "stage 1: depth must be a number"),
        (_entries((-1, 1.1, 1.1, 1.1)), "stage must be an int >= 0, got -1"),
        (_entries((0, 1.1, 1.0, 1.0)), "stage 0 is the base model"),
        ([{"stage": 1, "depth": 1.1, "resolution": 1.1}], "entry 1 is missing key.s. width"),
        ([{"stage": 1, "depth": 1.1, "width": 1.1, "resolution": 1.1, "d": 2}], "unknown key.s. d"),
        ([], "non-empty list"),
        ({"base": None}, "'strategies'"),
        ({"base": "x9e1", "strategies": _entries((1, 1.1, 1.1, 1.1))}, "s: base: "),
        (["x"], "entry 1 must be a mapping"),
    ],
)
def test_bad_strategies_give_one_clear_line(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_strategies(data, source="s")
    assert "\n" not in str(info.value)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"does not exist .*table3"):
        load_strategies(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_strategies(bad)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("- [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML") as info:
        load_strategies(bad_yaml)
    assert "\n" not in str(info.value)


def test_search_stage_output_is_accepted_as_written():
    from scalenet.scaling import parse_strategies

    result = {
        "base": "k7e1/k3e6se-k5e6se/k5e3se-k3e6se-k5e3/k3e6se/k7e3-k7e6/k7e6se-k7e6-k3e3se/k3e3",
        "base_flops": 4038728,
        "strategies": [
            {"stage": 1, "depth": 1.04, "width": 1.08, "resolution": 1.0, "flops": 7232330,
             "accuracy": 61.0, "fits": True},
            {"stage": 2, "depth": 1.28, "width": 1.32, "resolution": 1.21, "flops": 16092196,
             "accuracy": 59.0, "fits": True},
        ],
        "log": [],
    }  # fmt: skip
    searched = parse_strategies(result, "result.json")
    assert searched.max_stage == 2
    assert searched.strategies[1].width == 1.32
    assert searched.base is not None and searched.base.depths == (1, 2, 3, 1, 2, 3, 1)


def test_search_result_keeps_its_space_and_budgets() -> None:
    searched = load_strategies(DATA / "search_result_fmnist.json")
    assert searched.space == "fmnist"
    assert searched.budgets is not None
    assert (searched.budgets.f0, searched.budgets.max_stage, searched.budgets.tolerance) == (
        4_000_000,
        3,
        500_000,
    )
    data = searched.to_json()
    assert data["space"] == "fmnist" and data["budgets"]["f0"] == 4_000_000
    assert parse_strategies(json.loads(json.dumps(data))) == searched
    # the other forms name neither
    table3 = load_strategies("table3")
    assert table3.space is None and table3.budgets is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"space": 3}, "s: space must be a space name .a non-empty string., got 3"),
        ({"space": ""}, "s: space must be a space name"),
        ({"budgets": [1, 2]}, r"s: budgets must be a budgets JSON object, got \[1, 2\]"),
        ({"budgets": {"f0": 4_000_000}}, "s: budgets: budgets JSON is missing key 'max_stage'"),
        ({"budgets": {"f0": -1, "max_stage": 3, "tolerance": 1}}, "s: budgets: f0 must be > 0"),
    ],
)
def test_bad_space_or_budgets_give_one_line(extra: dict[str, object], message: str) -> None:
    data = {"strategies": _entries((1, 1.1, 1.1, 1.1)), **extra}
    with pytest.raises(ValueError, match=message) as info:
        parse_strategies(data, source="s")
    assert "\n" not in str(info.value)
