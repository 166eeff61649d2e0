"""Crash-safe persistence of a search: ``state.json`` plus an append-only ``cache.jsonl``.

``state.json`` (written atomically: temporary file in the same folder, then ``os.replace``) holds
everything but the evaluation cache, and the byte length of ``cache.jsonl`` it commits. The cache
grows by appending one JSON line per new evaluation before the state that commits it is written;
on loading, lines past the committed length (written by a run killed in between) are cut off. So
a search killed at any instant resumes from its last committed step with exactly the cache and the
counters it had then.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path as FilePath
from typing import Any

from scalenet.space.files import write_text

__all__ = ["SearchStore"]

STATE_FILE = "state.json"
CACHE_FILE = "cache.jsonl"


class SearchStore:
    """The files of one search in ``folder``."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        """Use (and create) ``folder``."""
        self.folder = FilePath(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.state_path = self.folder / STATE_FILE
        self.cache_path = self.folder / CACHE_FILE

    def exists(self) -> bool:
        """Whether a committed state is present."""
        return self.state_path.is_file()

    def load(self) -> tuple[dict[str, Any], dict[str, float]]:
        """The committed state and cache (uncommitted cache lines are cut off the file).

        Raises:
            ValueError: If the files are unreadable or inconsistent.
        """
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{self.state_path}: cannot read the search state ({error})") from None
        committed = int(state.get("cache_bytes", 0))
        cache: dict[str, float] = {}
        if committed:
            if not self.cache_path.is_file() or self.cache_path.stat().st_size < committed:
                raise ValueError(f"{self.cache_path}: shorter than the {committed} bytes committed")
            with open(self.cache_path, "rb") as stream:
                data = stream.read(committed)
            for line in data.decode("utf-8").splitlines():
                key, value = json.loads(line)
                cache[str(key)] = float(value)
        with open(self.cache_path, "ab") as stream:
            stream.truncate(committed)
        if len(cache) != int(state.get("cache_size", len(cache))):
            raise ValueError(
                f"{self.cache_path}: {len(cache)} entries, state says {state['cache_size']}"
            )
        return state, cache

    def commit(self, state: dict[str, Any], new_entries: Iterable[tuple[str, float]]) -> None:
        """Append ``new_entries`` to the cache file, then write ``state`` committing them."""
        lines = "".join(json.dumps([key, value]) + "\n" for key, value in new_entries)
        with open(self.cache_path, "ab") as stream:
            if lines:
                stream.write(lines.encode("utf-8"))
                stream.flush()
                os.fsync(stream.fileno())
            size = stream.tell()
        write_text(self.state_path, json.dumps({**state, "cache_bytes": size}) + "\n", fsync=True)

    def reset(self) -> None:
        """Start over: remove the cache file (a fresh search)."""
        if self.cache_path.exists():
            self.cache_path.unlink()
