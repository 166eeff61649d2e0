"""Writing .beton files with FFCV; reading and checking them without it.

Runs alone (``pytest tests/data/test_data_writer_ffcv.py``); every test has a timeout, in a
watchdog thread so that it also fires while FFCV's writer is stuck in native code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from scalenet.data import (
    ArraySource,
    BetonError,
    BetonReader,
    DataError,
    ImageFolderSource,
    Manifest,
    inspect_beton,
    prepare_idx,
    verify_beton,
    write_beton,
)
from scalenet.data.cli import main as cli_main

MakeFolder = Callable[..., Path]

pytestmark = [
    pytest.mark.ffcv,
    pytest.mark.timeout(120, method="thread"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def array_source(n: int = 40, seed: int = 0) -> ArraySource:
    rng = np.random.default_rng(seed)
    return ArraySource(rng.integers(0, 256, (n, 9, 11, 3), dtype=np.uint8), np.arange(n) % 4)


def test_raw_round_trip_is_exact(tmp_path: Path) -> None:
    source = array_source()
    record = write_beton(source, tmp_path / "a.beton", [5, 1, 7], image_format="raw", num_workers=1)
    reader = BetonReader(tmp_path / "a.beton")
    assert len(reader) == 3 and reader.labels.tolist() == [1, 1, 3]
    for position, index in enumerate([5, 1, 7]):
        np.testing.assert_array_equal(reader.image(position), source.load(index))
    assert record.num_samples == 3
    assert record.counts_per_class == {"0": 0, "1": 2, "2": 0, "3": 1}
    assert record.content_hash == reader.content_hash()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.beton"]  # no temporaries left


def test_jpeg_round_trip_and_max_side(tmp_path: Path) -> None:
    source = ArraySource(np.full((4, 40, 20), 128, dtype=np.uint8), [0, 1, 0, 1])
    write_beton(source, tmp_path / "j.beton", image_format="jpeg", max_side=10, num_workers=1)
    info = inspect_beton(tmp_path / "j.beton", decode=True)
    assert info.image_modes == {"jpeg": 4} and info.decoded == 4
    assert info.height_range == (10, 10) and info.width_range == (5, 5)
    image = BetonReader(tmp_path / "j.beton").image(0)
    assert image.shape == (10, 5, 3) and abs(int(image.mean()) - 128) <= 2


def test_jpeg_quality_trades_size_for_fidelity(tmp_path: Path) -> None:
    # Smooth gradients plus mild gray noise: what photos look like to a JPEG encoder (no colour
    # noise, which chroma subsampling would lose at any quality).
    rng = np.random.default_rng(6)
    ramp = np.add.outer(np.arange(64), np.arange(64)).astype(np.float64) * 2
    images = np.stack([ramp + 10 * c for c in range(8)]) + rng.normal(0, 8, (8, 64, 64))
    pixels = np.repeat(np.clip(images, 0, 255).astype(np.uint8)[..., None], 3, axis=3)
    source = ArraySource(pixels, np.arange(8) % 2)
    payload, error = {}, {}
    for quality in (95, 25):
        path = tmp_path / f"q{quality}.beton"
        write_beton(source, path, image_format="jpeg", jpeg_quality=quality, num_workers=1)
        reader = BetonReader(path)
        payload[quality] = sum(len(reader.image_bytes(i)) for i in range(len(reader)))
        error[quality] = np.mean(
            [np.abs(reader.image(i).astype(int) - source.load(i)).mean() for i in range(8)]
        )
    # Seen: 20,260 vs 6,455 bytes of JPEG data; mean absolute error 1.5 vs 6.0 grey levels.
    assert payload[25] < 0.5 * payload[95], payload
    assert error[95] < 2.5 and error[25] > 2.5 * error[95], error


def test_content_hash_ignores_writer_layout(tmp_path: Path) -> None:
    source = array_source(300)
    one = write_beton(source, tmp_path / "1.beton", image_format="raw", num_workers=1)
    two = write_beton(source, tmp_path / "2.beton", image_format="raw", num_workers=2)
    assert one.content_hash == two.content_hash
    other = write_beton(
        array_source(300, seed=1), tmp_path / "3.beton", image_format="raw", num_workers=1
    )
    assert other.content_hash != one.content_hash


def test_unreadable_image_fails_cleanly(tmp_path: Path, make_folder: MakeFolder) -> None:
    root = make_folder(tmp_path / "folder", per_class=4)
    (root / "n02" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"bad\.jpg.*nothing written"):
        write_beton(ImageFolderSource(root), out / "train.beton", num_workers=2)
    assert list(out.iterdir()) == []


def test_bad_options_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"image_format: 'png'"):
        write_beton(array_source(), tmp_path / "x.beton", image_format="png")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"jpeg_quality"):
        write_beton(array_source(), tmp_path / "x.beton", jpeg_quality=0)


def test_truncated_and_corrupted_beton_are_named(tmp_path: Path) -> None:
    path = tmp_path / "t.beton"
    write_beton(array_source(), path, image_format="raw", num_workers=1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(BetonError, match=r"t\.beton: truncated"):
        BetonReader(path)
    path.write_bytes(data[:5000])
    with pytest.raises(BetonError, match=r"t\.beton: truncated or corrupted"):
        inspect_beton(path)
    path.write_bytes(b"\x07" + data[1:])
    with pytest.raises(BetonError, match=r"t\.beton: not a \.beton file of format version 2"):
        BetonReader(path)
    with pytest.raises(BetonError, match=r"not found"):
        BetonReader(tmp_path / "none.beton")
    path.write_bytes(data)
    assert cli_main(["inspect", str(path)]) == 0
    path.write_bytes(data[:100])
    assert cli_main(["inspect", str(path)]) == 1


def test_corrupted_jpeg_payload_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.beton"
    write_beton(array_source(), path, image_format="jpeg", num_workers=1)
    reader = BetonReader(path)
    start = int(reader._image_ptrs[3])
    data = bytearray(path.read_bytes())
    data[start : start + 40] = bytes(40)
    path.write_bytes(bytes(data))
    with pytest.raises(BetonError, match=r"c\.beton: sample 3: corrupted JPEG"):
        inspect_beton(path, decode=True)


def prepare(source: Path, fmt: str, out: Path, *options: str) -> int:
    """``scalenet-data prepare --source SOURCE --format FMT --out OUT OPTIONS...``'s exit status."""
    return cli_main(
        ["prepare", "--source", str(source), "--format", fmt, "--out", str(out), *options]
    )


