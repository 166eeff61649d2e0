"""Strict checks of values read from JSON or YAML: one ``ValueError`` naming the field.

JSON has no int/float distinction that ``int()``/``float()``/``bool()`` would respect: they turn
``3.7`` into ``3``, ``"no"`` into ``True`` and ``true`` into ``1.0`` without a word. These checks
accept only the type the field means:

* an int field takes Python and numpy integers, never a bool or a float (``3.0`` included);
* a number field takes any real number (ints too), never a bool or a string;
* a bool field takes ``true``/``false`` (and numpy bools), never ``0``/``1`` or ``"no"``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["require_bool", "require_int", "require_list", "require_number", "require_object"]


def require_int(value: Any, where: str) -> int:
    """Return ``value`` as a Python int.

    Args:
        value: The loaded value.
        where: The field, as the message should name it (e.g. ``"block: kernel"``).

    Raises:
        ValueError: ``"<where> must be an int, got <value>"`` for anything but an integer.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{where} must be an int, got {value!r}")
    return int(value)


def require_number(value: Any, where: str) -> float:
    """Return ``value`` as a Python float (ints accepted).

    Raises:
        ValueError: ``"<where> must be a number, got <value>"`` for a bool, string, None, ...
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where} must be a number, got {value!r}")
    return float(value)


def require_bool(value: Any, where: str) -> bool:
    """Return ``value`` as a Python bool.

    Raises:
        ValueError: ``"<where> must be a bool, got <value>"`` for anything but true/false.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where} must be a bool, got {value!r}")
    return bool(value)


def require_object(value: Any, where: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object (a dict).

    Raises:
        ValueError: ``"<where> must be a JSON object, got <type>"``.
    """
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object, got {_describe(value)}")
    return value


def require_list(value: Any, where: str) -> list[Any]:
    """Return ``value`` as a list if it is a JSON array (a list or tuple).

    Raises:
        ValueError: ``"<where> must be a list, got <value>"``.
    """
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{where} must be a list, got {_describe(value)}")
    return list(value)


def _describe(value: Any) -> str:
    if value is None or isinstance(value, (bool, numbers.Number)):
        return repr(value)
    return type(value).__name__
