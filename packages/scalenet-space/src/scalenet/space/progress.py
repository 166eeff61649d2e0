"""Progress bars that read well in a terminal and in a log file.

Every scalenet package that shows progress (sampling, scaling, search, supernet) and the pipeline
stages make their bars here, so that the one rule below holds everywhere:

* on a terminal, a normal tqdm bar, redrawn in place;
* anywhere else (``dvc repro > run.log 2>&1``, CI, a batch job), one plain line per update and at
  most one update every ``SCALENET_PROGRESS_INTERVAL`` seconds (default 30), plus the final line.
  A tqdm bar written to a file would add thousands of carriage-return redraws instead.

tqdm is optional for the packages that declare it so: without it the bar is a silent stand-in
with the same ``update`` / ``set_postfix`` / ``close`` methods.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

__all__ = ["LOG_INTERVAL_ENV", "LineStream", "log_interval", "progress_bar"]

#: Environment variable: seconds between two progress lines in a log file.
LOG_INTERVAL_ENV = "SCALENET_PROGRESS_INTERVAL"
_DEFAULT_LOG_INTERVAL = 30.0


def log_interval() -> float:
    """Seconds between two progress lines when the output is not a terminal.

    Raises:
        ValueError: ``SCALENET_PROGRESS_INTERVAL`` is not a finite number >= 0.
    """
    text = os.environ.get(LOG_INTERVAL_ENV, "")
    if not text:
        return _DEFAULT_LOG_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{LOG_INTERVAL_ENV} must be a number of seconds >= 0, got {text!r}")
    return value


class LineStream:
    r"""A text stream for tqdm that turns each in-place redraw into one plain line.

    tqdm writes ``"\\r" + status`` for every redraw and blanks for a bar it removes; here each
    non-blank redraw becomes ``status + "\\n"`` and blanks are dropped.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        """Write ``text``'s status as one line (nothing for a blank redraw)."""
        line = text.replace("\r", "").replace("\x1b[A", "").strip()
        if line:
            self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        """Flush the stream underneath."""
        self.stream.flush()

    def isatty(self) -> bool:
        """Never a terminal."""
        return False


class _Silent:
    """The stand-in for a disabled bar or a missing tqdm."""

    def __init__(self, iterable: Iterable[Any] | None) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable if self.iterable is not None else ())

    def update(self, n: float = 1) -> None:
        """Nothing to show."""

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(
    iterable: Iterable[Any] | None = None,
    *,
    enabled: bool = True,
    stream: TextIO | None = None,
    **kwargs: Any,
) -> Any:
    """A tqdm bar over ``iterable`` (or a manual one with ``total=``), fit for where it writes.

    Args:
        iterable: What to iterate over (None: call ``update`` yourself).
        enabled: False gives a silent bar (same methods).
        stream: Where to write (default: standard error, read when the bar is made).
        **kwargs: tqdm's own arguments (``total``, ``desc``, ``unit``, ``initial``, ``leave``...).

    Returns:
        A ``tqdm`` instance, or a silent stand-in when disabled or when tqdm is not installed.
    """
    if not enabled:
        return _Silent(iterable)
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional for some packages: progress is cosmetic
        return _Silent(iterable)
    target = sys.stderr if stream is None else stream
    if _is_terminal(target):
        kwargs.setdefault("dynamic_ncols", True)
        return tqdm(iterable, file=target, **kwargs)
    interval = log_interval()
    kwargs.pop("dynamic_ncols", None)
    # mininterval bounds the lines; maxinterval = mininterval keeps tqdm's monitor thread from
    # lowering miniters to redraw sooner; set_postfix does not redraw (_log_bar).
    return _log_bar(tqdm)(
        iterable,
        file=LineStream(target),
        mininterval=interval,
        maxinterval=max(interval, 1.0),
        ncols=100,
        ascii=True,
        **kwargs,
    )


def _log_bar(tqdm: type) -> type:
    """Tqdm whose ``set_postfix`` / ``set_description`` wait for the next timed line."""

    class LogBar(tqdm):  # type: ignore[misc, valid-type]
        def set_postfix(
            self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any
        ) -> None:
            super().set_postfix(ordered_dict, refresh=False, **kwargs)

        def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
            super().set_description(desc, refresh=False)

    return LogBar


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):  # a closed stream
        return False
