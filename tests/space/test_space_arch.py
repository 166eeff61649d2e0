import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalenet.space import BaseArch, BlockSpec, Path, Scaling, StageSpec

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
        ("k3e6se*0", "repeat count must be >= 1"),
        ("k3e6@d1,w1", "scaling: cannot parse"),
        ("k3e6@dx,w1,r1", "depth 'x' is not a number"),
        ("k3e6@d-1,w1,r1", "depth must be a positive finite number"),
        ("k3e6@d1,w1,rinf", "resolution must be a positive finite number"),
    ],
)
def test_malformed_strings_name_the_field(text, message):
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        Path.decode(text)


def test_bad_json_names_the_missing_key():
    with pytest.raises(ValueError, match="block: JSON is missing key"):
        BlockSpec.from_json({"kernel": 3, "expand": 6})
    with pytest.raises(ValueError, match="'base'"):
        Path.from_json({})
    with pytest.raises(ValueError, match="must be an object"):
        BaseArch.from_json([])  # type: ignore[arg-type]


def test_values_are_frozen_and_hashable():
    block = BlockSpec(3, 6, True)
    with pytest.raises(AttributeError):
        block.kernel = 5  # type: ignore[misc]
    assert len({Path.decode("k3e6@d1,w1,r1"), Path.decode("k3e6")}) == 1
    with pytest.raises(ValueError, match="se must be a bool"):
        BlockSpec(3, 6, 1)  # type: ignore[arg-type]
