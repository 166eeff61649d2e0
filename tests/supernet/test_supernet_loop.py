"""The resumable training loop shared by both trainers (scalenet.supernet.engine.TrainingLoop)."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
from pathlib import Path as FilePath
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional

from scalenet.data import ShuffledBatches, synthetic_images
from scalenet.supernet.engine import (
    SETTINGS_FILE,
    CheckpointError,
    DistContext,
    LoopConfig,
    LoopResult,
    MetricsWriter,
    TrainingLoop,
    batches_state,
    capture_rng,
    endless,
    loop,
    restore_rng,
    resume_or_restart,
)
from scalenet.supernet.engine import loggers as loggers_module

KILL = "SCALENET_TEST_LOOP_SIGKILL_AT"
LR = 0.05


class Toy:
    """The smallest trainer on the loop: dropout + linear classifier, SGD with momentum.

    Dropout draws from torch's RNG and the data order moves, so an exact resume needs the RNG
    states and the data position the loop's checkpoint carries.
    """

    def __init__(
        self,
        out: FilePath,
        total: int,
        *,
        every: int = 3,
        log_every: int = 1,
        tag: str = "a",
        context: DistContext | None = None,
        fingerprint: dict[str, Any] | None = None,
        loggers: tuple[str, ...] = ("csv",),
    ) -> None:
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(3 * 8 * 8, 10))
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=LR, momentum=0.9)
        self.batches = ShuffledBatches(synthetic_images(40, side=8, seed=0), 8, seed=1)
        self.loop = TrainingLoop(
            out, "toy", context, fingerprint=fingerprint, name="toy-stage", loggers=loggers
        )
        self.config = LoopConfig(
            total=total, checkpoint_every=every, log_every=log_every, seed=3, progress=False,
            desc="toy", kill_env=KILL,
        )  # fmt: skip
        self.tag = tag
        self.losses: list[float] = []

    def step(self, images: Tensor, labels: Tensor) -> Tensor:
        loss = functional.cross_entropy(self.net(images), labels)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.loop.iteration += 1
        self.losses.append(float(loss.detach()))
        return loss.detach()

    def state(self) -> dict[str, Any]:
        return {
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": capture_rng(),
            "data": batches_state(self.batches),
            "tag": self.tag,
        }

    def load(self) -> int:
        def restore(payload: dict[str, Any]) -> None:
            self.net.load_state_dict(payload["model"])
            self.optimizer.load_state_dict(payload["optimizer"])
            restore_rng(payload["rng"])

        return self.loop.load(restore, identity={"tag": self.tag}, batches=self.batches)

    def run(self, *, resume: bool = True) -> LoopResult:
        return self.loop.run(
            self.config,
            step=self.step,
            batches=self.batches,
            state=self.state,
            load=self.load,
            lr=lambda: LR,
            record=lambda done: {"epoch": done / len(self.batches)},
            model=self.net,
            resume=resume,
        )


class KilledError(Exception):
    """Stands in for SIGKILL in-process: the loop stops right where the signal would stop it."""


def _records(out: FilePath) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _assert_same_weights(a: Toy, b: Toy) -> None:
    for key, value in a.net.state_dict().items():
        assert torch.equal(value, b.net.state_dict()[key]), key


def test_fresh_run_records_checkpoints_and_reports(
    tmp_path: FilePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    toy = Toy(tmp_path, 7, every=3, log_every=2)
    saved: list[int] = []
    save = toy.loop.checkpointer.save
    monkeypatch.setattr(
        toy.loop.checkpointer, "save", lambda i, state: (saved.append(i), save(i, state))
    )
    toy.net.eval()
    result = toy.run()
    assert toy.net.training  # the loop puts the model in training mode
    assert saved == [3, 6, 7]  # every 3 iterations, then the end
    records = _records(tmp_path)
    assert [r["iteration"] for r in records] == [2, 4, 6, 7]  # every 2, and the last one
    assert set(records[0]) == {"iteration", "loss", "lr", "images_per_second", "epoch"}
    assert [r["epoch"] for r in records] == [0.4, 0.8, 1.2, 1.4]
    windows = [toy.losses[0:2], toy.losses[2:4], toy.losses[4:6], toy.losses[6:7]]
    for record, window in zip(records, windows, strict=True):
        assert record["loss"] == pytest.approx(sum(window) / len(window), abs=1e-6)
        assert record["lr"] == LR and record["images_per_second"] > 0
    assert result.iterations == 7 and result.resumed_from == 0
    assert result.last_loss == pytest.approx(toy.losses[-1])
    assert result.images_per_second > 0 and result.seconds > 0
    payload = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert (payload["kind"], payload["iteration"], payload["tag"]) == ("toy", 7, "a")
    assert json.loads(payload["data"]) == {"epoch": 1, "position": 2}  # 7 batches of 5 per epoch


def test_resume_continues_to_the_same_weights(tmp_path: FilePath) -> None:
    straight = Toy(tmp_path / "straight", 11)
    straight.run()
    first = Toy(tmp_path / "split", 4)
    assert first.run().iterations == 4
    second = Toy(tmp_path / "split", 11)
    result = second.run()
    assert result.resumed_from == 4 and result.iterations == 11
    assert second.loop.iteration == 11
    _assert_same_weights(straight, second)
    assert second.losses == straight.losses[4:]
    assert [r["iteration"] for r in _records(tmp_path / "split")] == list(range(1, 12))


def test_kill_hook_then_resume_truncates_metrics_and_is_exact(
    tmp_path: FilePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight = Toy(tmp_path / "straight", 9)
    straight.run()
    signals: list[tuple[int, int]] = []

    def fake_kill(pid: int, sig: int) -> None:
        signals.append((pid, sig))
        raise KilledError

    monkeypatch.setattr(loop.os, "kill", fake_kill)
    monkeypatch.setenv(KILL, "5")
    killed = Toy(tmp_path / "killed", 9, every=3)
    with pytest.raises(KilledError):
        killed.run()
    assert signals == [(os.getpid(), signal.SIGKILL)]
    assert len(killed.losses) == 5  # killed right after iteration 5
    assert [r["iteration"] for r in _records(tmp_path / "killed")] == [1, 2, 3, 4, 5]
    assert torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["iteration"] == 3
    monkeypatch.delenv(KILL)
    resumed = Toy(tmp_path / "killed", 9, every=3)
    result = resumed.run()
    assert result.resumed_from == 3 and result.iterations == 9
    assert signals == [(os.getpid(), signal.SIGKILL)]  # the hook is off without the variable
    _assert_same_weights(straight, resumed)
    records = _records(tmp_path / "killed")
    assert [r["iteration"] for r in records] == list(range(1, 10))  # 4 and 5 written once
    assert [r["loss"] for r in records] == [r["loss"] for r in _records(tmp_path / "straight")]


def test_resume_drops_metric_lines_after_the_checkpoint_and_cut_lines(tmp_path: FilePath) -> None:
    Toy(tmp_path, 4).run()
    with (tmp_path / "metrics.jsonl").open("a") as stream:
        stream.write('{"iteration": 5, "loss": 1.0}\n{"iteration": 6, "lo')  # a kill mid-line
    Toy(tmp_path, 6).run()
    assert [r["iteration"] for r in _records(tmp_path)] == [1, 2, 3, 4, 5, 6]
    assert _records(tmp_path)[4]["loss"] != 1.0


def test_metrics_csv_copies_the_records_for_dvc_plots(tmp_path: FilePath) -> None:
    Toy(tmp_path, 4, log_every=2).run()
    with (tmp_path / "metrics.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    records = _records(tmp_path)
    assert [int(row["iteration"]) for row in rows] == [2, 4]
    assert list(rows[0]) == ["iteration", "epoch", "images_per_second", "loss", "lr"]
    for row, record in zip(rows, records, strict=True):
        assert float(row["loss"]) == record["loss"] and float(row["epoch"]) == record["epoch"]
    with (tmp_path / "metrics.jsonl").open("a") as stream:
        stream.write('{"iteration": 5, "loss": 1.0, "extra": 3}\n{"iteration": 6, "lo')  # cut
    Toy(tmp_path, 6, log_every=2).run()  # resumes at 4: the stray records go, the cut line too
    with (tmp_path / "metrics.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(row["iteration"]) for row in rows] == [2, 4, 6]
    assert "extra" not in rows[0]


def test_metrics_csv_leaves_a_field_empty_where_a_record_lacks_it(tmp_path: FilePath) -> None:
    writer = MetricsWriter(tmp_path / "m.jsonl")
    writer.write({"iteration": 1, "loss": 2.0})
    writer.write({"iteration": 2, "loss": 1.5, "scaling_stage": 3})
    writer.export_csv(tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text().splitlines() == [
        "iteration,loss,scaling_stage",
        "1,2.0,",
        "2,1.5,3",
    ]
    MetricsWriter(tmp_path / "off.jsonl", enabled=False).export_csv(tmp_path / "off.csv")
    assert not (tmp_path / "off.csv").exists()  # non-main ranks write nothing


def test_no_resume_refuses_an_existing_checkpoint(tmp_path: FilePath) -> None:
    Toy(tmp_path, 2).run()
    checkpoint = (tmp_path / "checkpoint.pt").read_bytes()
    metrics = (tmp_path / "metrics.jsonl").read_text()
    toy = Toy(tmp_path, 4)
    with pytest.raises(CheckpointError, match="exists; resume or choose another output folder"):
        toy.run(resume=False)
    assert toy.losses == []
    assert (tmp_path / "checkpoint.pt").read_bytes() == checkpoint
    assert (tmp_path / "metrics.jsonl").read_text() == metrics
    assert Toy(tmp_path / "fresh", 2).run(resume=False).iterations == 2  # nothing there: fine


def test_checkpoint_of_another_run_is_refused(tmp_path: FilePath) -> None:
    Toy(tmp_path, 2).run()
    with pytest.raises(CheckpointError, match="has tag 'a', this run 'b'; delete it"):
        Toy(tmp_path, 4, tag="b").run()
    other_kind = Toy(tmp_path, 4)
    other_kind.loop = TrainingLoop(tmp_path, "other")
    with pytest.raises(CheckpointError, match="written by 'toy', expected 'other'"):
        other_kind.run()
    wider = Toy(tmp_path, 4)
    wider.net[2] = nn.Linear(3 * 8 * 8, 12)
    with pytest.raises(CheckpointError, match="does not match this run"):
        wider.run()


def test_finished_run_is_left_alone(tmp_path: FilePath) -> None:
    Toy(tmp_path, 3).run()
    checkpoint = (tmp_path / "checkpoint.pt").read_bytes()
    again = Toy(tmp_path, 3)
    result = again.run()
    assert (result.iterations, result.resumed_from) == (3, 3) and math.isnan(result.last_loss)
    assert again.losses == []
    assert (tmp_path / "checkpoint.pt").read_bytes() == checkpoint
    assert len(_records(tmp_path)) == 3


def test_summary_of_a_run_finished_earlier_reads_its_files(tmp_path: FilePath) -> None:
    first = Toy(tmp_path, 3).run()
    summary = first.summary(tmp_path, tmp_path / "train.json")  # no earlier summary yet
    assert summary["final_loss"] == round(first.last_loss, 4)
    assert summary["train_seconds"] == round(first.seconds, 1)
    assert summary["train_images_per_second"] == round(first.images_per_second, 1)
    earlier = {"train_seconds": 12.5, "train_images_per_second": 0.0}  # 0: not known
    (tmp_path / "train.json").write_text(json.dumps(earlier))
    again = Toy(tmp_path, 3).run()  # resumed at its end: no step, NaN loss, no timing
    # the loss of the last metrics record (the mean of its window) and the earlier timing
    assert again.summary(tmp_path, tmp_path / "train.json") == {
        "final_loss": round(_records(tmp_path)[-1]["loss"], 4),
        "train_seconds": 12.5,
        "train_images_per_second": None,
    }
    assert again.summary(tmp_path)["train_seconds"] == 0.0  # no earlier summary named
    (tmp_path / "metrics.jsonl").write_text('{"iteration": 3, "loss": "cut')  # nothing readable
    assert again.summary(tmp_path)["final_loss"] is None


def test_only_the_main_rank_writes(tmp_path: FilePath) -> None:
    toy = Toy(tmp_path, 3, context=DistContext(rank=1))
    assert toy.run().iterations == 3
    assert list(tmp_path.iterdir()) == []


def test_step_must_advance_the_iteration_by_one(tmp_path: FilePath) -> None:
    toy = Toy(tmp_path, 3)
    toy.step = lambda images, labels: torch.tensor(0.0)  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="from 0 to 0, not by one"):
        toy.run()


def test_endless_batches() -> None:
    stream = endless([(torch.zeros(1), torch.zeros(1)), (torch.ones(1), torch.ones(1))])
    assert [float(next(stream)[0]) for _ in range(5)] == [0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="the training batches are empty"):
        next(endless([]))
    assert batches_state([]) == "null"


def test_loop_config_values() -> None:
    with pytest.raises(ValueError, match="total must be >= 1"):
        LoopConfig(total=0)
    with pytest.raises(ValueError, match="checkpoint_every must be >= 0"):
        LoopConfig(total=1, checkpoint_every=-1)
    with pytest.raises(ValueError, match="log_every must be >= 1"):
        LoopConfig(total=1, log_every=0)


def test_resume_or_restart_keeps_a_checkpoint_only_under_the_same_settings(
    tmp_path: FilePath, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = {"lr": 0.1, "seed": 0, "sides": ["left"]}
    assert not resume_or_restart(tmp_path, settings, name="stage")  # nothing to resume
    assert json.loads((tmp_path / SETTINGS_FILE).read_text()) == settings
    (tmp_path / "checkpoint.pt").write_bytes(b"x")
    (tmp_path / "metrics.jsonl").write_text('{"iteration": 1}\n')
    assert resume_or_restart(tmp_path, dict(settings), name="stage")
    assert "stage: resuming from" in capsys.readouterr().out
    assert (tmp_path / "checkpoint.pt").exists()
    assert not resume_or_restart(tmp_path, {**settings, "lr": 0.2}, name="stage")
    assert "training settings changed, starting over" in capsys.readouterr().out
    assert not (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "metrics.jsonl").exists()
    assert json.loads((tmp_path / SETTINGS_FILE).read_text())["lr"] == 0.2
    (tmp_path / "checkpoint.pt").write_bytes(b"x")
    (tmp_path / SETTINGS_FILE).unlink()  # a checkpoint without a stamp is not trusted
    assert not resume_or_restart(tmp_path, settings) and not (tmp_path / "checkpoint.pt").exists()


def test_a_loop_with_a_fingerprint_resumes_only_under_the_same_settings(
    tmp_path: FilePath, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = {"lr": LR, "seed": 3}
    first = Toy(tmp_path, 6, fingerprint=settings)
    assert not first.loop.resumes()  # an empty folder
    first.run()
    assert json.loads((tmp_path / SETTINGS_FILE).read_text()) == settings
    assert Toy(tmp_path, 6, fingerprint=dict(settings)).loop.resumes()
    assert Toy(tmp_path, 6).loop.resumes()  # no fingerprint: any checkpoint of its kind
    capsys.readouterr()
    same = Toy(tmp_path, 6, fingerprint=dict(settings))
    assert same.run().resumed_from == 6 and same.losses == []
    assert "toy-stage: resuming from" in capsys.readouterr().out
    other = Toy(tmp_path, 6, fingerprint={**settings, "lr": 0.2})
    assert not other.loop.resumes()
    assert (tmp_path / "checkpoint.pt").exists()  # resumes() only asks: nothing is removed
    result = other.run()
    assert "toy-stage: training settings changed, starting over" in capsys.readouterr().out
    assert result.resumed_from == 0 and len(other.losses) == 6  # trained from scratch
    _assert_same_weights(other, first)  # the same run as the first one, from the start
    assert json.loads((tmp_path / SETTINGS_FILE).read_text())["lr"] == 0.2


def _tsv(file: FilePath) -> list[list[str]]:
    return [line.split("\t") for line in file.read_text().splitlines()]


def _killed_then_resumed(
    out: FilePath, monkeypatch: pytest.MonkeyPatch, loggers: tuple[str, ...]
) -> Toy:
    """A run of 9 killed after iteration 5 (checkpoint at 3), then resumed to the end."""

    def fake_kill(pid: int, sig: int) -> None:
        raise KilledError

    monkeypatch.setattr(loop.os, "kill", fake_kill)
    monkeypatch.setenv(KILL, "5")
    with pytest.raises(KilledError):
        Toy(out, 9, every=3, loggers=loggers).run()
    monkeypatch.delenv(KILL)
    resumed = Toy(out, 9, every=3, loggers=loggers)
    assert resumed.run().resumed_from == 3
    return resumed


def test_dvclive_logger_writes_the_records_and_rebuilds_them_on_resume(
    tmp_path: FilePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    Toy(tmp_path / "straight", 9, every=3, loggers=("dvclive",)).run()
    live = tmp_path / "straight" / "dvclive"
    loss = _tsv(live / "plots" / "metrics" / "loss.tsv")
    records = _records(tmp_path / "straight")
    assert loss[0] == ["step", "loss"]
    assert [(int(s), float(v)) for s, v in loss[1:]] == [
        (r["iteration"], r["loss"]) for r in records
    ]
    assert {f.name for f in (live / "plots" / "metrics").iterdir()} == {
        "loss.tsv", "lr.tsv", "images_per_second.tsv", "epoch.tsv",
    }  # fmt: skip
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == 9 and summary["loss"] == records[-1]["loss"]
    assert not (tmp_path / "straight" / "metrics.csv").exists()  # only the loggers asked for
    assert not list(tmp_path.rglob("dvc.yaml"))  # DVCLive writes no dvc.yaml of its own
    # killed after iteration 5 with a checkpoint at 3: the resumed run's files are the straight
    # run's (iterations 4 and 5 once), but for the measured images/s
    _killed_then_resumed(tmp_path / "killed", monkeypatch, ("dvclive",))
    again = tmp_path / "killed" / "dvclive" / "plots" / "metrics"
    for name in ("loss.tsv", "lr.tsv", "epoch.tsv"):
        assert (again / name).read_bytes() == (live / "plots" / "metrics" / name).read_bytes()
    steps = [int(row[0]) for row in _tsv(again / "images_per_second.tsv")[1:]]
    assert steps == list(range(1, 10))


def test_tensorboard_logger_purges_the_steps_after_the_checkpoint(
    tmp_path: FilePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def scalars(folder: FilePath, tag: str) -> list[tuple[int, float]]:
        events = EventAccumulator(str(folder / "tensorboard"))
        events.Reload()
        return [(event.step, round(event.value, 6)) for event in events.Scalars(tag)]

    straight = Toy(tmp_path / "straight", 9, every=3, loggers=("tensorboard", "csv"))
    straight.run()
    expected = [(r["iteration"], r["loss"]) for r in _records(tmp_path / "straight")]
    assert scalars(tmp_path / "straight", "loss") == expected
    assert (tmp_path / "straight" / "metrics.csv").exists()
    _killed_then_resumed(tmp_path / "killed", monkeypatch, ("tensorboard",))
    # two event files (the killed run's and the resumed one's); steps 4 and 5 appear once
    assert len(list((tmp_path / "killed" / "tensorboard").iterdir())) == 2
    assert scalars(tmp_path / "killed", "loss") == expected


@pytest.mark.parametrize(
    ("loggers", "message"),
    [
        ("dvclive", r"loggers must be a list of names in \{csv, dvclive, tensorboard\}"),
        (["wandb"], r"loggers: 'wandb' not in \{csv, dvclive, tensorboard\}"),
        (["csv", "csv"], r"loggers: each logger once, got \['csv', 'csv'\]"),
    ],
)
def test_bad_loggers_are_named(tmp_path: FilePath, loggers: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingLoop(tmp_path, "toy", loggers=loggers)


def test_a_logger_without_its_package_says_what_to_install(
    tmp_path: FilePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = loggers_module.importlib.import_module

    def missing(name: str) -> Any:
        if name == "dvclive":
            raise ImportError(name)
        return real(name)

    monkeypatch.setattr(loggers_module.importlib, "import_module", missing)
    toy = Toy(tmp_path, 3, loggers=("dvclive",))
    with pytest.raises(ValueError, match=r"pip install 'scalenet-supernet\[dvclive\]'"):
        toy.run()


def test_scalars_keep_numbers_only() -> None:
    record = {"iteration": 3, "loss": 0.5, "resolution": 32, "path": "k3e1", "flag": True}
    assert loggers_module.scalars(record) == {"loss": 0.5, "resolution": 32.0}


def test_dvclive_logger_works_in_a_git_repository_without_a_commit(
    tmp_path: FilePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DVCLive's own repository hook fails there ("Empty git repo"); the logger skips it
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    logger = loggers_module.DvcLiveLogger("run/dvclive", [{"iteration": 1, "loss": 2.0}])
    logger.log({"iteration": 2, "loss": 1.5, "path": "k3e1"})
    logger.close()
    assert _tsv(tmp_path / "run/dvclive/plots/metrics/loss.tsv") == [
        ["step", "loss"], ["1", "2.0"], ["2", "1.5"],
    ]  # fmt: skip
    assert json.loads((tmp_path / "run/dvclive/metrics.json").read_text()) == {
        "loss": 1.5,
        "step": 2,
    }
    assert sorted(p.name for p in (tmp_path / "run/dvclive").iterdir()) == ["metrics.json", "plots"]


def test_csv_logger_after_a_kill_holds_each_kept_record_once(
    tmp_path: FilePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    Toy(tmp_path / "straight", 9, every=3).run()
    _killed_then_resumed(tmp_path / "killed", monkeypatch, ("csv",))

    def table(folder: FilePath) -> list[dict[str, str]]:
        with (folder / "metrics.csv").open(newline="") as stream:
            return list(csv.DictReader(stream))

    rows, straight = table(tmp_path / "killed"), table(tmp_path / "straight")
    assert [row["iteration"] for row in rows] == [str(i) for i in range(1, 10)]
    for field in ("loss", "lr", "epoch"):  # the kept records, then the resumed run's
        assert [row[field] for row in rows] == [row[field] for row in straight], field