def test_prepare_imagefolder_with_val_and_subset(tmp_path: Path, make_folder: MakeFolder) -> None:
    root = tmp_path / "imagenet"
    make_folder(root / "train", classes=("n01", "n02", "n03"), per_class=8)
    make_folder(root / "val", classes=("n01", "n02", "n03"), per_class=3, seed=5)
    subset = tmp_path / "subset.txt"
    subset.write_text("n03\nn01\n")
    out = tmp_path / "out"
    status = prepare(
        root, "imagefolder", out, "--minival-per-class", "2", "--classes", str(subset),
        "--max-side", "24", "--num-workers", "1",
    )  # fmt: skip
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "minival.beton",
        "train.beton",
        "val.beton",
    ]
    manifest = Manifest.load(out)
    assert manifest.classes == ("n01", "n03")
    assert manifest.splits["train"].counts_per_class == {"n01": 6, "n03": 6}
    assert manifest.splits["minival"].counts_per_class == {"n01": 2, "n03": 2}
    assert manifest.splits["val"].num_samples == 6
    assert manifest.max_side == 24 and manifest.split_seed == 0
    assert inspect_beton(out / "val.beton").height_range[1] <= 24
    assert Manifest.from_json(json.loads((out / "manifest.json").read_text())) == manifest


def test_prepare_rejects_unknown_class(
    tmp_path: Path, make_folder: MakeFolder, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "tree", per_class=4)
    subset = tmp_path / "subset.txt"
    subset.write_text("n01\nn42\n")
    status = prepare(root, "imagefolder", tmp_path / "o", "--classes", str(subset))
    assert status == 1
    assert "'n42'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_prepare_idx_is_reproducible(idx_folder: Path, tmp_path: Path) -> None:
    first = prepare_idx(
        idx_folder, tmp_path / "a", minival_per_class=3, image_format="raw", num_workers=1
    )
    second = prepare_idx(
        idx_folder, tmp_path / "b", minival_per_class=3, image_format="raw", num_workers=2
    )
    assert first.splits == second.splits
    assert set(first.splits) == {"train", "minival", "test"}
    assert first.splits["minival"].num_samples == 9 and first.splits["test"].num_samples == 20
    assert (tmp_path / "a" / "manifest.json").read_text() != ""
    reader = BetonReader(tmp_path / "a" / "train.beton")
    assert reader.image(0)[0, 0, 0] == 100 * reader.labels[0]
    third = prepare_idx(
        idx_folder, tmp_path / "c", minival_per_class=3, seed=1, image_format="raw", num_workers=1
    )
    assert third.splits["minival"].content_hash != first.splits["minival"].content_hash


