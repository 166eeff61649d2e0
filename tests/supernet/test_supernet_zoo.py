"""Model zoo: presets, path strings, family member files, pretrained weights, dropout."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path as FilePath

import pytest
import torch

from scalenet.space import Path, Scaling, SearchSpace, count, get_arch, load_space, scalenet_path
from scalenet.supernet import StaticNet, build_static, save_static
from scalenet.supernet.standalone.zoo import (
    PRESETS,
    counted_flops,
    create_model,
    finetune,
    num_params,
    resolve_path,
    set_dropout,
)

TINY = "k3e1/k3e3/k3e3/k3e3/k3e3/k3e3/k3e3@d1.0,w1.0,r1.0"


@pytest.fixture(scope="module")
def imagenet() -> SearchSpace:
    return load_space("imagenet")


@pytest.mark.parametrize("name", PRESETS)
def test_preset_forward_flops_and_params_match_space(name: str, imagenet: SearchSpace) -> None:
    start = time.perf_counter()
    model = create_model(name)
    path = resolve_path(name)
    cost = count(imagenet, path)
    assert isinstance(model, StaticNet)
    assert model.resolution == cost.resolution
    # a small input: the network resizes it to the path's resolution itself
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 32, 32))
    assert logits.shape == (1, 1000)
    assert torch.isfinite(logits).all()
    assert counted_flops(model, 32) == cost.flops
    assert num_params(model) == cost.params
    assert time.perf_counter() - start < 30


def test_preset_paths() -> None:
    assert resolve_path("scalenet_s3") == scalenet_path(3)
    assert resolve_path("efficientnet_b0") == Path(get_arch("efficientnet_b0"))
    assert resolve_path("scalenet_s0").scaling.resolution == 1.0
    assert count(load_space("imagenet"), resolve_path("efficientnet_b0")).params == 5288548


def test_unknown_name_lists_presets() -> None:
    with pytest.raises(ValueError, match="efficientnet_b0"):
        create_model("resnet50")
    with pytest.raises(ValueError, match="scalenet_s6"):
        resolve_path("scalenet_s6")  # scalenet_path's range error names it


def test_path_string_and_num_classes(space: SearchSpace) -> None:
    model = create_model(TINY, num_classes=7, space=space)
    assert model.classifier.out_features == 7
    cost = count(dataclasses.replace(space, num_classes=7), Path.decode(TINY))
    assert num_params(model) == cost.params
    assert counted_flops(model, model.resolution) == cost.flops


def test_family_member_file(space: SearchSpace, tmp_path: FilePath) -> None:
    path = Path.decode("k5e1se/k3e6se-k5e3/k3e3/k7e6se/k3e3/k5e6/k3e3se@d1.04,w1.08,r1.07")
    member = {"name": "S1", "stage": 1, "kind": "searched", "path": path.encode(), "flops": 1}
    file = tmp_path / "S1.json"
    file.write_text(json.dumps(member))
    model = create_model(str(file), space=space)
    assert model.path == path.encode()
    assert model.resolution == count(space, path).resolution == 35
    # a Path.to_json file works too
    full = tmp_path / "full.json"
    full.write_text(path.dumps())
    assert resolve_path(full) == path
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"bad\.json"):
        create_model(str(bad), space=space)
    with pytest.raises(ValueError, match=r"ARCH file .*missing\.json does not exist"):
        create_model(str(tmp_path / "missing.json"), space=space)


def test_family_member_files_build(space: SearchSpace, tmp_path: FilePath) -> None:
    # A member file as the generalize stage writes it: the path's JSON plus its costs.
    path = Path.decode(TINY)
    scaled = Path(path.base, Scaling(1.2, 1.24, 1.21))
    cost = count(space, scaled)
    member = {**scaled.to_json(), "flops": cost.flops, "params": cost.params, "kind": "searched"}
    file = tmp_path / "S2.json"
    file.write_text(json.dumps(member))
    model = create_model(str(file), space=space)
    assert num_params(model) == member["params"]
    assert counted_flops(model, cost.resolution) == member["flops"]


def test_pretrained_weights_and_finetune(space: SearchSpace, tmp_path: FilePath) -> None:
    source = build_static(space, TINY)
    assert isinstance(source, StaticNet)
    with torch.no_grad():
        for parameter in source.parameters():
            parameter.normal_()
    save_static(source, tmp_path / "w.pt")
    same = create_model(TINY, pretrained_path=tmp_path / "w.pt", space=space)
    for (name, a), b in zip(source.state_dict().items(), same.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    tuned = create_model(TINY, num_classes=3, pretrained_path=tmp_path / "w.pt", space=space)
    assert tuned.classifier.out_features == 3
    assert torch.equal(tuned.stem[0].weight, source.stem[0].weight)
    with pytest.raises(ValueError, match="weights of path"):
        create_model("k5e1/k3e3/k3e3/k3e3/k3e3/k3e3/k3e3", pretrained_path=tmp_path / "w.pt",
                      space=space)  # fmt: skip
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"junk\.pt"):
        create_model(TINY, pretrained_path=tmp_path / "junk.pt", space=space)


def test_finetune_replaces_only_the_classifier(space: SearchSpace) -> None:
    model = create_model(TINY, space=space)
    before = {k: v.clone() for k, v in model.state_dict().items() if "classifier" not in k}
    finetune(model, 4, seed=1)
    assert model.classifier.out_features == 4
    for name, value in model.state_dict().items():
        if "classifier" not in name:
            assert torch.equal(value, before[name])
    again = finetune(create_model(TINY, space=space), 4, seed=1)
    assert torch.equal(again.classifier.weight, model.classifier.weight)
    with pytest.raises(ValueError, match="num_classes"):
        finetune(model, 0)


def test_dropout_keeps_state_dict_keys(space: SearchSpace) -> None:
    model = create_model(TINY, space=space)
    keys = list(model.state_dict())
    set_dropout(model, 0.5)
    assert list(model.state_dict()) == keys
    assert any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    model.eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(images), model(images))
    with pytest.raises(ValueError, match="drop_rate"):
        set_dropout(model, 1.0)
