"""Retraining / fine-tuning of static networks and their evaluation (supplementary A recipe)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path as FilePath

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from scalenet.data import ShuffledBatches, fixed_batches, synthetic_images
from scalenet.space import Path, SearchSpace, count
from scalenet.supernet.bn import recalibrate_bn
from scalenet.supernet.engine import CheckpointError
from scalenet.supernet.standalone.retrain import (
    KILL_ENV,
    RetrainConfig,
    Retrainer,
    accuracy,
    cpu_latency_ms,
    ema_avg_fn,
    evaluate_model,
    randaugment,
    torch_rmsprop_eps,
    warmup_step_decay,
)
from scalenet.supernet.standalone.zoo import create_model, finetune, set_dropout

#: RandAugment runs in the resume tests when torchvision is there (it is an optional dependency).
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
TINY = "k3e1/k3e3/k3e3se/k3e3/k3e3/k3e3/k3e3@d1.0,w1.0,r1.0"
OTHER = "k5e1/k3e3/k3e3se/k3e3/k3e3/k3e3/k3e3@d1.0,w1.0,r1.0"


def _config(**changes: object) -> RetrainConfig:
    base = RetrainConfig(
        epochs=2, batch_size=16, lr_per_1024=0.25, warmup_epochs=0.25, decay_epochs=0.5,
        ema_decay=0.9, drop_rate=0.1, log_every=1, checkpoint_every=0, progress=False, seed=5,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _model(tiny_space: SearchSpace, path: str = TINY) -> nn.Module:
    torch.manual_seed(0)
    return create_model(path, space=tiny_space)


def _batches(size: int = 128) -> ShuffledBatches:
    return ShuffledBatches(synthetic_images(size, side=16, seed=0), 16, seed=1)


def test_step_decay_schedule() -> None:
    factors = [warmup_step_decay(i, 4, 2.5, 0.5) for i in range(10)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4:] == [0.5, 0.25, 0.25, 0.25, 0.125, 0.125]  # floor(i / 2.5): 1,2,2,2,3,3
    assert warmup_step_decay(0, 0, 2.4, 0.97) == 1.0
    assert warmup_step_decay(24, 0, 2.4, 0.97) == pytest.approx(0.97**10)


def test_ema_warmup_follows_tf_num_updates() -> None:
    averaged, current = [torch.zeros(3)], [torch.ones(3)]
    ema_avg_fn(0.99)(averaged, current, torch.tensor(0))  # decay min(0.99, 1 / 10) = 0.1
    assert torch.allclose(averaged[0], torch.full((3,), 0.9))
    ema_avg_fn(0.99)(averaged, current, torch.tensor(10_000))  # decay 0.99
    assert torch.allclose(averaged[0], torch.full((3,), 0.9 + 0.1 * 0.01))
    plain = [torch.zeros(3)]
    ema_avg_fn(0.5, warmup=False)(plain, current, torch.tensor(0))
    assert torch.allclose(plain[0], torch.full((3,), 0.5))


def test_recipe_defaults() -> None:
    config = RetrainConfig(epochs=350, batch_size=4096)
    assert config.lr == pytest.approx(0.32)  # 0.08 per 1024 images
    assert (config.alpha, config.momentum, config.eps, config.weight_decay) == (
        0.9, 0.9, 1e-3, 1e-5,
    )  # fmt: skip
    assert (config.warmup_epochs, config.decay_epochs, config.decay_rate) == (3.0, 2.4, 0.97)
    assert config.label_smoothing == 0.1 and config.ema_decay == 0.9999
    assert config.finetuning().ema_decay is None
    assert config.finetuning(epochs=5).epochs == 5
    assert torch_rmsprop_eps(1e-3) == pytest.approx(math.sqrt(1e-3))
    assert torch_rmsprop_eps(1e-3, "torch") == 1e-3
    with pytest.raises(ValueError, match="eps_style"):
        RetrainConfig(epochs=1, batch_size=1, eps_style="keras")
    with pytest.raises(ValueError, match="ema_decay"):
        RetrainConfig(epochs=1, batch_size=1, ema_decay=1.0)
    with pytest.raises(ValueError, match="epochs"):
        RetrainConfig(epochs=0, batch_size=1)


def test_optimizer_and_schedule_wiring(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    trainer = Retrainer(_model(tiny_space), _batches(), _config(), tmp_path)
    optimizer = trainer.optimizer
    assert isinstance(optimizer, torch.optim.RMSprop)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 1e-5 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim <= 1 for p in no_decay["params"])
    assert decay["alpha"] == 0.9 and decay["momentum"] == 0.9
    assert decay["eps"] == pytest.approx(math.sqrt(1e-3))
    assert trainer.steps_per_epoch == 8 and trainer.iterations == 16
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.25 * 16 / 1024 / 2)  # warm-up: 1 of 2


def test_retrain_learns_writes_metrics_and_model(
    tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    full = synthetic_images(384, side=16, seed=0)  # one seed: the same class patterns
    data, test = full.subset(np.arange(256)), full.subset(np.arange(256, 384))
    model = _model(tiny_space)
    before = accuracy(model, fixed_batches(test, 64))["top1"]
    config = _config(epochs=4, ema_decay=0.8, randaugment=False)
    trainer = Retrainer(model, ShuffledBatches(data, 16, seed=1), config, tmp_path)
    result = trainer.run()
    assert result.iterations == 64 and result.resumed_from == 0
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == list(range(1, 65))
    assert records[-1]["epoch"] == 4.0
    assert records[-1]["loss"] < records[0]["loss"]
    # the EMA copy differs from the raw weights and is what model.pt holds
    ema = trainer.final_model
    assert ema is not trainer.net
    assert not torch.equal(ema.stem[0].weight, trainer.net.stem[0].weight)
    reloaded = create_model(TINY, pretrained_path=tmp_path / "model.pt", space=tiny_space)
    assert torch.equal(reloaded.stem[0].weight, ema.stem[0].weight)
    from_checkpoint = create_model(
        TINY, pretrained_path=tmp_path / "checkpoint.pt", space=tiny_space
    )
    assert torch.equal(from_checkpoint.stem[0].weight, ema.stem[0].weight)
    after = accuracy(ema, fixed_batches(test, 64))["top1"]
    assert before < 0.3 and after > 0.8, (before, after)


def test_resume_equals_uninterrupted(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    config = _config(randaugment=HAS_TORCHVISION)
    full = Retrainer(_model(tiny_space), _batches(), config, tmp_path / "full")
    full.run()
    # the same run stopped after one epoch, then resumed for the second
    cut = _config(randaugment=HAS_TORCHVISION, epochs=1)
    half = Retrainer(_model(tiny_space), _batches(), cut, tmp_path / "cut")
    assert half.run().iterations == 8
    resumed = Retrainer(_model(tiny_space), _batches(), config, tmp_path / "cut")
    result = resumed.run()
    assert result.resumed_from == 8 and result.iterations == 16
    for key, value in full.net.state_dict().items():
        assert torch.equal(value, resumed.net.state_dict()[key]), key
    assert full.ema is not None and resumed.ema is not None
    for key, value in full.ema.state_dict().items():
        assert torch.equal(value, resumed.ema.state_dict()[key]), key
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == list(range(1, 17))


_SCRIPT = """
import sys, torch
from scalenet.space import load_space
import dataclasses
from scalenet.data import ShuffledBatches, synthetic_images
from scalenet.supernet.standalone.retrain import RetrainConfig, Retrainer
from scalenet.supernet.standalone.zoo import create_model
torch.set_num_threads(1)
space = dataclasses.replace(load_space("fmnist"), resolution=16)
torch.manual_seed(0)
model = create_model(sys.argv[2], space=space)
batches = ShuffledBatches(synthetic_images(128, side=16, seed=0), 16, seed=1)
config = RetrainConfig(epochs=2, batch_size=16, lr_per_1024=0.25, warmup_epochs=0.25,
    decay_epochs=0.5, ema_decay=0.9, drop_rate=0.1, randaugment=sys.argv[3] == "1", log_every=1,
    checkpoint_every=3, progress=False, seed=5)
