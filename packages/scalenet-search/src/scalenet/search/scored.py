"""Scored paths: Q paths with their FLOPs and an accuracy each, the input of the ranking metrics.

One file format, written by whoever scores paths (a super-supernet's evaluation of Q sampled
paths, or the same paths trained stand-alone) and read by the ranking: CSV with the header
``path,flops,accuracy`` (path string, integer FLOPs, top-1 in % with 4 decimals), or JSON Lines
with those three keys (``.jsonl``/``.json``).

:func:`ranking_intervals` and :func:`standalone_agreement` are the two comparisons of
supplementary B on top of :mod:`scalenet.search.ranking`: the bootstrap interval of every
coefficient per sampler (and of the paired HSS - uniform difference), and Kendall's tau-b between
each sampler's accuracy of N paths and their stand-alone accuracy.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from scalenet.search.ranking import bootstrap_interval, coefficient_intervals, kendall_tau_b
from scalenet.space.files import read_jsonl, write_csv

__all__ = ["HEADER", "ScoredPaths", "ranking_intervals", "standalone_agreement"]

#: The CSV header of a scored-paths file.
HEADER = ("path", "flops", "accuracy")


@dataclass(frozen=True)
class ScoredPaths:
    """Q paths (encoded path strings), their FLOPs and one accuracy (top-1 in %) each."""

    paths: tuple[str, ...]
    flops: tuple[float, ...]
    accuracy: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.paths) == len(self.flops) == len(self.accuracy):
            raise ValueError(
                f"scored paths: {len(self.paths)} paths, {len(self.flops)} FLOPs and "
                f"{len(self.accuracy)} accuracies (expected one of each per path)"
            )

    @classmethod
    def of(
        cls, paths: Sequence[str], flops: Sequence[float], accuracy: Sequence[float]
    ) -> ScoredPaths:
        """From three parallel sequences (FLOPs and accuracies as floats)."""
        return cls(
            tuple(str(p) for p in paths),
            tuple(float(f) for f in flops),
            tuple(float(a) for a in accuracy),
        )

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, what: str = "scored-paths file") -> ScoredPaths:
        """Read a scored-paths file (CSV with an optional header, or JSON Lines).

        Args:
            path: The file.
            what: What the file is, for the message when it is missing.

        Raises:
            ValueError: The file is missing or a row is malformed; one line naming the file
                (and the line for a CSV row with the wrong number of fields).
        """
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"{what} {file} does not exist")
        paths: list[str] = []
        flops: list[float] = []
        accuracy: list[float] = []
        try:
            if file.suffix in (".jsonl", ".json"):
                for row in read_jsonl(file, strict=True):
                    paths.append(str(row["path"]))
                    flops.append(float(row["flops"]))
                    accuracy.append(float(row["accuracy"]))
            else:
                text = file.read_text(encoding="utf-8")
                for number, fields in enumerate(csv.reader(text.splitlines()), start=1):
                    if not fields or (number == 1 and fields[0].strip() == HEADER[0]):
                        continue
                    if len(fields) != len(HEADER):
                        raise ValueError(
                            f"{file} line {number}: expected {','.join(HEADER)}, "
                            f"got {len(fields)} fields"
                        )
                    paths.append(fields[0])
                    flops.append(float(fields[1]))
                    accuracy.append(float(fields[2]))
        except (KeyError, TypeError) as error:
            raise ValueError(f"{file}: bad row (no key {error})") from None
        except ValueError as error:
            message = str(error)
            if not message.startswith(str(file)):
                message = f"{file}: bad row ({message})"
            raise ValueError(message) from None
        return cls(tuple(paths), tuple(flops), tuple(accuracy))

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the CSV form atomically (integer FLOPs, accuracy with 4 decimals)."""
        rows = zip(self.paths, self.flops, self.accuracy, strict=True)
        return write_csv(path, HEADER, ([p, int(f), f"{a:.4f}"] for p, f, a in rows))


def ranking_intervals(
    scored: Mapping[str, ScoredPaths],
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Bootstrap CIs of the coefficients per sampler and of the first two samplers' difference.

    Returns:
        ``{"samplers": {name: {coefficient: interval}}, "difference": ...}``; ``difference`` is
        ``{"of": [first, second], coefficient: interval, ...}`` when the first two samplers
        scored the same paths (in the same order), else None.
    """
    options: dict[str, Any] = {"resamples": resamples, "level": level, "seed": seed}
    result: dict[str, Any] = {"samplers": {}, "difference": None}
    for sampler, rows in scored.items():
        found = coefficient_intervals(rows.accuracy, rows.flops, **options)
        result["samplers"][sampler] = {name: value.to_json() for name, value in found.items()}
    names = list(scored)
    if len(names) >= 2:
        first, second = scored[names[0]], scored[names[1]]
        if first.paths == second.paths:
            found = coefficient_intervals(
                first.accuracy, first.flops, other_acc=second.accuracy, **options
            )
            result["difference"] = {
                "of": names[:2],
                **{name: value.to_json() for name, value in found.items()},
            }
    return result


def standalone_agreement(
    scored: Mapping[str, ScoredPaths],
    alone: ScoredPaths,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Kendall tau-b of each sampler's accuracy vs the stand-alone accuracy of the same paths.

    Each sampler's accuracy of ``alone``'s paths is looked up by path; the interval is a
    bootstrap over those N paths, and ``difference`` the paired one of the first two samplers.

    Raises:
        ValueError: A path appears twice in ``alone``, or a sampler did not score one of its paths.
    """
    if len(set(alone.paths)) != len(alone.paths):
        raise ValueError("a path appears twice in the stand-alone paths")
    options: dict[str, Any] = {"resamples": resamples, "level": level, "seed": seed}
    found: dict[str, npt.NDArray[np.float64]] = {}
    for sampler, rows in scored.items():
        score = dict(zip(rows.paths, rows.accuracy, strict=True))
        absent = [p for p in alone.paths if p not in score]
        if absent:
            raise ValueError(
                f"{len(absent)} stand-alone path(s) not scored by {sampler}, e.g. {absent[0]}"
            )
        found[sampler] = np.asarray([score[p] for p in alone.paths])
    y = np.asarray(alone.accuracy)
    result: dict[str, Any] = {"paths": len(alone), "samplers": {}, "difference": None}
    for sampler, x in found.items():

        def tau(index: npt.NDArray[np.int64], x: npt.NDArray[np.float64] = x) -> float | None:
            return kendall_tau_b(x[index], y[index])

        result["samplers"][sampler] = bootstrap_interval(tau, len(alone), **options).to_json()
    names = list(found)
    if len(names) >= 2:
        a, b = found[names[0]], found[names[1]]

        def difference(index: npt.NDArray[np.int64]) -> float | None:
            first, second = kendall_tau_b(a[index], y[index]), kendall_tau_b(b[index], y[index])
            return None if first is None or second is None else first - second

        result["difference"] = {
            "of": names[:2],
            **bootstrap_interval(difference, len(alone), **options).to_json(),
        }
    return result
