"""Evaluations of trained networks kept by (weights, settings), so an interrupted run skips them.

A model's evaluation (:func:`scalenet.supernet.standalone.retrain.evaluate_model` with its
per-image predictions) is stored under :meth:`EvaluationCache.key`, the SHA-256 of the weights
file and the evaluation settings: new weights or other settings make a new key, so a cached result
is never reused for a model it was not computed on. The file is JSON Lines, one record
``{"key", "metrics", "predictions", "labels"}`` per model, appended as each model finishes; a
line torn by a kill, or a record without predictions (written before they were kept), is ignored
on reading.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scalenet.space.files import file_sha256, read_jsonl

__all__ = ["EvaluationCache"]


class EvaluationCache:
    """Cached evaluation results in a JSON Lines file (read at construction, appended to)."""

    def __init__(self, file: str | os.PathLike[str]) -> None:
        self.file = Path(file)
        self._results: dict[str, dict[str, Any]] = {}
        for record in read_jsonl(self.file):
            try:
                if isinstance(record, dict) and "predictions" in record:
                    self._results[record["key"]] = {
                        **record["metrics"],
                        "predictions": record["predictions"],
                        "labels": record["labels"],
                    }
            except (KeyError, TypeError):
                continue

    @staticmethod
    def key(weights: str | os.PathLike[str], settings: Mapping[str, Any]) -> str:
        """The key of ``weights`` (a file, hashed by content) evaluated with ``settings``."""
        digest = file_sha256(weights)
        text = json.dumps(dict(settings), sort_keys=True)
        return hashlib.sha256(f"{digest}|{text}".encode()).hexdigest()

    def __len__(self) -> int:
        return len(self._results)

    def __contains__(self, key: object) -> bool:
        return key in self._results

    def __getitem__(self, key: str) -> dict[str, Any]:
        """The metrics of ``key`` with its ``predictions`` and ``labels`` (a copy)."""
        return dict(self._results[key])

    def evaluate(
        self,
        weights: str | os.PathLike[str],
        settings: Mapping[str, Any],
        compute: Callable[[], Mapping[str, Any]],
    ) -> tuple[dict[str, Any], bool]:
        """The cached result of ``weights`` under ``settings``, else ``compute()`` stored.

        Args:
            weights: The weights file (hashed by content, :meth:`key`).
            settings: The evaluation settings (part of the key).
            compute: Evaluates the model when no result is cached; returns metrics with
                ``predictions`` and ``labels`` (``evaluate_model(..., keep_predictions=True)``).

        Returns:
            The result (a copy, as :meth:`__getitem__`) and whether it came from the cache.
        """
        key = self.key(weights, settings)
        reused = key in self
        if not reused:
            self.add(key, compute())
        return self[key], reused

    def add(self, key: str, result: Mapping[str, Any]) -> None:
        """Store ``result`` (metrics plus ``predictions`` and ``labels``) and append it to the file.

        Raises:
            ValueError: ``result`` has no ``predictions`` or no ``labels``.
        """
        missing = [name for name in ("predictions", "labels") if name not in result]
        if missing:
            raise ValueError(f"an evaluation to cache needs {' and '.join(missing)}")
        metrics = {k: v for k, v in result.items() if k not in ("predictions", "labels")}
        record = {
            "key": key,
            "metrics": metrics,
            "predictions": result["predictions"],
            "labels": result["labels"],
        }
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with self.file.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record, sort_keys=True) + "\n")
        self._results[key] = {
            **metrics,
            "predictions": result["predictions"],
            "labels": result["labels"],
        }