print(Retrainer(model, batches, config, sys.argv[1]).run())
"""


def test_sigkill_then_resume_is_exact(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", KILL_ENV: "7"}
    out = tmp_path / "run"
    command = [sys.executable, str(script), str(out), TINY, str(int(HAS_TORCHVISION))]
    killed = subprocess.run(command, env=env, timeout=120)
    assert killed.returncode == -9
    env.pop(KILL_ENV)
    done = subprocess.run(command, env=env, timeout=120, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed_from=6" in done.stdout
    config = _config(randaugment=HAS_TORCHVISION, checkpoint_every=3)
    reference = Retrainer(_model(tiny_space), _batches(), config, tmp_path / "ref")
    reference.run()
    saved = torch.load(out / "checkpoint.pt", weights_only=True)
    for key, value in reference.net.state_dict().items():
        assert torch.equal(value, saved["model"][key]), key


def test_checkpoint_of_another_path_is_refused(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    Retrainer(_model(tiny_space), _batches(), _config(epochs=0.25), tmp_path).run()
    other = Retrainer(_model(tiny_space, OTHER), _batches(), _config(epochs=0.5), tmp_path)
    with pytest.raises(CheckpointError, match="path"):
        other.run()
    with pytest.raises(CheckpointError, match="exists"):
        Retrainer(_model(tiny_space), _batches(), _config(epochs=0.5), tmp_path).run(resume=False)


def test_finetuning_recipe(tiny_space: SearchSpace, tmp_path: FilePath) -> None:
    Retrainer(_model(tiny_space), _batches(), _config(epochs=1), tmp_path / "pre").run()
    model = create_model(TINY, pretrained_path=tmp_path / "pre" / "model.pt", space=tiny_space)
    finetune(model, 4, seed=0)
    data = synthetic_images(128, num_classes=4, side=16, seed=3)
    config = _config(epochs=1).finetuning()
    trainer = Retrainer(model, ShuffledBatches(data, 16, seed=0), config, tmp_path / "ft")
    trainer.run()
    assert trainer.ema is None and trainer.final_model is trainer.net
    assert trainer.final_model.classifier.out_features == 4
    tuned = create_model(TINY, pretrained_path=tmp_path / "ft" / "model.pt", space=tiny_space)
    assert tuned.classifier.out_features == 4


def test_randaugment_keeps_shape_and_range() -> None:
    pytest.importorskip("torchvision")
    torch.manual_seed(0)
    images = (torch.randint(0, 256, (4, 3, 16, 16)).float() / 255 - 0.5) / 0.3
    augmented = randaugment(0.5, 0.3, num_ops=2, magnitude=9)(images)
    assert augmented.shape == images.shape
    assert augmented.min() >= (0 - 0.5) / 0.3 - 1e-5 and augmented.max() <= (1 - 0.5) / 0.3 + 1e-5
    identity = randaugment(0.5, 0.3, num_ops=0)(images)
    assert torch.allclose(identity, images, atol=1e-5)  # uint8 round trip is exact


class _Echo(nn.Module):
    """A 'model' whose logits are its input, flattened: accuracy on known predictions."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) + self.dummy


