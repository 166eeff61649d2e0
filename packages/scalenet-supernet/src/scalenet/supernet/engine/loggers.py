"""Where a training run's metrics go besides ``metrics.jsonl``: a CSV table, DVCLive, TensorBoard.

``metrics.jsonl`` (:class:`~scalenet.supernet.engine.metrics.MetricsWriter`) stays the record of
a run: a resume truncates it to the checkpoint's iteration, and every logger here is rebuilt or
purged from it then, so none shows an iteration twice or one the resumed run did not keep.

* ``csv``: ``metrics.csv``, every record as one table, written at the end of a run (the
  default of :class:`~scalenet.supernet.engine.TrainingLoop`);
* ``dvclive``: DVCLive's files in ``dvclive/`` as training goes: ``plots/metrics/<field>.tsv``
  (``step`` = iteration) and ``metrics.json`` (the last values), what ``dvc plots``, ``dvc
  metrics``, ``dvc exp show`` and the DVC extension for VS Code read. On a resume the folder is
  written again from the records ``metrics.jsonl`` kept. Needs ``pip install dvclive``
  (the ``dvclive`` extra). DVCLive writes no ``dvc.yaml`` and saves no experiment here: the
  pipeline's own ``dvc.yaml`` declares the files;
* ``tensorboard``: event files in ``tensorboard/`` (``torch.utils.tensorboard.SummaryWriter``),
  one scalar per numeric field (``tensorboard --logdir OUT/tensorboard``). On a resume the
  writer is opened with ``purge_step`` = the next iteration: TensorBoard drops the events a
  killed run logged after its checkpoint. Needs ``pip install tensorboard`` (the
  ``tensorboard`` extra).

Only numbers are logged to DVCLive and TensorBoard (a record's path string stays in the JSON
lines); the main rank alone writes.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path as FilePath
from types import ModuleType
from typing import Any, Protocol

from scalenet.supernet.engine.metrics import write_csv_table

__all__ = [
    "LOGGERS",
    "DvcLiveLogger",
    "MetricsLogger",
    "TensorBoardLogger",
    "check_loggers",
    "open_loggers",
    "scalars",
]

#: The loggers a training loop can write to (``metrics.jsonl`` is always written).
LOGGERS = ("csv", "dvclive", "tensorboard")


class MetricsLogger(Protocol):
    """Receives each metrics record of a run (``iteration`` and the logged fields)."""

    def log(self, record: Mapping[str, Any]) -> None:
        """Log one record."""

    def close(self) -> None:
        """The run ended."""


def check_loggers(loggers: Iterable[str]) -> tuple[str, ...]:
    """``loggers`` as a tuple, each one of :data:`LOGGERS`, none twice.

    Raises:
        ValueError: Naming the unknown or repeated logger and the allowed values.
    """
    if isinstance(loggers, str):
        allowed = ", ".join(LOGGERS)
        raise ValueError(f"loggers must be a list of names in {{{allowed}}}, got a string")
    names = tuple(loggers)
    for name in names:
        if name not in LOGGERS:
            raise ValueError(f"loggers: {name!r} not in {{{', '.join(LOGGERS)}}}")
    if len(set(names)) != len(names):
        raise ValueError(f"loggers: each logger once, got {list(names)}")
    return names


def scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """The numeric fields of ``record`` but ``iteration`` (booleans and strings are left out)."""
    return {
        name: float(value)
        for name, value in record.items()
        if name != "iteration" and isinstance(value, int | float) and not isinstance(value, bool)
    }


def _require(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(
            f"the {extra} logger needs {extra}: pip install 'scalenet-supernet[{extra}]' "
            f"(or pip install {extra})"
        ) from None


class CsvLogger:
    """``metrics.csv`` from the records, written once, when the run ends.

    Args:
        file: The table.
        history: The records already kept (a resumed run's ``metrics.jsonl``): its first rows.
    """

    def __init__(
        self, file: str | os.PathLike[str], history: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        self.file = FilePath(file)
        self.records = list(history)

    def log(self, record: Mapping[str, Any]) -> None:
        """Keep the record for the table."""
        self.records.append(record)

    def close(self) -> None:
        """Write the table: ``iteration``, then the other fields sorted; missing fields empty."""
        write_csv_table(self.file, self.records)


class DvcLiveLogger:
    """The records through DVCLive, in ``directory`` (``plots/metrics/*.tsv``, ``metrics.json``).

    Args:
        directory: DVCLive's folder (its earlier files are replaced).
        history: The records already kept (a resumed run's ``metrics.jsonl``): written first.
    """

    def __init__(
        self, directory: str | os.PathLike[str], history: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        dvclive = _require("dvclive", "dvclive")

        class FilesOnlyLive(dvclive.Live):  # type: ignore[name-defined]
            """DVCLive's files only: no experiment, so no look at git or DVC.

            Its repository hook reads the git revision for an experiment's name and fails in a
            repository without a commit (a fresh ``git init``, a source tarball); the stage's
            own ``dvc.yaml`` declares the files, and no experiment is saved.
            """

            def _init_dvc(self) -> None:
                return None

        self.directory = FilePath(directory)
        # resume=False: DVCLive removes its earlier files; the kept records are replayed below.
        self.live = FilesOnlyLive(
            str(self.directory), resume=False, report=None, save_dvc_exp=False, dvcyaml=None
        )
        for record in history:
            self._log(record)
        self.live.make_summary()

    def _log(self, record: Mapping[str, Any]) -> None:
        self.live.step = int(record["iteration"])
        for name, value in scalars(record).items():
            self.live.log_metric(name, value)

    def log(self, record: Mapping[str, Any]) -> None:
        """Append the record's numbers to their TSV files and refresh ``metrics.json``."""
        self._log(record)
        self.live.make_summary()

    def close(self) -> None:
        """Nothing left: every :meth:`log` wrote its rows and ``metrics.json`` already."""


class TensorBoardLogger:
    """The records as TensorBoard scalars in ``directory`` (``global_step`` = iteration).

    Args:
        directory: The log folder.
        resume_at: The iteration a resumed run continues from: events after it are purged.
    """

    def __init__(self, directory: str | os.PathLike[str], resume_at: int = 0) -> None:
        _require("tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.directory = FilePath(directory)
        self.writer = SummaryWriter(
            str(self.directory), purge_step=resume_at + 1 if resume_at > 0 else None
        )

    def log(self, record: Mapping[str, Any]) -> None:
        """One scalar per numeric field, flushed so a killed run keeps what it logged."""
        step = int(record["iteration"])
        for name, value in scalars(record).items():
            self.writer.add_scalar(name, value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        """Close the event file."""
        self.writer.close()


def open_loggers(
    names: Iterable[str],
    out_dir: str | os.PathLike[str],
    history: Sequence[Mapping[str, Any]],
    resume_at: int,
) -> list[MetricsLogger]:
    """The loggers ``names`` of a run in ``out_dir`` that continues at ``resume_at`` (0: fresh).

    ``history``: the records ``metrics.jsonl`` kept (the CSV table and DVCLive start from them).

    Raises:
        ValueError: An unknown logger, or the package a logger needs is not installed.
    """
    out = FilePath(out_dir)
    loggers: list[MetricsLogger] = []
    for name in check_loggers(names):
        if name == "csv":
            loggers.append(CsvLogger(out / "metrics.csv", history))
        elif name == "dvclive":
            loggers.append(DvcLiveLogger(out / "dvclive", history))
        else:
            loggers.append(TensorBoardLogger(out / "tensorboard", resume_at))
    return loggers
