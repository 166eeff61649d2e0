"""FFCV loaders: train / eval / minival, per-batch resize, RandAugment, distributed.

Runs alone (``pytest tests/data/test_data_loaders_ffcv.py``); every test has a timeout, in a
watchdog thread (it also fires while the process is stuck in native code) because FFCV's loader
threads were seen to hang a process after a failure.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch

from scalenet.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ArraySource,
    BatchRandAugment,
    BetonError,
    BetonReader,
    DataError,
    ImageLoader,
    eval_loader,
    minival_loader,
    prepare_dataset,
    resize_batch,
    train_loader,
    write_beton,
)
from scalenet.data.cli import main as cli_main

pytestmark = [
    pytest.mark.ffcv,
    pytest.mark.timeout(180, method="thread"),
    # numba's dispatcher finalizers raise harmlessly at interpreter shutdown / GC.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

WORKER = Path(__file__).with_name("_distributed_worker.py")
MEAN = np.asarray(IMAGENET_MEAN)
STD = np.asarray(IMAGENET_STD)


def indexed_source(images: npt.NDArray[np.uint8]) -> ArraySource:
    """Label ``i`` for image ``i``: the labels a loader yields name the samples it read."""
    return ArraySource(images, np.arange(len(images)), [str(i) for i in range(len(images))])


def pixels_by_label(loader: ImageLoader, num_samples: int) -> npt.NDArray[np.float64]:
    """Undo the documented normalization ``(x / 255 - mean) / std``: pixels, N x H x W x 3."""
    out = np.full((num_samples, loader.spec.resolution, loader.spec.resolution, 3), np.nan)
    for images, labels in loader:
        batch = images.double().permute(0, 2, 3, 1).numpy()
        out[labels.numpy()] = (batch * STD + MEAN) * 255.0
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 230
    labels = np.arange(n) % 5
    images = rng.integers(0, 256, (n, 24, 24), dtype=np.uint8)  # grayscale source
    out = tmp_path_factory.mktemp("prepared")
    prepare_dataset(
        ArraySource(images, labels),
        out,
        {"test": ArraySource(images[:37], labels[:37])},
        minival_per_class=4,
        image_format="raw",
        num_workers=1,
    )
    return out


def test_train_loader_batches(prepared: Path) -> None:
    loader = train_loader(
        prepared / "train.beton",
        batch_size=32,
        resolution=16,
        num_workers=2,
        backend="ffcv",
        seed=3,
    )
    assert loader.backend == "ffcv"
    assert len(loader) == 210 // 32  # drop_last for training
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    epochs = []
    for _ in range(2):
        labels = []
        for images, batch_labels in loader:
            assert images.shape == (32, 3, 16, 16) and images.dtype == torch.float32
            assert images.is_contiguous(memory_format=torch.channels_last)
            assert batch_labels.dtype == torch.int64 and batch_labels.shape == (32,)
            pixels = images * std + mean  # undo normalization: grayscale -> 3 equal channels
            torch.testing.assert_close(pixels[:, 0], pixels[:, 2], atol=1e-4, rtol=0)
            assert images.min().item() > -2.2 and images.max().item() < 2.7
            labels.append(batch_labels)
        epochs.append(torch.cat(labels))
    assert len(epochs[0]) == 6 * 32
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled each epoch
    small = resize_batch(images, 11)
    assert small.shape == (32, 3, 11, 11) and small.device == images.device


def test_eval_loader_matches_fallback_exactly(prepared: Path) -> None:
    outputs = {}
    for backend in ("ffcv", "torchvision"):
        loader = eval_loader(
            prepared / "test.beton",
            batch_size=16,
            resolution=24,
            crop_ratio=1.0,
            num_workers=1,
            backend=backend,
        )
        assert len(loader) == 3  # 37 images, last partial batch kept
        batches = [(x.clone(), y) for x, y in loader]
        outputs[backend] = (torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
    assert outputs["ffcv"][1].tolist() == [i % 5 for i in range(37)]  # file order
    torch.testing.assert_close(outputs["ffcv"][1], outputs["torchvision"][1])
    torch.testing.assert_close(outputs["ffcv"][0], outputs["torchvision"][0], atol=1e-4, rtol=0)


def test_minival_loader_and_distributed_needs_a_process_group(prepared: Path) -> None:
    with pytest.raises(DataError, match=r"distributed: True needs torch.distributed"):
        train_loader(
            prepared / "train.beton", batch_size=8, resolution=8, distributed=True, backend="ffcv"
        )
    evaluation = minival_loader(
        prepared, batch_size=20, resolution=12, num_workers=1, backend="ffcv"
    )
    batches = [(x.shape, sorted(y.tolist())) for x, y in evaluation]
    assert batches == [(torch.Size([20, 3, 12, 12]), sorted(list(range(5)) * 4))]


@pytest.fixture(scope="module")
def symmetric(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, npt.NDArray[np.uint8]]:
    """48 square RGB images, mirror-symmetric so that FFCV's random flip changes nothing."""
    rng = np.random.default_rng(2)
    left = rng.integers(40, 200, (48, 16, 8, 3), dtype=np.uint8)
    images = np.concatenate([left, left[:, :, ::-1]], axis=2)
    path = tmp_path_factory.mktemp("symmetric") / "train.beton"
    write_beton(indexed_source(images), path, image_format="raw", num_workers=1)
    return path, images


