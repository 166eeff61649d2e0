from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path as FilePath

import numpy as np
import pytest
import torch
from supernet_testutils import StageSampler, random_paths

from scalenet.data import ShuffledBatches, synthetic_images
from scalenet.space import Path, SearchSpace
from scalenet.supernet import (
    CheckpointError,
    NonFiniteError,
    PathSource,
    SupernetTrainer,
    SuperSupernet,
    TrainConfig,
    checkpoint_width_mode,
    train_sides,
)
from scalenet.supernet.engine import param_groups, warmup_cosine
from scalenet.supernet.trainer import KILL_ENV

HERE = FilePath(__file__).parent
SCRIPT = HERE / "supernet_train_script.py"


class FixedSampler:
    def __init__(self, path: Path) -> None:
        self.path = path

    def sample(self, rng: np.random.Generator) -> Path:
        return self.path


def _trainer(
    space: SearchSpace,
    out: FilePath,
    iterations: int,
    sampler: PathSource | None = None,
    width_mode: str = "bcnet",
    **overrides: object,
) -> SupernetTrainer:
    torch.manual_seed(0)
    supernet = SuperSupernet(space, width_mode=width_mode)
    batches = ShuffledBatches(synthetic_images(128, side=16, seed=0), 8, seed=1)
    options: dict[str, object] = {
        "lr": 0.05, "warmup": 2, "checkpoint_every": 3, "log_every": 1, "seed": 3, "progress": False,
    }  # fmt: skip
    config = TrainConfig(iterations=iterations, **{**options, **overrides})  # type: ignore[arg-type]
    sampler = sampler or StageSampler(space, max_stage=1)
    return SupernetTrainer(supernet, sampler, batches, config, out)


def _weights(trainer: SupernetTrainer) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in trainer.supernet.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_warmup_then_cosine() -> None:
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 10) == pytest.approx(0.0, abs=1e-12)


