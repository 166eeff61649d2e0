from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path as FilePath

import pytest

from scalenet.sampling.cli import main, parse_stage_weights
from scalenet.space import Path, compute_budgets, load_space


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def budgets_file(tmp_path_factory: pytest.TempPathFactory) -> FilePath:
    file = tmp_path_factory.mktemp("budgets") / "budgets.json"
    budgets = compute_budgets(load_space("fmnist"), seed=0)
    file.write_text(json.dumps({"space": "fmnist", **budgets.to_json()}))
    return file


def test_sample_prints_k_decodable_paths(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sample", "--sampler", "hss", "--n", "5", "--space", "fmnist")
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 5
    space = load_space("fmnist")
    for line in lines:
        space.validate(Path.decode(line).base)
    again = run(capsys, "sample", "--sampler", "hss", "--n", "5", "--space", "fmnist")[1]
    assert again == out


def test_sample_stage_fit_json(capsys: pytest.CaptureFixture[str], budgets_file: FilePath) -> None:
    code, out, _ = run(
        capsys, "sample", "--sampler", "uniform", "--n", "4", "--space", "fmnist", "--stage", "3",
        "--fit", "--budgets", str(budgets_file), "--json", "--seed", "9",
    )  # fmt: skip
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 4
    for row in rows:
        assert row["scaling_stage"] == 3
        assert abs(row["flops"] - 32_000_000) <= 4_000_000
        assert load_space("fmnist").scaling.grid(3).contains(Path.decode(row["path"]).scaling)


def test_simulate_writes_outputs(
    capsys: pytest.CaptureFixture[str], tmp_path: FilePath, budgets_file: FilePath
) -> None:
    code, out, err = run(
        capsys, "simulate", "--sampler", "both", "--paths", "20000", "--seed", "1",
        "--space", "fmnist", "--out", str(tmp_path), "--budgets", str(budgets_file),
    )  # fmt: skip
    assert code == 0, err
    assert "hss(stage_weights=uniform)" in out and "in no stage's grid" in out
    assert (tmp_path / "distribution.png").stat().st_size > 10_000
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert set(stats["samplers"]) == {"hss", "uniform"}
    assert stats["seed"] == 1 and stats["space"] == "fmnist"


def test_simulate_json_single_sampler_matches_both(
    capsys: pytest.CaptureFixture[str], budgets_file: FilePath
) -> None:
    common = ["--paths", "5000", "--space", "fmnist", "--budgets", str(budgets_file), "--json"]
    code, out, _ = run(capsys, "simulate", "--sampler", "hss", *common)
    assert code == 0
    single = json.loads(out)
    both = json.loads(run(capsys, "simulate", "--sampler", "both", *common)[1])
    assert list(single["samplers"]) == ["hss"]
    assert single["samplers"]["hss"] == both["samplers"]["hss"]


def test_simulate_grid_size_weights(
    capsys: pytest.CaptureFixture[str], budgets_file: FilePath
) -> None:
    code, out, _ = run(
        capsys, "simulate", "--sampler", "hss", "--paths", "20000", "--space", "fmnist",
        "--budgets", str(budgets_file), "--stage-weights", "grid_size", "--json",
    )  # fmt: skip
    assert code == 0
    share = json.loads(out)["samplers"]["hss"]["stage_share"]
    assert share["0"] < 0.01 and share["3"] == pytest.approx(147 / 271, abs=0.02)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--paths", "-1"], "--paths must be >= 1, got -1"),
        (["simulate", "--sampler", "foo"], "argument --sampler: invalid choice: 'foo'"),
        (["sample", "--n", "-3"], "--n must be in 0..1,000,000 (sampled paths are held"),
        # Bounded before anything is allocated (numpy raised MemoryError with a traceback).
        (["sample", "--n", "99999999999"], "--n must be in 0..1,000,000"),
        (["sample", "--n", "1000001"], "got 1,000,001"),
        (["sample", "--stage", "9", "--space", "fmnist"], "scaling_stage 9 not in 0..3"),
        (["sample", "--stage-weights", "0,0,0,0"], "sum to a positive value"),
        (["sample", "--stage-weights", "1,1"], "needs 4 weights"),
        (["sample", "--stage-weights", "paper"], "--stage-weights 'paper' not in"),
        (
            ["sample", "--sampler", "uniform", "--stage-weights", "grid_size"],
            "applies to --sampler hss",
        ),
        (["sample", "--fit"], "--fit needs --stage J"),
        (["sample", "--space", "nope"], "nope"),
        (["simulate", "--budgets", "/no/such.json", "--paths", "10"], "does not exist"),
        (["sample", "--n", "x"], "argument --n: invalid int value"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse usage errors
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_parse_stage_weights() -> None:
    assert parse_stage_weights("grid_size") == "grid_size"
    assert parse_stage_weights("1,2,3,4") == (1.0, 2.0, 3.0, 4.0)


def test_console_script_runs_as_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scalenet.sampling.cli", "sample", "--n", "-1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        "scalenet-sampling sample: error: --n must be in 0..1,000,000 (sampled paths are held "
        "in memory; simulate streams any count), got -1\n"
    )