def test_randaugment_changes_images_and_output_is_normalized(
    symmetric: tuple[Path, npt.NDArray[np.uint8]],
) -> None:
    path, source = symmetric

    def run(randaugment: BatchRandAugment | None) -> tuple[list[int], npt.NDArray[np.float64]]:
        torch.manual_seed(0)  # RandAugment draws from torch's global generator
        loader = train_loader(
            path,
            batch_size=16,
            resolution=16,
            scale=(1.0, 1.0),  # the whole (square) image: crops are deterministic
            ratio=(1.0, 1.0),
            randaugment=randaugment,
            num_workers=1,
            backend="ffcv",
            seed=5,
        )
        order = [label for _, labels in loader for label in labels.tolist()]
        return order, pixels_by_label(loader, len(source))

    order, plain = run(None)
    # Whole-image crops at the stored size give back the stored pixels, normalized in FFCV.
    np.testing.assert_allclose(plain, source, atol=1e-3, rtol=0)
    # No operation: the uint8 path (normalized on the device) gives exactly the same.
    order_identity, identity = run(BatchRandAugment(num_ops=0))
    np.testing.assert_allclose(identity, source, atol=1e-3, rtol=0)
    order_augmented, augmented = run(BatchRandAugment(num_ops=2, magnitude=9))
    assert order_augmented == order_identity == order != sorted(order)  # same shuffled order
    # Normalized as documented: un-normalized values are uint8 pixels.
    np.testing.assert_allclose(augmented, augmented.round(), atol=1e-3, rtol=0)
    assert augmented.min() > -1e-3 and augmented.max() < 255 + 1e-3
    change = np.abs(augmented - source).mean(axis=(1, 2, 3))
    assert (change > 2.0).mean() >= 0.85, np.sort(change)
    assert np.median(change) > 10.0, np.sort(change)


@pytest.fixture(scope="module")
def distributed_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """even.beton (48 samples) and odd.beton (45); label i is sample i."""
    rng = np.random.default_rng(3)
    out = tmp_path_factory.mktemp("distributed")
    for name, count in (("even", 48), ("odd", 45)):
        images = rng.integers(0, 256, (count, 8, 8), dtype=np.uint8)
        write_beton(
            indexed_source(images), out / f"{name}.beton", image_format="raw", num_workers=1
        )
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_ranks(
    data_dir: Path, work: Path, world_size: int, timeout: float
) -> list[dict[str, object]]:
    """Run ``_distributed_worker.py`` as ``world_size`` processes; kill them all at ``timeout``."""
    port = free_port()
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    logs = [work / f"rank{rank}.log" for rank in range(world_size)]
    procs = []
    for rank in range(world_size):
        with logs[rank].open("w") as log:
            command = [sys.executable, str(WORKER), str(rank), str(world_size), str(port)]
            command += [str(data_dir), str(work / f"rank{rank}.json")]
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
    deadline = time.monotonic() + timeout
    try:
        for proc in procs:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for rank, proc in enumerate(procs):
        tail = logs[rank].read_text()[-3000:]
        assert proc.returncode == 0, f"rank {rank}: exit {proc.returncode} (-9: timed out)\n{tail}"
    return [json.loads((work / f"rank{rank}.json").read_text()) for rank in range(world_size)]


