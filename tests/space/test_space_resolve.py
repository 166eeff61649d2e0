"""scalenet.space.resolve: the one reading of a named model (preset, string or file) and its check."""

import json

import pytest

from scalenet.space import (
    ARCH_PRESETS,
    MODEL_PRESETS,
    BaseArch,
    Path,
    Scaling,
    checked_path,
    count,
    get_arch,
    is_preset,
    load_space,
    resolve_path,
    scalenet_path,
)
from scalenet.space.cli import main

SMALL = "k3e1/k3e6/k3e6/k3e6/k3e6/k3e6/k3e6"  # in the imagenet and fmnist spaces' choices


def test_every_preset_resolves() -> None:
    assert ("efficientnet_b0", *(f"scalenet_s{j}" for j in range(6))) == MODEL_PRESETS
    assert resolve_path("efficientnet_b0") == Path(get_arch("efficientnet_b0"))
    for j in range(6):
        assert resolve_path(f"scalenet_s{j}") == scalenet_path(j)
    assert resolve_path("scalenet_s0").scaling == Scaling(1.0, 1.0, 1.0)
    assert set(ARCH_PRESETS) <= set(MODEL_PRESETS)
    assert is_preset(" scalenet_s3 ") and not is_preset("scalenet_s6") and not is_preset(3)


def test_strings_files_and_a_scaling_override(tmp_path) -> None:
    path = Path.decode(f"{SMALL}@d1.2,w1.1,r1.3")
    assert resolve_path(path) is path
    assert resolve_path(path.encode()) == path
    assert resolve_path(SMALL) == Path(BaseArch.decode(SMALL))
    assert resolve_path(path.encode(), Scaling(2.0, 1.0, 1.0)).scaling == Scaling(2.0, 1.0, 1.0)
    files = {
        "path.json": {"path": path.encode()},
        "member.json": {"name": "S1", "stage": 1, "path": path.encode(), "flops": 1},
        "full.json": path.to_json(),
    }
    for name, payload in files.items():
        (tmp_path / name).write_text(json.dumps(payload))
        assert resolve_path(str(tmp_path / name)) == path, name
    (tmp_path / "arch.json").write_text(json.dumps(path.base.to_json()))
    assert resolve_path(tmp_path / "arch.json") == Path(path.base)


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ("resnet50", r"ARCH 'resnet50' is not a preset \(efficientnet_b0, scalenet_s0, .*scalenet_s5\)"),
        ("scalenet_s6", "ARCH 'scalenet_s6' is not a preset"),
        ("missing.json", "ARCH file missing.json does not exist"),
        ("k3e1/k3e6/kxe6/k3e6/k3e6/k3e6/k3e6", "cannot parse 'kxe6'"),
    ],
)  # fmt: skip
def test_bad_names_say_what_is_wrong(arch: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_path(arch)


def test_a_file_of_something_else_is_named(tmp_path) -> None:
    (tmp_path / "other.json").write_text(json.dumps({"model": "b0"}))
    with pytest.raises(ValueError, match=r"other\.json: .*needs a 'base'"):
        resolve_path(str(tmp_path / "other.json"))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        resolve_path(str(tmp_path / "list.json"))


def test_checked_path_checks_strings_fully_and_presets_by_shape() -> None:
    fmnist = load_space("fmnist")
    # EfficientNet-B0 has more blocks than the small space allows: named as a preset on purpose
    # it passes the shape check (7 stages), and fails where the space's own choices are asked for
    assert checked_path("efficientnet_b0", fmnist) == resolve_path("efficientnet_b0")
    with pytest.raises(ValueError, match=r"stage 6: 4 blocks not in 1\.\.3"):
        checked_path("efficientnet_b0", fmnist, presets="choices")
    with pytest.raises(ValueError, match=r"stage 6: 4 blocks not in 1\.\.3"):
        checked_path(ARCH_PRESETS["efficientnet_b0"], fmnist)  # the same blocks as a string
    assert checked_path(SMALL, fmnist).base == BaseArch.decode(SMALL)
    with pytest.raises(ValueError, match="arch has 2 stages"):
        checked_path("k3e1/k3e6", fmnist)
    with pytest.raises(ValueError, match="arch has 2 stages"):
        checked_path(Path.decode("k3e1/k3e6"), fmnist)  # a Path object is checked too
    with pytest.raises(ValueError, match=r"presets 'all' not in \{shape, choices\}"):
        checked_path(SMALL, fmnist, presets="all")  # type: ignore[arg-type]


def test_the_space_cli_now_takes_every_model_preset(capsys) -> None:
    assert main(["flops", "scalenet_s3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["path"] == scalenet_path(3).encode()
    assert data["flops"] == count(load_space("imagenet"), scalenet_path(3)).flops
