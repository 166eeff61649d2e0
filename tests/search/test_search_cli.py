from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from scalenet.search.cli import load_config, main

CONFIG = """
space: fmnist
budget_samples: 100000
tolerance: 500000
evaluator: scalenet.search.analytic:make_analytic
P: 50
N: 40
T: 4
K: 6
seed: 3
"""


def test_mcea_cli_finds_the_optimum_and_resumes(tmp_path, capsys, analytic) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "search.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    assert main(["mcea", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "result.json").read_text())
    base, strategies = analytic.optimum()
    assert result["base"] == base.encode()
    assert [(s["depth"], s["width"], s["resolution"]) for s in result["strategies"]] == [
        (s.depth, s.width, s.resolution) for s in strategies
    ]
    assert result["budgets"]["f0"] == 4_000_000
    assert len((out / "log.jsonl").read_text().splitlines()) == len(result["log"])
    assert "fixed point" in capsys.readouterr().out or result["iterations"] == 4
    assert main(["mcea", "--config", str(config), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["base"] == base.encode()


def test_config_shortcuts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.json"
    config.write_text(
        json.dumps({"space": "fmnist", "evaluator": "m:f", "P": 8, "mcea": {"generations": 2}})
    )
    parsed = load_config(config)
    assert (
        parsed.mcea.population == 8 and parsed.mcea.generations == 2 and parsed.mcea.iterations == 8
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("space: fmnist\nevaluator: m:f\npopulation: 3\n", "unknown key(s) population"),
        ("space: fmnist\n", "evaluator must be a string"),
        ("space: fmnist\nevaluator: m:f\nP: 1\n", "population must be an int >= 2"),
        ("space: fmnist\nevaluator: m:f\nevaluator_call: x\n", "evaluator_call 'x' not in"),
        ("space: fmnist\nevaluator: nope_module:f\n", "cannot import nope_module"),
        ("space: fmnist\nevaluator: m:f\nbudgets: /nonexistent.json\n", "budgets file"),
    ],
)
def test_mcea_bad_config_one_line(tmp_path, capsys, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    assert main(["mcea", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_rank_cli_formats(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    flops = rng.permutation(100).astype(float)
    acc = flops / 100 + rng.normal(0, 0.1, 100)
    (tmp_path / "acc.json").write_text(json.dumps(acc.tolist()))
    np.save(tmp_path / "flops.npy", flops)
    (tmp_path / "flops.txt").write_text("\n".join(str(float(v)) for v in flops) + "\n")
    for flops_file in ("flops.npy", "flops.txt"):
        assert (
            main(
                [
                    "rank",
                    "--acc",
                    str(tmp_path / "acc.json"),
                    "--flops",
                    str(tmp_path / flops_file),
                    "--json",
                ]
            )
            == 0
        )
        report = json.loads(capsys.readouterr().out)
        assert report["count"] == 100
        assert report["pearson"] == pytest.approx(stats.pearsonr(acc, flops)[0])
        assert report["kendall"] == pytest.approx(abs(stats.kendalltau(acc, flops)[0]))
    assert (
        main(["rank", "--acc", str(tmp_path / "acc.json"), "--flops", str(tmp_path / "flops.txt")])
        == 0
    )
    assert "kendall" in capsys.readouterr().out


def test_rank_cli_errors(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.txt").write_text("0.5\nabc\n")
    (tmp_path / "b.txt").write_text("1\n2\n")
    assert main(["rank", "--acc", str(tmp_path / "a.txt"), "--flops", str(tmp_path / "b.txt")]) == 2
    assert "line 2: 'abc' is not a number" in capsys.readouterr().err
    (tmp_path / "a.txt").write_text("0.5\n0.6\n0.7\n")
    assert main(["rank", "--acc", str(tmp_path / "a.txt"), "--flops", str(tmp_path / "b.txt")]) == 2
    assert "same length" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["rank", "--acc", "x"])
    assert exit_info.value.code == 2


# -- evaluators returning something else than a number ----------------------------------------

BAD_EVALUATORS = '''
import math


class Answer:
    """An evaluator that answers ``value`` for every path (picklable, for worker processes)."""

    def __init__(self, value):
        self.value = value

    def __call__(self, base, scaling):
        return self.value


def answer(value=None, nan=False):
    return Answer(math.nan if nan else value)
'''

TINY = """
space: fmnist
budget_samples: 100000
tolerance: 500000
T: 1
K: 2
seed: 0
"""


@pytest.fixture
def bad_module(tmp_path, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "scalenet_bad_evaluators.py").write_text(BAD_EVALUATORS)
    monkeypatch.syspath_prepend(str(folder))
    return "scalenet_bad_evaluators:answer"


@pytest.mark.parametrize(
    ("kwargs", "shown", "workers"),
    [
        ("{value: null}", "None (NoneType)", 0),
        ("{value: high}", "'high' (str)", 0),
        ("{value: '0.9'}", "'0.9' (str)", 0),  # a string is refused even when it parses
        ("{value: true}", "True (bool)", 0),
        ("{nan: true}", "nan (float)", 0),  # NaN is refused too (see evaluator.py)
        ("{value: null}", "None (NoneType)", 2),  # raised in a worker, re-raised by the pool
    ],
)
def test_mcea_evaluator_returning_a_non_number_exits_2_in_one_line(
    tmp_path, capsys, bad_module, kwargs: str, shown: str, workers: int
) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "bad.yaml"
    config.write_text(
        f"{TINY}P: 6\nN: 1\nevaluator: {bad_module}\nevaluator_kwargs: {kwargs}\n"
        f"workers: {workers}\n"
    )
    assert main(["mcea", "--config", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    prefix = f"scalenet-search mcea: error: evaluator returned {shown} for path k"
    assert captured.err.startswith(prefix), captured.err
    assert captured.err.endswith("; expected a finite number (its accuracy)\n")
    path = captured.err[len(prefix) - 1 :].split(";")[0]
    assert "@d" in path and ",w" in path and ",r" in path  # the path string, <arch>@<scaling>


# -- worker processes ---------------------------------------------------------------------------


def test_mcea_with_two_workers_matches_the_serial_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = {}
    for workers in (0, 2):
        config = tmp_path / f"w{workers}.yaml"
        config.write_text(
            f"{TINY}evaluator: scalenet.search.analytic:make_analytic\nworkers: {workers}\n"
            "P: 8\nN: 2\n"
        )
        out = tmp_path / f"out{workers}"
        assert main(["mcea", "--config", str(config), "--out", str(out), "--quiet"]) == 0
        results[workers] = (
            json.loads((out / "result.json").read_text()),
            (out / "log.jsonl").read_text(),
        )
    serial, parallel = results[0], results[2]
    assert parallel == serial
    assert serial[0]["evaluations"] > 50  # the map really carried work
