"""Number formatting, checked accessors and markdown tables shared by the sections."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from _report.model import ReportError


def missing(shown: str, stage: str) -> str:
    """The one line a section (or part of one) shows when its input file is absent."""
    return f"*Not available: `{shown}` missing (run `dvc repro {stage}`).*"


def number(value: Any, what: str = "value") -> float:
    """``value`` as a float; anything else (bool, str, None) is a ReportError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportError(f"{what} must be a number, got {value!r}")
    return float(value)


def mapping(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else a ReportError."""
    if not isinstance(value, dict):
        raise ReportError(f"{what} must be an object, got {type(value).__name__}")
    return value


def sequence(value: Any, what: str) -> list[Any]:
    """``value`` if it is a JSON array, else a ReportError."""
    if not isinstance(value, list):
        raise ReportError(f"{what} must be an array, got {type(value).__name__}")
    return value


def stage_items(value: Any, what: str) -> list[tuple[int, Any]]:
    """A ``{"0": x, "1": y}`` object as [(0, x), (1, y)], sorted by stage."""
    try:
        return sorted((int(key), item) for key, item in mapping(value, what).items())
    except ValueError:
        raise ReportError(f"{what}: keys must be scaling stages 0, 1, ...") from None


def integer(value: Any) -> str:
    """``4,000,000``."""
    return f"{round(number(value)):,}"


def mflops(value: Any) -> str:
    """FLOPs in millions, one decimal: ``4.0``."""
    return f"{number(value) / 1e6:,.1f}"


def mparams(value: Any) -> str:
    """Parameters in millions, three decimals: ``0.183``."""
    return f"{number(value) / 1e6:,.3f}"


def percent(share: Any) -> str:
    """A share in [0, 1] as a percentage, one decimal: ``37.3 %``."""
    return f"{100 * number(share):.1f} %"


def acc(value: Any) -> str:
    """An accuracy already in percent, one decimal: ``56.0``."""
    return f"{number(value):.1f}"


def coef(value: Any) -> str:
    """A coefficient or error, three decimals."""
    return f"{number(value):.3f}"


def optional(value: Any, render: Callable[[Any], str]) -> str:
    """``render(value)``, or an en dash for None."""
    return "–" if value is None else render(value)


def plain(value: Any) -> str:
    """A params.yaml value as YAML would spell it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """A markdown table; ``align`` has one letter per column (``l`` or ``r``)."""
    if len(align) != len(headers):
        raise ValueError(f"align {align!r} must have one letter per column ({len(headers)})")
    rule = ["---:" if letter == "r" else "---" for letter in align]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def compare(
    first: float,
    second: float,
    names: tuple[str, str],
    render: Callable[[float], str],
    *,
    higher: str = "higher",
) -> str:
    """``"HSS higher by 2.1"`` / ``"uniform higher by 0.3"`` / ``"level"``, from the numbers."""
    difference = first - second
    if render(abs(difference)) == render(0.0):
        return "level"
    winner = names[0] if difference > 0 else names[1]
    return f"{winner} {higher} by {render(abs(difference))}"


def _interval(value: Any) -> str:
    item = mapping(value, "interval")
    if item.get("low") is None or item.get("high") is None:
        return "–"
    return f"[{number(item['low']):+.3f}, {number(item['high']):+.3f}]"


def _known(item: Any) -> tuple[float, float, float] | None:
    """(value, low, high) of an interval of rank/intervals.json, or None when undefined."""
    if item is None or item.get("value") is None or item.get("low") is None:
        return None
    return number(item["value"]), number(item["low"]), number(item["high"])


def _significance(low: float, high: float, first: str, second: str) -> str:
    if low > 0:
        return f"{first} significantly higher"
    if high < 0:
        return f"{second} significantly higher"
    return "not significant (the interval includes 0)"
