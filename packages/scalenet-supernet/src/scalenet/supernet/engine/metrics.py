"""Training metrics: JSON lines truncated to the resumed iteration, a CSV copy, images/s, progress.

* :class:`MetricsWriter`: one JSON object per line; a restart truncates the lines logged after
  the checkpoint, so a resumed run never duplicates one; copied to a CSV table for DVC plots;
* :func:`write_csv_table`: records as a CSV table (the ``csv`` logger of
  :mod:`scalenet.supernet.engine.loggers`, next to DVCLive and TensorBoard);
* :class:`Throughput`: images/s of the steps run in this process;
* :func:`progress`: a progress bar on rank 0 (:func:`scalenet.space.progress.progress_bar`).
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path as FilePath
from typing import Any

from scalenet.space.files import atomic_write, read_jsonl_lines
from scalenet.space.progress import progress_bar

__all__ = ["MetricsWriter", "Throughput", "progress", "write_csv_table"]


class MetricsWriter:
    """Append metrics as JSON lines; only the main rank writes.

    JSON Lines survive a kill (a cut last line is skipped), but DVC plots read only JSON, YAML,
    CSV and TSV files, so :meth:`export_csv` writes the same records as a CSV table for
    ``dvc plots``.

    Args:
        path: The ``.jsonl`` file.
        enabled: False on non-main ranks.
    """

    def __init__(self, path: str | os.PathLike[str], enabled: bool = True) -> None:
        self.path = FilePath(path)
        self.enabled = enabled

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """The readable records with their lines (a line cut by a kill is skipped)."""
        return [
            (line, record)
            for line, record in read_jsonl_lines(self.path)
            if isinstance(record, dict)
        ]

    def truncate_after(self, iteration: int) -> None:
        """Drop records with ``iteration`` greater than the given one (after a resume)."""
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line, rec in self.records() if int(rec.get("iteration", 0)) <= iteration]
        atomic_write(
            self.path,
            lambda temp: FilePath(temp).write_text("".join(f"{line}\n" for line in kept), "utf-8"),
            fsync=True,
        )

    def export_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the records as a CSV table, atomically (:func:`write_csv_table`)."""
        if self.enabled:
            write_csv_table(path, [record for _line, record in self.records()])

    def reset(self) -> None:
        """Start an empty file (a fresh run)."""
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line."""
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(dict(record), sort_keys=True) + "\n")


def write_csv_table(path: str | os.PathLike[str], records: Sequence[Mapping[str, Any]]) -> None:
    """Write metrics records as a CSV table, atomically.

    Columns: ``iteration`` first, then the other fields in sorted order; a field that a record
    lacks is left empty.
    """
    fields = sorted({key for record in records for key in record} - {"iteration"})
    columns = ["iteration", *fields]

    def write(temp: str) -> None:
        with open(temp, "w", encoding="utf-8", newline="") as stream:
            table = csv.DictWriter(stream, fieldnames=columns, restval="")
            table.writeheader()
            table.writerows(records)

    atomic_write(path, write, fsync=True)


class Throughput:
    """Images per second over a sliding window of steps."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.images = 0

    def update(self, images: int) -> None:
        """Count ``images`` more."""
        self.images += images

    def rate(self, reset: bool = True) -> float:
        """Images/s since the last reset."""
        now = time.perf_counter()
        value = self.images / max(now - self.start, 1e-9)
        if reset:
            self.start, self.images = now, 0
        return value


def progress(iterable: Iterable[int], *, total: int, initial: int, enabled: bool, desc: str) -> Any:
    """A tqdm bar over ``iterable`` (``set_postfix`` works on it); silent when not ``enabled``."""
    return progress_bar(iterable, total=total, initial=initial, enabled=enabled, desc=desc)