def test_cli_prepare_idx_gzipped(
    idx_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sorted(p.name for p in idx_folder.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    names = tmp_path / "names.txt"
    names.write_text("zero\none\ntwo\n")
    out = tmp_path / "out"
    status = prepare(
        idx_folder, "idx", out, "--minival-per-class", "3", "--class-names", str(names), "--raw",
        "--num-workers", "1",
    )  # fmt: skip
    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{out}/train.beton: 51 images (train)",
        f"{out}/minival.beton: 9 images (minival)",
        f"{out}/test.beton: 20 images (test)",
    ]
    manifest = Manifest.load(out)
    assert manifest.classes == ("zero", "one", "two") and manifest.image_format == "raw"
    assert manifest.source == {"format": "idx", "path": str(idx_folder)}
    assert manifest.splits["train"].counts_per_class == {"zero": 17, "one": 17, "two": 17}
    assert manifest.splits["minival"].counts_per_class == {"zero": 3, "one": 3, "two": 3}
    assert manifest.splits["test"].counts_per_class == {"zero": 7, "one": 7, "two": 6}
    for split in ("train", "minival", "test"):
        reader = BetonReader(out / f"{split}.beton")
        assert reader.content_hash() == manifest.splits[split].content_hash
        for index in range(len(reader)):
            image = reader.image(index)  # 12 x 10 grayscale, stored as 3 equal channels
            assert image.shape == (12, 10, 3)
            assert (image == image[:, :, :1]).all()
            assert image[0, 0, 0] == 100 * reader.labels[index]  # the fixture's label pixel


def test_inspect_verify_finds_damage_that_decoding_cannot(
    idx_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    manifest = prepare_idx(idx_folder, out, minival_per_class=3, image_format="raw", num_workers=1)
    path = out / "minival.beton"
    assert cli_main(["inspect", "--decode", "--verify", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["decoded"] == 9
    assert report["content_hash"] == manifest.splits["minival"].content_hash
    # Change pixels of image 4: structure and decoding are fine, the content hash is not.
    data = bytearray(path.read_bytes())
    start = data.index(BetonReader(path).image_bytes(4).tobytes())
    data[start + 50 : start + 60] = bytes(b ^ 0xFF for b in data[start + 50 : start + 60])
    path.write_bytes(bytes(data))
    assert cli_main(["inspect", "--decode", str(path)]) == 0
    assert cli_main(["inspect", "--verify", str(path)]) == 1
    assert f"{path}: content hash sha256:" in capsys.readouterr().err
    with pytest.raises(BetonError, match=r"minival\.beton: content hash .* the file changed"):
        verify_beton(path)
    assert verify_beton(out / "test.beton") == manifest.splits["test"]
    (out / "manifest.json").unlink()
    with pytest.raises(DataError, match=r"manifest\.json: manifest not found"):
        verify_beton(out / "test.beton")


def test_prepare_real_fashion_mnist(fashion_dir: Path, tmp_path: Path) -> None:
    from scalenet.data import FASHION_MNIST_CLASSES

    manifest = prepare_idx(fashion_dir, tmp_path / "fm", FASHION_MNIST_CLASSES, num_workers=2)
    assert manifest.splits["train"].num_samples == 59_500
    assert manifest.splits["minival"].counts_per_class == {c: 50 for c in FASHION_MNIST_CLASSES}
    assert manifest.splits["test"].counts_per_class == {c: 1000 for c in FASHION_MNIST_CLASSES}
    info = inspect_beton(tmp_path / "fm" / "minival.beton", decode=True)
    assert info.height_range == (28, 28) and info.decoded == 500
