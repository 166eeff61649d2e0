"""Export: ONNX checked with onnxruntime, TorchScript, timm-style block strings."""

from __future__ import annotations

from pathlib import Path as FilePath

import pytest
import torch
from supernet_testutils import randomize

from scalenet.space import Path, SearchSpace, get_arch, load_space, scalenet_path
from scalenet.supernet.export import (
    arch_def,
    block_string,
    export_onnx,
    export_torchscript,
    onnx_max_abs_diff,
    write_block_string,
)
from scalenet.supernet.zoo import create_model

TINY = "k5e1se/k3e6se-k3e6se/k3e3/k5e3se/k3e3/k7e6/k3e3se@d1.2,w1.08,r1.14"


def _model(space: SearchSpace) -> torch.nn.Module:
    model = create_model(TINY, space=space, drop_rate=0.3)
    randomize(model, seed=3)
    return model


def test_onnx_matches_pytorch(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    pytest.importorskip("onnxruntime")
    model = _model(tiny_space)
    model.train()
    difference = export_onnx(model, tmp_path / "m.onnx")
    assert difference is not None and difference < 1e-4
    assert model.training  # the model itself is left as it was
    # dynamic batch axis, another batch size and seed
    assert onnx_max_abs_diff(model, tmp_path / "m.onnx", batch=5, seed=9) < 1e-4
    # the logits are not trivially equal (non-trivial weights)
    with torch.no_grad():
        logits = model.eval()(torch.randn(2, 3, model.resolution, model.resolution))
    assert logits.std() > 1e-3


def test_onnx_refuses_a_mismatch(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    pytest.importorskip("onnxruntime")
    model = _model(tiny_space)
    export_onnx(model, tmp_path / "m.onnx", verify=False)
    other = _model(tiny_space)
    randomize(other, seed=4)
    assert onnx_max_abs_diff(other, tmp_path / "m.onnx") > 1e-3
    with pytest.raises(ValueError, match="onnxruntime"):
        export_onnx(model, tmp_path / "m2.onnx", tolerance=-1.0)


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_torchscript_round_trip(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    model = _model(tiny_space).eval()
    export_torchscript(model, tmp_path / "m.ts")
    loaded = torch.jit.load(str(tmp_path / "m.ts"))
    images = torch.randn(3, 3, 28, 28)  # resized inside, as the eager model does
    with torch.no_grad():
        assert torch.allclose(loaded(images), model(images), atol=1e-5)


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


def test_block_string_no_se_and_file(space: SearchSpace, tmp_path: FilePath) -> None:
    write_block_string(space, "k3e1/k3e3/k3e3/k3e3/k3e3/k3e3/k5e6", tmp_path / "b.txt")
    lines = (tmp_path / "b.txt").read_text().splitlines()
    assert lines[-1] == "stage7: ir_r1_k5_s1_e6_c64"
    assert lines[3] == "stage1: ds_r1_k3_s1_c8"
