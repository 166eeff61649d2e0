import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalenet.space import BaseArch, BlockSpec, Path, Scaling, StageSpec
from scalenet.space.arch import MAX_REPEAT

blocks = st.builds(
    BlockSpec,
    kernel=st.sampled_from([1, 3, 5, 7, 9]),
    expand=st.integers(1, 8),
    se=st.booleans(),
)
stages = st.builds(
    StageSpec,
    blocks=st.lists(blocks, min_size=1, max_size=6).map(tuple),
    out_chs=st.one_of(st.none(), st.integers(1, 2048)),
)
archs = st.builds(BaseArch, stages=st.lists(stages, min_size=1, max_size=8).map(tuple))
coefficients = st.floats(min_value=1e-3, max_value=10.0, allow_nan=False, allow_infinity=False)
scalings = st.builds(Scaling, depth=coefficients, width=coefficients, resolution=coefficients)
paths = st.builds(Path, base=archs, scaling=scalings)


@given(blocks)
def test_block_roundtrip(block):
    assert BlockSpec.decode(block.encode()) == block
    assert BlockSpec.from_json(json.loads(json.dumps(block.to_json()))) == block


@given(stages)
def test_stage_roundtrip(stage):
    assert StageSpec.decode(stage.encode()) == stage
    assert StageSpec.from_json(json.loads(json.dumps(stage.to_json()))) == stage


@given(archs)
def test_arch_roundtrip(arch):
    assert BaseArch.decode(arch.encode()) == arch
    assert BaseArch.from_json(json.loads(json.dumps(arch.to_json()))) == arch


@given(scalings)
def test_scaling_roundtrip_is_exact(scaling):
    assert Scaling.decode(scaling.encode()) == scaling
    assert Scaling.from_json(json.loads(json.dumps(scaling.to_json()))) == scaling


@given(paths)
def test_path_roundtrip(path):
    assert Path.decode(path.encode()) == path
    assert Path.from_json(json.loads(path.dumps())) == path
    assert Path.from_json({"path": path.encode()}) == path


def test_readable_strings():
    path = Path.decode("k3e1se/c24:k3e6se*2/k5e6@d1.08,w1.04,r1.14")
    assert path.base.stages[1].out_chs == 24
    assert path.base.stages[1].blocks == (BlockSpec(3, 6, True), BlockSpec(3, 6, True))
    assert path.base.stages[2].blocks == (BlockSpec(5, 6, False),)
    assert path.scaling == Scaling(1.08, 1.04, 1.14)
    assert path.encode() == "k3e1se/c24:k3e6se-k3e6se/k5e6@d1.08,w1.04,r1.14"
    assert Path.decode("k3e1se").scaling == Scaling(1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "arch: empty string"),
        ("k3e6x", "cannot parse 'k3e6x'"),
        ("k3e6/k4e6", "kernel must be odd, got 4"),
        ("k3e0", "expand must be a positive int"),
        ("c0:k3e6", "out_chs must be a positive int"),
        ("k3e6se*0", "block: repeat count 0 in 'k3e6se*0' not in 1..64"),
        ("k3e6se*65", "block: repeat count 65 in 'k3e6se*65' not in 1..64"),
        ("k3e6*99999999999", "block: repeat count 99999999999 in 'k3e6*99999999999' not in 1..64"),
        ("k3e6@d1,w1", "scaling: cannot parse"),
        ("k3e6@dx,w1,r1", "depth 'x' is not a number"),
        ("k3e6@d-1,w1,r1", "depth must be a positive finite number"),
        ("k3e6@d1,w1,rinf", "resolution must be a positive finite number"),
    ],
)
def test_malformed_strings_name_the_field(text, message):
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        Path.decode(text)


def test_repeat_up_to_the_cap_decodes():
    stage = StageSpec.decode("k3e6*64")
    assert stage.depth == MAX_REPEAT == 64
    assert set(stage.blocks) == {BlockSpec(3, 6, False)}


def test_bad_json_names_the_missing_key():
    with pytest.raises(ValueError, match="block: JSON is missing key"):
        BlockSpec.from_json({"kernel": 3, "expand": 6})
    with pytest.raises(ValueError, match="'base'"):
        Path.from_json({})
    with pytest.raises(ValueError, match="arch must be a JSON object, got list"):
        BaseArch.from_json([])  # type: ignore[arg-type]


_B = {"kernel": 3, "expand": 6, "se": True}