def sampler_shard(
    count: int, rank: int, epoch: int, *, shuffle: bool, drop_last: bool
) -> list[list[int]]:
    """Batches ``DistributedSampler(drop_last=False)`` deals rank ``rank`` of 2 (the reference)."""
    dataset = torch.utils.data.TensorDataset(torch.arange(count))
    sampler: torch.utils.data.DistributedSampler[int] = torch.utils.data.DistributedSampler(
        dataset, num_replicas=2, rank=rank, shuffle=shuffle, seed=7, drop_last=False
    )
    sampler.set_epoch(epoch)
    order = list(sampler)
    if drop_last:
        order = order[: len(order) // 4 * 4]
    return [order[i : i + 4] for i in range(0, len(order), 4)]


def flat(batches: object) -> list[int]:
    assert isinstance(batches, list)
    return [index for batch in batches for index in batch]


def test_distributed_two_ranks_get_disjoint_shards(distributed_data: Path, tmp_path: Path) -> None:
    ranks = run_ranks(distributed_data, tmp_path, world_size=2, timeout=120)
    assert [(r["rank"], r["world_size"]) for r in ranks] == [(0, 2), (1, 2)]
    for backend in ("ffcv", "torchvision"):
        # Train, 48 = 2 ranks x 6 batches of 4: disjoint halves covering the file, every epoch.
        key = f"{backend}/train/even"
        assert [r[f"{key}/len"] for r in ranks] == [6, 6]
        epochs = []
        for epoch in range(2):
            shards = [flat(r[f"{key}/{epoch}"]) for r in ranks]
            assert [len(shard) for shard in shards] == [24, 24]
            assert set(shards[0]).isdisjoint(shards[1])
            assert sorted(shards[0] + shards[1]) == list(range(48))
            epochs.append(shards)
            for rank, result in enumerate(ranks):
                assert result[f"{key}/{epoch}"] == sampler_shard(
                    48, rank, epoch, shuffle=True, drop_last=True
                )
        assert epochs[0] != epochs[1]  # reshuffled across ranks each epoch
        # Eval, 45 samples in file order, nothing dropped: each rank reads ceil(45 / 2) = 23,
        # rank 1 padded with sample 0, so together they cover the file once plus sample 0.
        evals = [flat(r[f"{backend}/eval/odd/0"]) for r in ranks]
        assert evals[0] == list(range(0, 45, 2))
        assert evals[1] == [*range(1, 45, 2), 0]
        assert [r[f"{backend}/eval/odd/len"] for r in ranks] == [6, 6]
    # Train on 45 (fallback; FFCV deals the same, see above): 23 per rank, one of them the
    # padding, and drop_last keeps 5 full batches of each rank's shard.
    for rank, result in enumerate(ranks):
        assert result["torchvision/train/odd/len"] == 5
        for epoch in range(2):
            expected = sampler_shard(45, rank, epoch, shuffle=True, drop_last=True)
            assert result[f"torchvision/train/odd/{epoch}"] == expected
            assert len(flat(expected)) == 20
    for result in ranks:  # the two backends deal the same samples to the same rank
        for key in ("train/even/0", "train/even/1", "eval/odd/0"):
            assert result[f"ffcv/{key}"] == result[f"torchvision/{key}"]


def test_truncated_beton_fails_before_ffcv(prepared: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.beton"
    data = (prepared / "test.beton").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(BetonError, match=r"broken\.beton"):
        eval_loader(broken, batch_size=4, resolution=8, backend="ffcv")
    with pytest.raises(DataError, match=r"minival.beton: not found"):
        minival_loader(tmp_path, batch_size=4, resolution=8)


def test_loaders_decode_check_names_a_damaged_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    source = ArraySource(rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8), np.arange(20) % 4)
    good = tmp_path / "good.beton"
    write_beton(source, good, image_format="jpeg", num_workers=1)
    reader = BetonReader(good)
    data = good.read_bytes()

    def damage(name: str, sample: int) -> Path:
        start = data.index(reader.image_bytes(sample).tobytes())
        broken = bytearray(data)
        broken[start : start + 40] = bytes(40)  # wipes the JPEG header
        path = tmp_path / name
        path.write_bytes(bytes(broken))
        return path

    # The last image is always among the images a loader decodes when it opens a file.
    last = damage("last.beton", 19)
    for backend in ("ffcv", "torchvision"):
        with pytest.raises(BetonError, match=r"last\.beton: sample 19: corrupted JPEG.*inspect"):
            eval_loader(last, batch_size=4, resolution=8, backend=backend)
    # Sample 1 is not: the file opens; the fallback fails when it reaches the sample, and
    # `inspect --decode` finds it (FFCV's decoder would not: see docs/data.md, "Integrity").
    second = damage("second.beton", 1)
    eval_loader(second, batch_size=4, resolution=8, backend="ffcv", num_workers=1)
    fallback = eval_loader(second, batch_size=4, resolution=8, backend="torchvision", num_workers=0)
    with pytest.raises(BetonError, match=r"second\.beton: sample 1: corrupted JPEG"):
        list(fallback)
    assert cli_main(["inspect", "--decode", str(second)]) == 1
    assert cli_main(["inspect", "--decode", str(good)]) == 0