def test_top1_top5_exact() -> None:
    logits = torch.tensor([[9.0, 8, 7, 6, 5, 4], [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 9]])
    labels = torch.tensor([0, 0, 2])  # top-1 hit; rank 6 miss; rank 4 (top-5 hit)
    result = accuracy(_Echo(), [(logits, labels)])
    assert result == {"top1": pytest.approx(1 / 3), "top5": pytest.approx(2 / 3)}
    three = accuracy(_Echo(), [(logits[:, :3], labels)])
    assert list(three) == ["top1"]
    with pytest.raises(ValueError, match="no evaluation"):
        accuracy(_Echo(), [])


def test_evaluate_model_reports_everything(tiny_space: SearchSpace) -> None:
    model = _model(tiny_space)
    test = synthetic_images(64, side=16, seed=7)
    metrics = evaluate_model(model, fixed_batches(test, 32), latency_repeats=3)
    model_path = Path.decode(TINY)
    cost = count(tiny_space, model_path)
    assert metrics["flops"] == cost.flops and metrics["params"] == cost.params
    assert metrics["resolution"] == 16 and metrics["path"] == model_path.encode()
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1
    assert metrics["latency_ms"] > 0
    assert cpu_latency_ms(model, 16, repeats=2, warmup=0) > 0


def test_randaugment_without_torchvision_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision.transforms", None)  # import fails
    with pytest.raises(ImportError, match=r"scalenet-supernet\[augment\]"):
        randaugment(0.5, 0.3)


