"""EvaluationCache: results kept by (weights, settings), surviving a kill mid-write."""

from __future__ import annotations

import json

import pytest

from scalenet.supernet import EvaluationCache


def _result(top1: float) -> dict[str, object]:
    return {"top1": top1, "flops": 10, "predictions": [1, 0], "labels": [1, 1]}


def test_key_follows_the_weights_and_the_settings(tmp_path) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights")
    key = EvaluationCache.key(weights, {"seed": 0, "images": 40})
    assert key == EvaluationCache.key(weights, {"images": 40, "seed": 0})  # order is not content
    assert key != EvaluationCache.key(weights, {"seed": 1, "images": 40})
    weights.write_bytes(b"retrained")
    assert key != EvaluationCache.key(weights, {"seed": 0, "images": 40})


def test_added_results_come_back_from_the_file(tmp_path) -> None:
    file = tmp_path / "out" / "cache.jsonl"
    cache = EvaluationCache(file)
    assert len(cache) == 0 and "a" not in cache
    cache.add("a", _result(0.5))
    cache.add("b", _result(0.75))
    again = EvaluationCache(file)
    assert len(again) == 2 and again["b"] == _result(0.75)
    record = json.loads(file.read_text().splitlines()[0])
    assert record == {"key": "a", "metrics": {"flops": 10, "top1": 0.5}, "predictions": [1, 0],
                      "labels": [1, 1]}  # fmt: skip
    again["a"]["top1"] = 0.0  # a copy: the cache keeps its own
    assert again["a"]["top1"] == 0.5


def test_torn_and_old_records_are_ignored(tmp_path) -> None:
    file = tmp_path / "cache.jsonl"
    EvaluationCache(file).add("kept", _result(0.5))
    with file.open("a") as stream:
        stream.write(json.dumps({"key": "old", "metrics": {"top1": 0.1}}) + "\n")  # no predictions
        stream.write(json.dumps({"key": "bad", "predictions": [], "labels": []}) + "\n")
        stream.write('[1, 2]\n{"key": "torn", "metr')  # killed while writing
    cache = EvaluationCache(file)
    assert len(cache) == 1 and "kept" in cache and "old" not in cache and "torn" not in cache


def test_a_result_without_predictions_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="needs predictions and labels"):
        EvaluationCache(tmp_path / "cache.jsonl").add("a", {"top1": 0.5})


def test_evaluate_computes_once_and_then_reuses(tmp_path) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights")
    calls: list[int] = []

    def compute() -> dict[str, object]:
        calls.append(1)
        return _result(0.5)

    cache = EvaluationCache(tmp_path / "cache.jsonl")
    assert cache.evaluate(weights, {"seed": 0}, compute) == (_result(0.5), False)
    assert cache.evaluate(weights, {"seed": 0}, compute) == (_result(0.5), True)
    again = EvaluationCache(tmp_path / "cache.jsonl")  # after a restart: from the file
    assert again.evaluate(weights, {"seed": 0}, compute) == (_result(0.5), True)
    assert len(calls) == 1
    assert again.evaluate(weights, {"seed": 1}, compute) == (_result(0.5), False)  # new settings
    assert len(calls) == 2


def test_evaluate_refuses_a_result_without_predictions(tmp_path) -> None:
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights")
    cache = EvaluationCache(tmp_path / "cache.jsonl")
    with pytest.raises(ValueError, match="needs predictions and labels"):
        cache.evaluate(weights, {}, lambda: {"top1": 0.5})
    assert len(cache) == 0 and not (tmp_path / "cache.jsonl").exists()
