"""The torchvision fallback loader: same interface, chosen automatically without FFCV.

The tests marked ``ffcv`` need FFCV only to write their test ``.beton``. Runs alone; timeouts
fire in a watchdog thread (also while stuck in native code).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from scalenet.data import (
    ArraySource,
    BatchRandAugment,
    FfcvUnavailableError,
    eval_loader,
    prepare_dataset,
    resolve_backend,
    train_loader,
)

pytestmark = [pytest.mark.timeout(120, method="thread")]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 20, 30, 3), dtype=np.uint8)
    out = tmp_path_factory.mktemp("prepared")
    prepare_dataset(
        ArraySource(images, np.arange(60) % 3),
        out,
        minival_per_class=2,
        image_format="jpeg",
        num_workers=1,
    )
    return out


def test_auto_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCALENET_DATA_BACKEND", raising=False)
    monkeypatch.setitem(sys.modules, "ffcv", None)  # makes `import ffcv` fail
    monkeypatch.setitem(sys.modules, "ffcv.loader", None)
    with pytest.warns(UserWarning, match=r"torchvision fallback"):
        assert resolve_backend("auto") == "torchvision"
    with pytest.raises(FfcvUnavailableError, match=r"scalenet-data\[ffcv\]"):
        resolve_backend("ffcv")
    monkeypatch.setenv("SCALENET_DATA_BACKEND", "torchvision")
    assert resolve_backend("auto") == "torchvision"
    with pytest.raises(ValueError, match=r"backend: 'tpu'"):
        resolve_backend("tpu")  # type: ignore[arg-type]


@pytest.mark.ffcv
def test_fallback_train_and_eval(prepared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ffcv", None)
    monkeypatch.setitem(sys.modules, "ffcv.loader", None)
    with pytest.warns(UserWarning, match=r"torchvision fallback"):
        loader = train_loader(
            prepared / "train.beton",
            batch_size=8,
            resolution=16,
            num_workers=0,
            randaugment=BatchRandAugment(),
        )
    assert loader.backend == "torchvision" and len(loader) == 54 // 8
    batches = list(loader)
    assert len(batches) == 6
    images, labels = batches[0]
    assert images.shape == (8, 3, 16, 16) and images.dtype == torch.float32
    assert images.is_contiguous(memory_format=torch.channels_last)
    assert labels.dtype == torch.int64
    evaluation = eval_loader(
        prepared / "minival.beton",
        batch_size=4,
        resolution=10,
        backend="torchvision",
        num_workers=1,
    )
    got = torch.cat([y for _, y in evaluation])
    assert sorted(got.tolist()) == [0, 0, 1, 1, 2, 2]  # minival: 2 per class, none dropped


@pytest.mark.ffcv
def test_fallback_distributed_single_rank(prepared: Path, tmp_path: Path) -> None:
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        loader = train_loader(
            prepared / "train.beton",
            batch_size=9,
            resolution=8,
            num_workers=0,
            distributed=True,
            backend="torchvision",
        )
        loader.set_epoch(1)
        first = torch.cat([y for _, y in loader])
        loader.set_epoch(1)
        again = torch.cat([y for _, y in loader])
    finally:
        dist.destroy_process_group()
    assert len(first) == 54 and torch.equal(first, again)


@pytest.mark.ffcv
def test_fallback_reads_files_without_importing_ffcv(prepared: Path) -> None:
    import subprocess

    code = (
        "import sys; sys.modules['ffcv'] = None; sys.modules['ffcv.loader'] = None\n"
        "import warnings; warnings.simplefilter('ignore')\n"
        "from scalenet.data import eval_loader\n"
        f"l = eval_loader({str(prepared / 'minival.beton')!r}, batch_size=6, resolution=8, num_workers=0)\n"
        "x, y = next(iter(l)); print(l.backend, tuple(x.shape), sorted(y.tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "torchvision (6, 3, 8, 8) [0, 0, 1, 1, 2, 2]"


@pytest.mark.ffcv
def test_jpeg_decoding_without_opencv(prepared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scalenet.data import BetonReader

    reader = BetonReader(prepared / "minival.beton")
    with_cv2 = reader.image(0)
    monkeypatch.setitem(sys.modules, "cv2", None)  # PIL decodes instead
    without_cv2 = reader.image(0)
    assert without_cv2.shape == with_cv2.shape == (20, 30, 3)
    assert np.abs(without_cv2.astype(int) - with_cv2.astype(int)).max() <= 3
