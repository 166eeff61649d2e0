import math

import pytest

from scalenet.space import (
    ARCH_PRESETS,
    TABLE3_STRATEGIES,
    BaseArch,
    ScalingSpace,
    SearchSpace,
    get_arch,
    list_spaces,
    load_space,
)
from scalenet.space.rules import scale_ceil
from scalenet.space.scaling_space import grid_from_range


def test_shipped_spaces():
    assert list_spaces() == ["fmnist", "imagenet", "imagenet100"]


def test_imagenet_is_table1():
    space = load_space("imagenet")
    table1 = [(1, 1, 16, 1), (1, 4, 32, 2), (1, 4, 40, 2), (1, 4, 80, 2), (1, 4, 96, 1),
              (1, 4, 192, 2), (1, 1, 320, 1)]  # fmt: skip
    assert [(s.min_depth, s.max_depth, s.out_chs, s.stride) for s in space.stages] == table1
    assert space.stages[0].expands == (1,)
    assert all(s.expands == (3, 6) for s in space.stages[1:])
    assert all(s.kernels == (3, 5, 7) and s.se == (False, True) for s in space.stages)
    assert (space.resolution, space.in_chs, space.stem_chs, space.stem_stride) == (224, 3, 32, 2)
    assert (space.head_chs, space.num_classes, space.se_ratio) == (1280, 1000, 0.25)


def test_imagenet100_halves_channels():
    full, half = load_space("imagenet"), load_space("imagenet100")
    assert [s.out_chs for s in half.stages] == [s.out_chs // 2 for s in full.stages]
    assert (half.stem_chs, half.head_chs, half.num_classes) == (16, 640, 100)


# Table 2 of the supplementary: d and w share the grids, r has three values per scaling stage.
TABLE2_DW = {
    0: (1.0,),
    1: (1.04, 1.08, 1.12, 1.16),
    2: (1.2, 1.24, 1.28, 1.32, 1.36),
    3: (1.4, 1.44, 1.48, 1.52, 1.56, 1.6, 1.64),
}
TABLE2_R = {0: (1.0,), 1: (1.0, 1.07, 1.14), 2: (1.21, 1.28, 1.35), 3: (1.43, 1.5, 1.57)}
# The official configuration (config/mcea_searching.yaml): 224, 240, 256 | 272, 288, 304 |
# 320, 336, 354 px, i.e. these multipliers; Table 3's S2 and S3 use r = 1.355 and 1.58.
OFFICIAL_R = {0: (1.0,), 1: (1.0, 1.07, 1.14), 2: (1.21, 1.285, 1.355), 3: (1.425, 1.5, 1.58)}


@pytest.mark.parametrize(
    ("name", "resolution"),
    [("imagenet", OFFICIAL_R), ("imagenet100", TABLE2_R), ("fmnist", TABLE2_R)],
)
def test_every_scaling_stage_is_table2_in_full(name, resolution):
    scaling = load_space(name).scaling
    assert scaling.max_stage == 3
    for j in range(4):
        grid = scaling.grid(j)
        assert (grid.depth, grid.width, grid.resolution) == (
            TABLE2_DW[j],
            TABLE2_DW[j],
            resolution[j],
        )


def test_imagenet_grids_hold_the_published_strategies_and_official_pixel_lists():
    space = load_space("imagenet")
    for j in (1, 2, 3):
        assert space.scaling.grid(j).contains(TABLE3_STRATEGIES[j]), j
    pixels = [
        [scale_ceil(space.resolution, r) for r in space.scaling.grid(j).resolution]
        for j in range(4)
    ]
    assert pixels == [[224], [224, 240, 256], [272, 288, 304], [320, 336, 354]]


def test_scaling_grids_accept_explicit_values():
    space = ScalingSpace.from_ranges(
        [[1.1, 0.1, 1.3]], [{"values": [1.1, 1.25]}], [{"values": [1.0, 1.125, 1.3]}]
    )
    assert space.grid(1).width == (1.1, 1.25) and space.grid(1).resolution == (1.0, 1.125, 1.3)
    assert space.grid(1).size == 3 * 2 * 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"values": []}, "scaling stage 1 resolution: values must list at least one coefficient"),
        ({"values": [1.2, 1.1]}, "values must increase, got 1.2 then 1.1 at [0], [1]"),
        ({"values": [0, 1.1]}, "scaling stage 1 resolution: values[0] must be > 0, got 0"),
        ({"values": [1.0, "x"]}, "scaling stage 1 resolution values[1] must be a number"),
        ({"value": [1.0]}, "expected [min, step, max] or {values: [...]}, got keys value"),
    ],
)
def test_bad_explicit_grid_values(spec, message):
    with pytest.raises(ValueError) as info:
        ScalingSpace.from_ranges([[1.1, 0.1, 1.3]], [[1.1, 0.1, 1.3]], [spec])
    assert message in str(info.value)


