"""Errors raised by scalenet.data; every message names the offending file or field."""

from __future__ import annotations

__all__ = ["BetonError", "DataError", "FfcvUnavailableError"]


class DataError(ValueError):
    """A data source or output is unusable; the message names the file (or field) at fault."""


class BetonError(DataError):
    """A ``.beton`` file is missing, truncated or corrupted."""


class FfcvUnavailableError(ImportError):
    """FFCV is needed for this operation (writing ``.beton`` files) but is not installed."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} needs FFCV, which is not installed: "
            "pip install 'scalenet-data[ffcv]' (needs libopencv-dev, libturbojpeg0-dev, pkg-config)"
        )