def test_no_weight_decay_on_bn_and_bias(tiny_space: SearchSpace) -> None:
    groups = param_groups(SuperSupernet(tiny_space), 4e-5)
    assert groups[0]["weight_decay"] == 4e-5 and groups[1]["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in groups[0]["params"])
    assert all(p.ndim == 1 for p in groups[1]["params"])


def test_sides_per_step_of_each_width_mode() -> None:
    assert {train_sides("bcnet", i) for i in range(4)} == {("left", "right")}
    assert [train_sides("bcnet_alternate", i) for i in range(4)] == [
        ("left",), ("right",), ("left",), ("right",),
    ]  # fmt: skip
    assert {train_sides("left", i) for i in range(4)} == {("left",)}
    with pytest.raises(ValueError, match=r"width_mode 'bcnet2' not in \{bcnet, bcnet_alternate"):
        train_sides("bcnet2", 0)


def _grad_rows(trainer: SupernetTrainer) -> list[int]:
    """The stem output channels that got a gradient in the last step."""
    grad = trainer.supernet.stem_conv.weight.grad
    assert grad is not None
    return torch.nonzero(grad.abs().sum((1, 2, 3))).flatten().tolist()


@pytest.mark.parametrize(
    ("width_mode", "expected"),
    [
        # smallest path, w = 1: the stem is 8 of 22 (bcnet) or 14 channels wide
        ("bcnet", [list(range(8)) + list(range(14, 22))] * 2),  # both sides, every step
        ("bcnet_alternate", [list(range(8)), list(range(6, 14))]),  # left, then right
        ("left", [list(range(8))] * 2),
    ],
)
def test_channels_that_receive_gradients_per_step(
    tiny_space: SearchSpace, tmp_path: FilePath, width_mode: str, expected: list[list[int]]
) -> None:
    sampler = FixedSampler(Path(tiny_space.smallest_arch()))
    trainer = _trainer(tiny_space, tmp_path, 2, sampler, width_mode=width_mode)
    batches = iter(trainer.batches)
    for rows in expected:
        trainer.step(*next(batches))
        assert _grad_rows(trainer) == rows


def test_bcnet_step_is_the_mean_loss_of_both_sides(
    tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    """BCNet's objective (and the official trainer's two passes of loss / 2 each)."""
    path = random_paths(tiny_space, 1, seed=2)[0]
    trainer = _trainer(tiny_space, tmp_path, 1, FixedSampler(path), label_smoothing=0.0)
    images, labels = next(iter(trainer.batches))
    reference = copy.deepcopy(trainer.supernet).train()
    losses = []
    for side in ("left", "right"):
        reference.set_active(path, side)
        losses.append(torch.nn.functional.cross_entropy(reference(images), labels))
    (0.5 * (losses[0] + losses[1])).backward()
    loss, _ = trainer.step(images, labels)
    torch.testing.assert_close(loss, 0.5 * (losses[0] + losses[1]).detach())
    for (name, mine), theirs in zip(
        trainer.supernet.named_parameters(), reference.parameters(), strict=True
    ):
        assert (mine.grad is None) == (theirs.grad is None), name
        if mine.grad is not None:
            torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-4, atol=1e-6)


def _as_revision_1(file: FilePath) -> None:
    """Rewrite a checkpoint as the releases before the rename wrote a bcnet_alternate run."""
    payload = torch.load(file, weights_only=True)
    assert payload["width_mode"] == "bcnet_alternate" and payload["width_modes_revision"] == 2
    payload["width_mode"] = "bcnet"
    del payload["width_modes_revision"]
    torch.save(payload, file)


def test_old_bcnet_checkpoint_loads_as_bcnet_alternate(
    tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    _trainer(tiny_space, tmp_path, 2, width_mode="bcnet_alternate").run()
    file = tmp_path / "checkpoint.pt"
    _as_revision_1(file)
    payload = torch.load(file, weights_only=True)
    assert checkpoint_width_mode(payload) == "bcnet_alternate"
    assert checkpoint_width_mode({**payload, "width_modes_revision": 2}) == "bcnet"
    loaded = SuperSupernet.from_checkpoint(str(file), "fmnist")
    assert loaded.width_mode == "bcnet_alternate" and loaded.stem_conv.max_out_chs == 14
    with pytest.raises(
        CheckpointError,
        match=r"width_mode 'bcnet_alternate' \(saved as 'bcnet' before that name meant the "
        r"official BCNet\), this run 'bcnet'; train with width_mode 'bcnet_alternate'",
    ):
        _trainer(tiny_space, tmp_path, 4).run()
    result = _trainer(tiny_space, tmp_path, 4, width_mode="bcnet_alternate").run()
    assert result.resumed_from == 2 and result.iterations == 4
    assert torch.load(file, weights_only=True)["width_modes_revision"] == 2


def test_training_reduces_loss_and_writes_metrics(
    tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    sampler = FixedSampler(Path(tiny_space.smallest_arch()))
    trainer = _trainer(tiny_space, tmp_path, 24, sampler, lr=0.05, label_smoothing=0.0)
    result = trainer.run()
    assert result.iterations == 24 and result.resumed_from == 0
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == list(range(1, 25))
    assert {"loss", "lr", "images_per_second", "resolution", "path"} <= set(records[0])
    # Steps of 8 images are noisy: the last six losses are 0.51x (NCHW) and 0.64x (channels-last,
    # the same arithmetic rounded in another order) the first six.
    assert np.mean([r["loss"] for r in records[-6:]]) < 0.75 * np.mean(
        [r["loss"] for r in records[:6]]
    )
    assert records[0]["lr"] == pytest.approx(0.05 * 1.0)  # lr after step 1 = factor(1) = 1.0
    assert records[-1]["lr"] == pytest.approx(0.0, abs=1e-9)
    payload = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert payload["iteration"] == 24
    assert {"model", "optimizer", "scheduler", "rng", "data", "config"} <= set(payload)
    assert json.loads(payload["data"]) == trainer.batches.state_dict()  # type: ignore[attr-defined]


def test_in_process_resume_is_exact(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    straight = _trainer(tiny_space, tmp_path / "a", 10)
    straight.run()
    first = _trainer(tiny_space, tmp_path / "b", 10)
    first.config = dataclasses.replace(first.config, iterations=10)
    # stop after 5 iterations by running a shorter schedule-compatible loop
    for _ in range(5):
        images, labels = next(iter(first.batches))
        first.step(images, labels)
    first.save()
    resumed = _trainer(tiny_space, tmp_path / "b", 10)
    result = resumed.run()
    assert result.resumed_from == 5
    _assert_same(_weights(straight), _weights(resumed))


def test_a_fingerprint_decides_whether_the_supernet_resumes(
    tiny_space: SearchSpace, tmp_path: FilePath, capsys: pytest.CaptureFixture[str]
) -> None:
    def trainer(settings: dict[str, object]) -> SupernetTrainer:
        made = _trainer(tiny_space, tmp_path, 4)
        return SupernetTrainer(
            made.supernet, made.sampler, made.batches, made.config, tmp_path,
            fingerprint=settings, name="train_supernet",
        )  # fmt: skip

    first = trainer({"sampler": "hss"})
    assert not first.resumes()
    first.run()
    assert trainer({"sampler": "hss"}).resumes()
    other = trainer({"sampler": "uniform"})
    assert not other.resumes()
    capsys.readouterr()
    assert other.run().resumed_from == 0
    assert "train_supernet: training settings changed, starting over" in capsys.readouterr().out


def test_sigkill_and_restart_reaches_same_weights(tmp_path: FilePath) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = [sys.executable, str(SCRIPT)]
    subprocess.run([*run, str(tmp_path / "straight"), "12", "4"], check=True, env=env, timeout=120)
    killed = subprocess.run(
        [*run, str(tmp_path / "killed"), "12", "4"], env={**env, KILL_ENV: "7"}, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL
    assert torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["iteration"] == 4
    resumed = subprocess.run(
        [*run, str(tmp_path / "killed"), "12", "4"],
        env=env,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed_from 4" in resumed.stdout
    _assert_same(
        torch.load(tmp_path / "straight" / "rank0.pt", weights_only=True),
        torch.load(tmp_path / "killed" / "rank0.pt", weights_only=True),
    )
    lines = (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == list(range(1, 13))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupted_checkpoint_is_a_clear_error(
    tiny_space: SearchSpace, tmp_path: FilePath, damage: str
) -> None:
    _trainer(tiny_space, tmp_path, 3).run()
    file = tmp_path / "checkpoint.pt"
    data = file.read_bytes()
    file.write_bytes(
        {"truncate": data[: len(data) // 2], "garbage": b"\x00" * 100, "empty": b""}[damage]
    )
    with pytest.raises(CheckpointError, match=r"corrupted or unreadable.*delete it"):
        _trainer(tiny_space, tmp_path, 6).run()
    assert file.stat().st_size < len(data)  # never silently overwritten


def test_checkpoint_of_other_width_mode_is_refused(
    tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    _trainer(tiny_space, tmp_path, 2).run()
    other = _trainer(tiny_space, tmp_path, 4)
    other.supernet.width_mode = "left"
    with pytest.raises(CheckpointError, match="width_mode 'bcnet', this run 'left'"):
        other.run()


def test_no_resume_refuses_existing_checkpoint(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    _trainer(tiny_space, tmp_path, 2).run()
    with pytest.raises(CheckpointError, match="exists"):
        _trainer(tiny_space, tmp_path, 4).run(resume=False)


def test_nan_loss_stops_with_clear_error(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    trainer = _trainer(tiny_space, tmp_path, 4)
    images = torch.full((8, 3, 16, 16), math.nan)
    with pytest.raises(NonFiniteError, match=r"loss is nan at iteration 0 \(path .*@"):
        trainer.step(images, torch.zeros(8, dtype=torch.int64))


def test_bf16_autocast_on_cpu_runs(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    result = _trainer(tiny_space, tmp_path, 2, None, amp="bf16", checkpoint_every=0).run()
    assert math.isfinite(result.last_loss)


def test_bad_config_values() -> None:
    with pytest.raises(ValueError, match=r"amp 'fp8' not in \{auto, bf16, off\}"):
        TrainConfig(iterations=1, amp="fp8")
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        TrainConfig(iterations=0)


def test_channels_last_is_the_default_and_changes_no_result(
    tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    fast = _trainer(tiny_space, tmp_path / "cl", 1)
    stem = fast.supernet.stem_conv.weight
    assert fast.channels_last and stem.is_contiguous(memory_format=torch.channels_last)
    nchw = _trainer(tiny_space, tmp_path / "nchw", 1, channels_last=False)
    assert not nchw.channels_last and nchw.supernet.stem_conv.weight.is_contiguous()
    losses = {name: trainer.run().last_loss for name, trainer in (("cl", fast), ("nchw", nchw))}
    # One step: the same arithmetic in another memory order, equal up to float rounding. (Over
    # several steps of 8 images the two runs drift apart as any two roundings do: BN over 8
    # samples at 1 x 1 pixels amplifies the last bits.)
    assert losses["cl"] == pytest.approx(losses["nchw"], rel=1e-5)
    for key, value in _weights(nchw).items():
        assert torch.allclose(_weights(fast)[key], value, rtol=0, atol=1e-4), key  # 5e-5 seen
