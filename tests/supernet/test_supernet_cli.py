from __future__ import annotations

import json
from pathlib import Path as FilePath

import pytest
import torch
from supernet_testutils import StageSampler, random_paths

from scalenet.data import ShuffledBatches, synthetic_images
from scalenet.space import SearchSpace
from scalenet.supernet import SupernetTrainer, SuperSupernet, TrainConfig, load_static
from scalenet.supernet.cli import main


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--space", "fmnist", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["slots_per_stage"] == [2, 5, 5, 5, 5, 5, 2]
    assert info["width_mode"] == "bcnet" and info["stem_chs"] == 22  # ceil(8 * 1.64) + 8
    assert main(["info", "--width-mode", "bcnet_alternate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stem_chs"] == 14


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "--space", "nope"], "nope"),
        (["extract", "--checkpoint", "missing.pt", "--path", "x", "--out", "m.pt"], "corrupted"),
        (["train", "--out", "x", "--width-mode", "middle"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_extract_from_a_checkpoint(space: SearchSpace, tmp_path: FilePath) -> None:
    torch.manual_seed(0)
    trainer = SupernetTrainer(
        SuperSupernet(space),
        StageSampler(space, max_stage=0),
        ShuffledBatches(synthetic_images(16, side=16), 4),
        TrainConfig(iterations=1, progress=False),
        tmp_path,
    )
    trainer.run()
    path = random_paths(space, 1, seed=1)[0]
    out = tmp_path / "static.pt"
    assert main(["extract", "--checkpoint", str(tmp_path / "checkpoint.pt"), "--path",
                 path.encode(), "--out", str(out)]) == 0  # fmt: skip
    model = load_static(out).eval()
    assert model.path == path.encode()
    trainer.supernet.eval().set_active(path, "left")
    x = torch.randn(2, 3, 28, 28)
    assert (model(x) - trainer.supernet(x)).abs().max() < 1e-5
