"""scalenet.space.timm: timm block strings of scaled paths."""

from __future__ import annotations

from pathlib import Path as FilePath

from scalenet.space import Path, get_arch, load_space, scalenet_path
from scalenet.space.timm import arch_def, block_string, write_block_string


def test_block_string_efficientnet_b0() -> None:
    space = load_space("imagenet")
    assert arch_def(space, Path(get_arch("efficientnet_b0"))) == [
        ["ds_r1_k3_s1_c16_se0.25"],
        ["ir_r2_k3_s2_e6_c24_se0.25"],
        ["ir_r2_k5_s2_e6_c40_se0.25"],
        ["ir_r3_k3_s2_e6_c80_se0.25"],
        ["ir_r3_k5_s1_e6_c112_se0.25"],
        ["ir_r4_k5_s2_e6_c192_se0.25"],
        ["ir_r1_k3_s1_e6_c320_se0.25"],
    ]  # timm's efficientnet_b0 arch_def, block for block


def test_block_string_after_scaling() -> None:
    space = load_space("imagenet")
    stages = arch_def(space, scalenet_path(3))  # d1.48, w1.4, r1.58
    # stage 3 of S0 is k7 k7 k5 k3 -> ceil(4 * 1.48) = 6 blocks, the extra two copy k3
    assert stages[2] == [
        "ir_r2_k7_s2_e6_c56_se0.25", "ir_r1_k5_s1_e6_c56_se0.25", "ir_r3_k3_s1_e6_c56_se0.25",
    ]  # fmt: skip
    assert stages[0] == ["ds_r2_k5_s1_c23_se0.25"]  # ceil(16 * 1.4) = 23 channels, 2 blocks
    text = block_string(space, scalenet_path(3))
    assert "resolution 354" in text and "params 13199402" in text
    assert text.count("\nstage") == 7


def test_block_string_no_se_and_file(tmp_path: FilePath) -> None:
    space = load_space("fmnist")
    write_block_string(space, "k3e1/k3e3/k3e3/k3e3/k3e3/k3e3/k5e6", tmp_path / "b.txt")
    lines = (tmp_path / "b.txt").read_text().splitlines()
    assert lines[-1] == "stage7: ir_r1_k5_s1_e6_c64"
    assert lines[3] == "stage1: ds_r1_k3_s1_c8"
