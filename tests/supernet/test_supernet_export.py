"""Export: ONNX checked with onnxruntime, TorchScript (block strings: tests/space/test_space_timm.py)."""

from __future__ import annotations

from pathlib import Path as FilePath

import pytest
import torch
from supernet_testutils import randomize

from scalenet.space import SearchSpace
from scalenet.supernet.standalone.export import export_onnx, export_torchscript, onnx_max_abs_diff
from scalenet.supernet.standalone.zoo import create_model

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