def test_imagenet_scaling_is_table2():
    scaling = load_space("imagenet").scaling
    assert scaling.max_stage == 3
    assert scaling.grid(0).strategies()[0].encode() == "d1.0,w1.0,r1.0"
    assert [len(scaling.grid(j).depth) for j in (1, 2, 3)] == [4, 5, 7]
    assert [g.size for g in scaling.stages] == [1, 48, 75, 147]
    assert scaling.num_strategies == 271
    assert scaling.union("resolution")[:2] == (1.0, 1.07)


def test_scaling_space_has_m_as_a_parameter():
    space = ScalingSpace.from_ranges(
        [[1.1, 0.1, 1.3]] * 5, [[1.1, 0.1, 1.3]] * 5, [[1.0, 0, 1.0]] * 5
    )
    assert space.max_stage == 5
    assert space.grid(5).size == 9
    with pytest.raises(ValueError, match=r"scaling_stage 6 not in 0..5"):
        space.grid(6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1.0, 0.3, 1.5), "not a whole number"),
        ((1.5, 0.1, 1.0), "below min"),
        ((0.0, 0.1, 1.0), "min must be > 0"),
        ((1.0, 0.0, 1.5), "step must be > 0"),
    ],
)
def test_bad_ranges(args, message):
    with pytest.raises(ValueError, match=message):
        grid_from_range(*args)


def test_exact_size():
    space = load_space("imagenet")
    per_stage = 12 + 12**2 + 12**3 + 12**4
    assert space.num_base_models == 6 * per_stage**5 * 12
    assert space.num_paths == space.num_base_models * 271
    assert isinstance(space.num_paths, int)
    assert math.isclose(space.num_paths, 1.155e26, rel_tol=1e-3)


def test_validate_names_stage_block_and_field():
    space = load_space("imagenet")
    good = BaseArch.decode("k3e1se/k3e6/k5e3se/k7e6/k3e3/k5e6/k3e6se")
    assert space.validate(good) is good
    bad = BaseArch.decode("k3e6se/k3e6/k9e6/k7e6*5/k3e3/k5e6/k3e6se")
    with pytest.raises(ValueError) as info:
        space.validate(bad)
    message = str(info.value)
    assert "stage 1 block 1: expand 6 not in {1}" in message
    assert "stage 3 block 1: kernel 9 not in {3, 5, 7}" in message
    assert "stage 4: 5 blocks not in 1..4" in message
    with pytest.raises(ValueError, match="arch has 2 stages, space 'imagenet' has 7"):
        space.validate(BaseArch.decode("k3e1/k3e6"))


def test_validate_checks_channel_overrides():
    space = load_space("imagenet")
    with pytest.raises(ValueError) as info:
        space.validate(BaseArch.decode("c999:k3e1/k3e6/k3e6/k3e6/k3e6/k3e6/c321:k3e6"))
    assert str(info.value) == "stage 1: out_chs 999 not in {16}; stage 7: out_chs 321 not in {320}"
    same = BaseArch.decode("c16:k3e1/c32:k3e6/k3e6/k3e6/k3e6/k3e6/k3e6")  # redundant, allowed
    assert space.problems(same) == []


def test_presets_keep_their_channel_overrides():
    b0 = get_arch("efficientnet_b0")  # stages 2 and 5: 24 and 112 channels (Table 1: 32, 96)
    assert [stage.out_chs for stage in b0.stages] == [None, 24, None, None, 112, None, None]
    for name in ("imagenet", "imagenet100"):
        assert load_space(name).problems(b0) == []
        assert load_space(name).problems(get_arch("scalenet_s0")) == []
    # The same overrides outside a preset (one block changed) are reported.
    edited = BaseArch.decode(
        ARCH_PRESETS["efficientnet_b0"].replace("k3e6se*3/c112", "k3e6*3/c112")
    )
    assert load_space("imagenet").problems(edited) == [
        "stage 2: out_chs 24 not in {32}",
        "stage 5: out_chs 112 not in {96}",
    ]
    # Everything but the channels is still checked for presets: fmnist allows 3 blocks.
    assert load_space("fmnist").problems(b0) == ["stage 6: 4 blocks not in 1..3"]


def test_largest_and_smallest_lie_in_space():
    for name in list_spaces():
        space = load_space(name)
        assert space.problems(space.largest_arch()) == []
        assert space.problems(space.smallest_arch()) == []


