from __future__ import annotations

import math

import numpy as np
import pytest

from scalenet.search import (
    CachedEvaluator,
    PathEvaluatorAdapter,
    as_accuracy,
    load_evaluator,
    path_key,
)
from scalenet.space import BaseArch, Path, Scaling, get_arch

ARCH = BaseArch.decode("k3e1/k3e3/k3e3/k3e3/k3e3/k3e3/k3e3")


class CountingEvaluator:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, base: BaseArch, scaling: Scaling) -> float:
        self.seen.append(path_key(base, scaling))
        return scaling.depth + 0.5 * scaling.width


def test_cache_counts_calls_and_hits() -> None:
    inner = CountingEvaluator()
    cached = CachedEvaluator(inner)
    s1, s2 = Scaling(1.04, 1.0, 1.0), Scaling(1.08, 1.0, 1.0)
    assert cached(ARCH, s1) == pytest.approx(1.54)
    assert cached(ARCH, s1) == pytest.approx(1.54)
    values = cached.evaluate_batch([Path(ARCH, s2), Path(ARCH, s1), Path(ARCH, s2)])
    assert values == pytest.approx([1.58, 1.54, 1.58])
    assert cached.calls == 2 and cached.hits == 3
    assert inner.seen == [Path(ARCH, s1).encode(), Path(ARCH, s2).encode()]
    assert list(cached.cache) == inner.seen


def test_batch_goes_through_the_given_map() -> None:
    used: list[int] = []

    def my_map(function, paths):  # type: ignore[no-untyped-def]
        used.append(len(paths))
        return [function(path) for path in paths]

    cached = CachedEvaluator(CountingEvaluator())
    paths = [Path(ARCH, Scaling(1.0 + i / 100, 1.0, 1.0)) for i in range(5)]
    cached.evaluate_batch(paths + paths[:2], my_map)
    cached.evaluate_batch(paths, my_map)
    assert used == [5]  # duplicates and cached paths never reach the map


def test_prefilled_cache_and_non_finite() -> None:
    key = Path(ARCH, Scaling()).encode()
    cached = CachedEvaluator(lambda b, s: math.nan, cache={key: 0.7})
    assert cached(ARCH, Scaling()) == 0.7 and cached.calls == 0 and cached.hits == 1
    with pytest.raises(ValueError, match="finite"):
        cached(ARCH, Scaling(1.04, 1.04, 1.0))


def test_path_adapter() -> None:
    adapter = PathEvaluatorAdapter(lambda path: len(path.base.stages) / 10)
    assert adapter(get_arch("scalenet_s0"), Scaling()) == pytest.approx(0.7)


def test_load_evaluator_injects_space_and_budgets(space, budgets) -> None:  # type: ignore[no-untyped-def]
    evaluator = load_evaluator(
        "scalenet.search.analytic:make_analytic", {}, space=space, budgets=budgets, other=1
    )
    best, strategies = evaluator.optimum()  # type: ignore[attr-defined]
    assert evaluator(best, strategies[0]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "module:callable"),
        ("not_a_module_xyz:f", "cannot import"),
        ("scalenet.search.analytic:missing", "no attribute"),
        ("scalenet.search.analytic:make_analytic", "bad arguments"),
    ],
)
def test_load_evaluator_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_evaluator(spec, {})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.5, 0.5), (1, 1.0), (np.float32(0.25), 0.25), (np.int64(3), 3.0), (np.array(0.75), 0.75)],
)
def test_numbers_are_accepted(value: object, expected: float) -> None:
    number = as_accuracy(value, "p")
    assert number == expected and type(number) is float


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "None (NoneType)"),
        ("0.5", "'0.5' (str)"),
        (b"1", "b'1' (bytes)"),
        (True, "True (bool)"),
        (math.nan, "nan (float)"),
        (-math.inf, "-inf (float)"),
        ([0.5], "[0.5] (list)"),
    ],
)
def test_non_numbers_name_the_path_and_the_value(value: object, shown: str) -> None:
    key = Path(ARCH, Scaling()).encode()
    with pytest.raises(ValueError) as info:
        CachedEvaluator(lambda b, s: value)(ARCH, Scaling())  # type: ignore[arg-type,return-value]
    assert str(info.value) == (
        f"evaluator returned {shown} for path {key}; expected a finite number (its accuracy)"
    )
    with pytest.raises(ValueError, match="for path k3e1/"):
        PathEvaluatorAdapter(lambda path: value)(ARCH, Scaling())  # type: ignore[arg-type,return-value]
