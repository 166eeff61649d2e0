"""Evaluators: what the search sees of a trained super-supernet.

An evaluator is any callable ``(BaseArch, Scaling) -> float`` (the top-1 accuracy of the path).
:class:`CachedEvaluator` wraps one: every request is keyed by the path string
(``Path(base, scaling).encode()``), evaluated at most once, and counted (calls to the wrapped
evaluator vs cache hits). Its batch form maps the wrapped evaluator over the distinct misses with
any ``map`` (the builtin, ``multiprocessing.Pool.map``, a distributed map), so the cache stays in
the searching process.

What an evaluator may return: a finite real number (``int``, ``float``, a numpy scalar, anything
``float()`` takes except the cases below). ``None``, strings, bytes and booleans are refused,
and so are NaN and infinities: NaN compares false with everything, so a NaN accuracy would make
the argmax of the scaling step and NSGA-II's dominance silently arbitrary. An evaluator that
cannot score a path must say so with an exception, or return a number on purpose (e.g. chance
accuracy). The refusal is a ``ValueError`` naming the path and the value, raised where the
evaluator runs (also inside a worker process, whose pool re-raises it).
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from scalenet.space import BaseArch, Path, Scaling

__all__ = [
    "BatchEvaluator",
    "CachedEvaluator",
    "Evaluator",
    "MapFn",
    "PathEvaluatorAdapter",
    "as_accuracy",
    "load_evaluator",
    "path_key",
]

MapFn = Callable[[Callable[[Path], float], Sequence[Path]], Iterable[float]]


class Evaluator(Protocol):
    """The evaluator protocol: accuracy of ``base`` scaled by ``scaling``."""

    def __call__(self, base: BaseArch, scaling: Scaling, /) -> float:
        """Return the accuracy of the path (higher is better)."""
        ...


class BatchEvaluator(Protocol):
    """The batch form: accuracies of many paths at once (e.g. on several workers)."""

    def __call__(self, paths: Sequence[Path], /) -> list[float]:
        """Return one accuracy per path, in order."""
        ...


def path_key(base: BaseArch, scaling: Scaling) -> str:
    """The cache key of a path: its string form ``<arch>@<scaling>``."""
    return Path(base, scaling).encode()


def as_accuracy(value: Any, key: str) -> float:
    """``value``, an evaluator's answer for the path ``key``, as a finite float.

    Raises:
        ValueError: For None, a string, bytes, a boolean, anything ``float()`` refuses, NaN and
            infinities, e.g. ``evaluator returned None (NoneType) for path k3e1/...@d1.0,w1.0,r1.0;
            expected a finite number (its accuracy)``.
    """
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        number = math.nan
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    if not math.isfinite(number):
        raise ValueError(
            f"evaluator returned {value!r} ({type(value).__name__}) for path {key}; "
            "expected a finite number (its accuracy)"
        )
    return number


@dataclass(frozen=True)
class _CallOnPath:
    """Picklable ``Path -> float`` adapter of an evaluator (for process pools)."""

    evaluator: Evaluator

    def __call__(self, path: Path) -> float:
        return as_accuracy(self.evaluator(path.base, path.scaling), path.encode())


@dataclass(frozen=True)
class PathEvaluatorAdapter:
    """Turn a ``Path -> float`` callable (e.g. scalenet-supernet's) into an :class:`Evaluator`."""

    path_evaluator: Callable[[Path], float]

    def __call__(self, base: BaseArch, scaling: Scaling) -> float:
        """Evaluate ``Path(base, scaling)`` (its answer checked by :func:`as_accuracy`)."""
        path = Path(base, scaling)
        return as_accuracy(self.path_evaluator(path), path.encode())


def _serial_map(function: Callable[[Path], float], paths: Sequence[Path]) -> Iterator[float]:
    return map(function, paths)


class CachedEvaluator:
    """Cache and count the evaluations of any evaluator.

    Attributes:
        evaluator: The wrapped evaluator.
        cache: Path string -> accuracy, in evaluation order.
        calls: Evaluations of the wrapped evaluator (distinct paths).
        hits: Requests answered from the cache.
    """

    def __init__(self, evaluator: Evaluator, cache: dict[str, float] | None = None) -> None:
        """Wrap ``evaluator``; ``cache`` pre-fills the cache (e.g. from a saved search state)."""
        self.evaluator = evaluator
        self.cache: dict[str, float] = dict(cache or {})
        self.calls = 0
        self.hits = 0

    def __call__(self, base: BaseArch, scaling: Scaling) -> float:
        """Accuracy of one path, from the cache when known."""
        return self.evaluate_batch([Path(base, scaling)])[0]

    def evaluate_batch(self, paths: Sequence[Path], map_fn: MapFn | None = None) -> list[float]:
        """Accuracies of ``paths``; the distinct uncached ones go through ``map_fn``.

        Args:
            paths: The paths to evaluate (duplicates allowed).
            map_fn: ``map``-like callable ``(function, paths) -> accuracies``; serial if None.

        Raises:
            ValueError: If the evaluator returns a value that is not a finite number (naming the
                path and the value; see :func:`as_accuracy`).
        """
        keys = [path.encode() for path in paths]
        misses: dict[str, Path] = {}
        for key, path in zip(keys, paths, strict=True):
            if key in self.cache or key in misses:
                self.hits += 1
            else:
                misses[key] = path
        if misses:
            mapper = map_fn or _serial_map
            values = list(mapper(_CallOnPath(self.evaluator), list(misses.values())))
            if len(values) != len(misses):
                raise ValueError(f"map returned {len(values)} values for {len(misses)} paths")
            for key, value in zip(misses, values, strict=True):
                self.cache[key] = as_accuracy(value, key)  # a custom map may return anything
            self.calls += len(misses)
        return [self.cache[key] for key in keys]


def load_evaluator(spec: str, kwargs: dict[str, Any] | None = None, **inject: Any) -> Evaluator:
    """Build an evaluator from ``'module:callable'`` (a factory or class) and its keyword arguments.

    The named callable is called with ``kwargs``; each keyword of ``inject`` (e.g. ``space``,
    ``budgets``) is added when the callable accepts a parameter of that name and ``kwargs`` does
    not already set it. The result must be callable.

    Args:
        spec: ``'package.module:name'`` (``name`` may be dotted, e.g. ``Class.method``).
        kwargs: Keyword arguments from the search config.
        **inject: Values offered to the factory by name.

    Raises:
        ValueError: If the spec is malformed, the module or attribute is missing, or the result
            is not callable.
    """
    if spec.count(":") != 1:
        raise ValueError(f"evaluator {spec!r}: expected 'module:callable'")
    module_name, attr = spec.split(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"evaluator {spec!r}: cannot import {module_name} ({error})") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"evaluator {spec!r}: {module_name} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"evaluator {spec!r}: {attr} is not callable")
    arguments = dict(kwargs or {})
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    for name, value in inject.items():
        if name in parameters and name not in arguments:
            arguments[name] = value
    try:
        evaluator = target(**arguments)
    except TypeError as error:
        raise ValueError(f"evaluator {spec!r}: bad arguments ({error})") from None
    if not callable(evaluator):
        raise ValueError(f"evaluator {spec!r}: {attr}(...) returned a non-callable")
    return evaluator
