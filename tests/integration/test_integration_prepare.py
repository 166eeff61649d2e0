import json

import pytest


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prepare": {"sauce": 1}}, "unknown key(s) prepare.sauce"),
        ({"prepare": {"image_format": "png"}}, "prepare.image_format 'png' not in"),
        ({"prepare": {"minival_per_class": "all"}}, "prepare.minival_per_class must be int"),
    ],
)
def test_prepare_fails_with_one_clear_line(project, overrides, message):
    project.set_params(overrides)
    result = project.dvc("repro", "prepare", check=False)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert not (project.root / "data/prepared/train.beton").exists()


def test_prepare_writes_betons_and_manifest(project, tmp_path):
    pytest.importorskip("ffcv")
    fmnist = __import__("pathlib").Path("/usr/share/datasets/fashion-mnist")
    if not fmnist.is_dir():
        pytest.skip("needs Debian's dataset-fashion-mnist")
    project.dvc("repro", "prepare")
    folder = project.root / "data/prepared"
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["manifest.json", "minival.beton", "test.beton", "train.beton"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["splits"]["minival"]["num_samples"] == 500  # 50 per class (params.yaml)
    assert manifest["splits"]["train"]["num_samples"] == 59_500
    assert manifest["splits"]["test"]["num_samples"] == 10_000
    assert "Running stage" not in project.dvc("repro", "prepare").stdout
