"""Crash-safe file writing and JSON / JSON Lines I/O, shared by every package and stage.

A file is written to a temporary file in the target's folder and renamed over the target
(``os.replace``, atomic on one file system): a reader, or a run resumed after a kill, sees the old
file or the new one, never half of one. The files are made readable by all (``mkstemp`` would
leave them 0600): outputs are meant to be shared.

JSON is written key-sorted, indented by 2 and newline-terminated, so that a file's bytes depend
only on its content (DVC hashes them). JSON Lines files are read line by line; a line cut by a
kill is skipped (``strict=False``) or reported with its number (``strict=True``). A file's
content is fingerprinted by :func:`file_sha256` (what a resumed run checks it resumes against).

The data package (``scalenet.data``) imports nothing of ours and keeps its own writer for
``.beton`` files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "FILE_MODE",
    "atomic_write",
    "dumps_json",
    "file_sha256",
    "read_json",
    "read_jsonl",
    "read_jsonl_lines",
    "write_csv",
    "write_json",
    "write_text",
]

#: Mode of every file written here (rw-r--r--).
FILE_MODE = 0o644


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[str], object],
    *,
    suffix: str = "",
    fsync: bool = False,
) -> Path:
    """Call ``write(temp)`` on a temporary file beside ``path``, then rename it over ``path``.

    Creates the parent folder. The temporary file is removed when ``write`` raises (the target is
    then untouched).

    Args:
        path: The file to write.
        write: Writes the content to the file name it is given (``torch.save``, ``savefig``...).
        suffix: Suffix of the temporary name (matplotlib chooses the image format by it).
        fsync: Flush the file to the disk before the rename (checkpoints, resumable state).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    try:
        os.chmod(temp, FILE_MODE)
        write(temp)
        if fsync:
            with open(temp, "rb") as stream:
                os.fsync(stream.fileno())
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return target


def write_text(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8, Unix line ends on every platform) to ``path`` atomically."""

    def write(temp: str) -> None:
        with open(temp, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)

    return atomic_write(path, write, fsync=fsync)


def write_csv(
    path: str | os.PathLike[str], header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Path:
    """Write a CSV table (``header``, then ``rows``; Unix line ends) to ``path`` atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return write_text(path, buffer.getvalue())


def dumps_json(payload: Any, *, indent: int | None = 2) -> str:
    """``payload`` as key-sorted JSON plus a newline; ``indent=None``: one compact line."""
    separators = None if indent is not None else (",", ":")
    return json.dumps(payload, indent=indent, sort_keys=True, separators=separators) + "\n"


def write_json(
    path: str | os.PathLike[str],
    payload: Any,
    *,
    indent: int | None = 2,
    fsync: bool = False,
) -> Path:
    """Write ``payload`` as JSON (:func:`dumps_json`) to ``path`` atomically.

    ``indent=None`` writes one compact line (large arrays such as per-image predictions).
    """
    return write_text(path, dumps_json(payload, indent=indent), fsync=fsync)


def read_json(path: str | os.PathLike[str], what: str, *, hint: str = "") -> dict[str, Any]:
    """The JSON object in ``path``, with one-line errors that say which file is wrong and why.

    Args:
        path: The file.
        what: What the file is, for the messages (``"budgets file"``, ``"ARCH file"``).
        hint: Appended to the message for a missing file (``" (run the budgets stage)"``).

    Raises:
        ValueError: The file is missing, not UTF-8 text, not valid JSON, or not a JSON object.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{what} {file} does not exist{hint}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} {file}: not valid JSON ({error.msg})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} {file}: not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {file}: expected a JSON object")
    return data


def read_jsonl_lines(
    path: str | os.PathLike[str],
    *,
    strict: bool = False,
    loads: Callable[[str], Any] = json.loads,
) -> list[tuple[str, Any]]:
    """The ``(line, value)`` pairs of a JSON Lines file, in file order; blank lines skipped.

    Args:
        path: The file; a missing file has no records.
        strict: Raise on a line that is not JSON; otherwise skip it (a line cut by a kill).
        loads: The parser of one line (a ``json.loads`` with hooks, for instance).

    Raises:
        ValueError: ``strict`` and a line is not valid JSON, or the file is not UTF-8 text; the
            message names the file and the line number.
    """
    file = Path(path)
    if not file.is_file():
        return []
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{file}: not valid UTF-8 text ({error})") from None
    records: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((line, loads(line)))
        except json.JSONDecodeError as error:
            if strict:
                raise ValueError(f"{file}: line {number} is not valid JSON ({error})") from None
    return records


def read_jsonl(
    path: str | os.PathLike[str],
    *,
    strict: bool = False,
    loads: Callable[[str], Any] = json.loads,
) -> list[Any]:
    """The values of a JSON Lines file (:func:`read_jsonl_lines` without the raw lines)."""
    return [value for _line, value in read_jsonl_lines(path, strict=strict, loads=loads)]


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks (checkpoints can be large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