def test_extreme_paths_span_every_scaling_stage():
    space = load_space("fmnist")
    paths = space.extreme_paths()
    stages = range(space.scaling.max_stage + 1)
    assert list(paths) == [f"stage{m}_{end}" for m in stages for end in ("largest", "smallest")]
    for m in stages:
        grid = space.scaling.grid(m)
        largest, smallest = paths[f"stage{m}_largest"], paths[f"stage{m}_smallest"]
        assert largest.base == space.largest_arch() and smallest.base == space.smallest_arch()
        assert grid.contains(largest.scaling) and grid.contains(smallest.scaling)
        assert largest.scaling.depth == max(grid.depth)
        assert smallest.scaling.resolution == min(grid.resolution)
        assert all(s.problems(largest.base) == [] for s in (space,))


def _space_dict(**overrides):
    data = {
        "name": "t", "resolution": 32, "in_chs": 3, "stem_chs": 8, "head_chs": 16,
        "num_classes": 10, "budget_unit": 1000, "budget_tolerance": 100,
        "stages": [{"n": [1, 2], "c": 8, "s": 1, "k": [3], "e": [3], "se": [False]}],
        "scaling": {"depth": [[1.1, 0.1, 1.2]], "width": [[1.1, 0.1, 1.2]],
                    "resolution": [[1.0, 0.1, 1.1]]},
    }  # fmt: skip
    data.update(overrides)
    return data


def test_space_from_dict_ok():
    space = SearchSpace.from_dict(_space_dict())
    assert space.num_base_models == 1 + 1
    assert space.stem_stride == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": 1}, "unknown key.*colour"),
        ({"resolution": -3}, "resolution: must be a positive integer"),
        ({"stages": [{"n": [2, 1], "c": 8, "s": 1, "k": [3], "e": [3], "se": [False]}]}, "n_max 1 < n_min 2"),
        ({"stages": [{"n": [1, 1], "c": 8, "s": 1, "k": [4], "e": [3], "se": [False]}]}, "odd kernel"),
        ({"stages": [{"n": [1, 1], "c": 8, "s": 1, "k": [3], "e": [3]}]}, "missing se"),
        ({"stages": [{"n": [1, 1], "c": 8, "s": 1, "k": [3], "e": [3], "se": ["yes"]}]}, "se: must list"),
        ({"scaling": {"depth": [[1.1, 0.1, 1.2]], "width": [], "resolution": [[1, 0, 1]]}}, "one range per"),
    ],
)  # fmt: skip
def test_space_from_dict_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace.from_dict(_space_dict(**overrides), source="t.yaml")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"se_ratio": "x"}, "t.yaml: se_ratio must be a number, got 'x'"),
        ({"se_ratio": [0.25]}, "t.yaml: se_ratio must be a number, got [0.25]"),
        ({"se_ratio": True}, "t.yaml: se_ratio must be a number, got True"),
        ({"se_ratio": 1.5}, "t.yaml: se_ratio must be in (0, 1], got 1.5"),
        ({"scaling": {"depth": [[1.1, "x", 1.2]], "width": [[1.1, 0.1, 1.2]], "resolution": [[1.0, 0.1, 1.1]]}},
         "t.yaml: scaling stage 1 depth step must be a number, got 'x'"),
        ({"scaling": {"depth": [[1.1, 0.1, 1.2]], "width": [1.1], "resolution": [[1.0, 0.1, 1.1]]}},
         "t.yaml: scaling stage 1 width [min, step, max] must be a list, got 1.1"),
        ({"scaling": {"depth": 3, "width": [[1.1, 0.1, 1.2]], "resolution": [[1.0, 0.1, 1.1]]}},
         "t.yaml: scaling space: depth (one [min, step, max] per scaling stage) must be a list, got 3"),
    ],
)  # fmt: skip
def test_space_from_dict_number_errors_name_the_field(overrides, message):
    with pytest.raises(ValueError) as info:
        SearchSpace.from_dict(_space_dict(**overrides), source="t.yaml")
    assert str(info.value) == message


def test_space_file_with_a_bad_se_ratio(tmp_path):
    import yaml

    file = tmp_path / "mine.yaml"
    file.write_text(yaml.safe_dump(_space_dict(se_ratio="quarter")))
    with pytest.raises(ValueError) as info:
        load_space(file)
    assert str(info.value) == f"{file}: se_ratio must be a number, got 'quarter'"


def test_load_space_errors(tmp_path):
    with pytest.raises(ValueError, match=r"space 'nope' not in \{fmnist, imagenet, imagenet100\}"):
        load_space("nope")
    with pytest.raises(ValueError, match="does not exist"):
        load_space(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_space(broken)


def test_load_space_from_file(tmp_path):
    import yaml

    file = tmp_path / "mine.yaml"
    file.write_text(yaml.safe_dump(_space_dict(name="mine")))
    assert load_space(file).name == "mine"