@pytest.mark.parametrize(
    ("cls", "data", "message"),
    [
        (BlockSpec, {"kernel": 3.7, "expand": 6.9, "se": "no"}, "block: kernel must be an int, got 3.7"),
        (BlockSpec, {"kernel": 3, "expand": 6.9, "se": "no"}, "block: expand must be an int, got 6.9"),
        (BlockSpec, {"kernel": 3, "expand": 6, "se": "no"}, "block: se must be a bool, got 'no'"),
        (BlockSpec, {"kernel": 3, "expand": 6, "se": 1}, "block: se must be a bool, got 1"),
        (BlockSpec, {"kernel": True, "expand": 6, "se": True}, "block: kernel must be an int, got True"),
        (BlockSpec, {"kernel": 3.0, "expand": 6, "se": True}, "block: kernel must be an int, got 3.0"),
        (BlockSpec, {"kernel": "3", "expand": 6, "se": True}, "block: kernel must be an int, got '3'"),
        (BlockSpec, {"kernel": None, "expand": 6, "se": True}, "block: kernel must be an int, got None"),
        (BlockSpec, "k3e6", "block must be a JSON object, got str"),
        (StageSpec, {"blocks": None}, "stage: blocks must be a list, got None"),
        (StageSpec, {"blocks": 3}, "stage: blocks must be a list, got 3"),
        (StageSpec, {"blocks": [_B], "out_chs": "24"}, "stage: out_chs must be an int, got '24'"),
        (StageSpec, {"blocks": [_B], "out_chs": 24.5}, "stage: out_chs must be an int, got 24.5"),
        (StageSpec, {"blocks": [_B], "out_chs": True}, "stage: out_chs must be an int, got True"),
        (StageSpec, {"blocks": []}, "stage: needs at least one block"),
        (BaseArch, {"stages": 3}, "arch: stages must be a list, got 3"),
        (BaseArch, {"stages": None}, "arch: stages must be a list, got None"),
        (BaseArch, {"stages": [{"blocks": None}]}, "arch stage 1: stage: blocks must be a list, got None"),
        (BaseArch, {"stages": [{"blocks": [_B]}, {"blocks": [{**_B, "se": "no"}]}]},
         "arch stage 2: block: se must be a bool, got 'no'"),
        (Scaling, {"depth": True, "width": 1.0, "resolution": 1.0}, "scaling: depth must be a number, got True"),
        (Scaling, {"depth": 1.0, "width": "x", "resolution": 1.0}, "scaling: width must be a number, got 'x'"),
        (Scaling, {"depth": 1.0, "width": 1.0, "resolution": None}, "scaling: resolution must be a number, got None"),
        (Scaling, {"depth": 1.0, "width": 1.0, "resolution": -2}, "scaling: resolution must be a positive finite number, got -2.0"),
        (Path, 3, "path must be a JSON object, got 3"),
        (Path, {"path": 5}, "path: 'path' must be a path string, got 5"),
        (Path, {"base": {"stages": 3}}, "arch: stages must be a list, got 3"),
        (Path, {"base": {"stages": [{"blocks": [_B]}]}, "scaling": [1, 1, 1]}, "scaling must be a JSON object, got list"),
    ],
)  # fmt: skip
def test_json_types_are_strict_and_errors_name_the_field(cls, data, message):
    with pytest.raises(ValueError) as info:
        cls.from_json(data)
    assert str(info.value) == message


def test_json_accepts_numpy_numbers_and_int_coefficients():
    block = BlockSpec.from_json(
        {"kernel": np.int64(5), "expand": np.int32(6), "se": np.bool_(True)}
    )
    assert block == BlockSpec(5, 6, True) and type(block.kernel) is int and type(block.se) is bool
    stage = StageSpec.from_json({"blocks": [_B], "out_chs": np.int16(24)})
    assert stage.out_chs == 24 and type(stage.out_chs) is int
    scaling = Scaling.from_json(
        {"depth": 2, "width": np.float32(1.5), "resolution": np.float64(1.25)}
    )
    assert scaling == Scaling(2.0, 1.5, 1.25) and type(scaling.depth) is float


def test_values_are_frozen_and_hashable():
    block = BlockSpec(3, 6, True)
    with pytest.raises(AttributeError):
        block.kernel = 5  # type: ignore[misc]
    assert len({Path.decode("k3e6@d1,w1,r1"), Path.decode("k3e6")}) == 1
    with pytest.raises(ValueError, match="se must be a bool"):
        BlockSpec(3, 6, 1)  # type: ignore[arg-type]