def test_recalibrate_bn_matches_the_exact_statistics_and_keeps_weights(
    tiny_space: SearchSpace,
) -> None:
    model = set_dropout(_model(tiny_space), 0.5)  # dropout must not disturb the statistics
    batches = fixed_batches(synthetic_images(64, side=16, seed=3), 16)
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    # The exact per-channel mean of the first BN's input over the 3 batches used.
    inputs: list[Tensor] = []
    handle = bn.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach()))
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k}
    bn.running_mean.fill_(123.0)
    model.eval()
    assert recalibrate_bn(model, batches, 3) == 3
    handle.remove()
    expected = torch.stack([x.mean(dim=(0, 2, 3)) for x in inputs]).mean(dim=0)
    torch.testing.assert_close(bn.running_mean, expected, rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.1 and not model.training  # restored
    after = {k: v for k, v in model.state_dict().items() if "running" not in k}
    assert all(torch.equal(weights[k], after[k]) for k in weights if "num_batches" not in k)
    assert recalibrate_bn(model, batches, 0) == 0
    assert recalibrate_bn(model, batches, 100) == 4  # the batches ran out


def test_a_fingerprint_decides_whether_a_retraining_resumes(
    tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    recipe = {"recipe": "a", "seed": 5}
    first = Retrainer(_model(tiny_space), _batches(64), _config(epochs=1), tmp_path,
                      fingerprint=recipe)  # fmt: skip
    assert not first.resumes()
    first.run()
    again = Retrainer(_model(tiny_space), _batches(64), _config(epochs=1), tmp_path,
                      fingerprint=dict(recipe))  # fmt: skip
    assert again.resumes() and again.run().resumed_from == 4
    other = Retrainer(_model(tiny_space), _batches(64), _config(epochs=1), tmp_path,
                      fingerprint={**recipe, "recipe": "b"})  # fmt: skip
    assert not other.resumes()
    assert other.run().resumed_from == 0  # the old checkpoint was dropped: trained from scratch


def test_recalibrate_bn_rewrites_the_saved_model_with_the_new_statistics(
    tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    trainer = Retrainer(_model(tiny_space), _batches(64), _config(epochs=1), tmp_path)
    trainer.run()
    saved = (tmp_path / "model.pt").read_bytes()
    assert trainer.recalibrate_bn(0) == 0
    assert (tmp_path / "model.pt").read_bytes() == saved  # 0: nothing changes
    bn = next(m for m in trainer.final_model.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_mean.clone()
    assert trainer.recalibrate_bn(3) == 3
    assert not torch.equal(bn.running_mean, before)
    reloaded = create_model(TINY, pretrained_path=tmp_path / "model.pt", space=tiny_space)
    for name, value in trainer.final_model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], value), name
    assert trainer.recalibrate_bn(100) == 4  # the 64 images make 4 batches of 16


def test_channels_last_is_the_default_and_changes_no_result(
    tiny_space: SearchSpace, tmp_path: FilePath
) -> None:
    config = _config(epochs=1, randaugment=False)
    fast = Retrainer(_model(tiny_space), _batches(), config, tmp_path / "cl")
    assert fast.channels_last
    assert fast.net.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    nchw_config = dataclasses.replace(config, channels_last=False)
    nchw = Retrainer(_model(tiny_space), _batches(), nchw_config, tmp_path / "nchw")
    assert not nchw.channels_last and nchw.net.stem[0].weight.is_contiguous()
    # 8 steps of the same arithmetic in another memory order: equal up to the drift of rounding
    assert fast.run().last_loss == pytest.approx(nchw.run().last_loss, rel=1e-3)
    # the saved network loads into a fresh (NCHW) model, whatever the format it was trained in
    reloaded = create_model(TINY, pretrained_path=tmp_path / "cl" / "model.pt", space=tiny_space)
    assert torch.equal(reloaded.stem[0].weight, fast.final_model.stem[0].weight)
