from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scalenet.scaling.cli import main

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_json_with_projection(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "fit",
        "--strategies",
        "table3",
        "--function",
        "linear",
        "--stages",
        "5",
        "--base",
        "scalenet_s0",
        "--f0",
        "300000000",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["fit"]["depth"]["params"]["a0"] == pytest.approx(0.16)
    assert [p["stage"] for p in data["projections"]] == [4, 5]
    for proj in data["projections"]:
        assert abs(proj["rel_error"]) <= 0.01
        assert proj["flops_before"] > 0 and proj["target_flops"] == 2 ** proj["stage"] * 300_000_000
    assert data["loso"]["stages"] == [1, 2, 3]


def test_fit_text_and_all_functions(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "fit", "--strategies", str(DATA / "search_table3_fmnist.json"), "--stages", "5",
        "--space", "fmnist", "--f0", "4000000", "--project", "r",
    )  # fmt: skip
    assert code == 0
    assert "function  geometric" in out and "S5  fitted" in out and "projected" in out
    code, out, _ = run(
        capsys, "fit", "--strategies", "table3", "--function", "all", "--stages", "5"
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[1].startswith("geometric") and len(lines) == 6
    plot = tmp_path / "fit.png"
    code, _, _ = run(
        capsys, "fit", "--strategies", "table3", "--stages", "4", "--project", "none",
        "--plot", str(plot),
    )  # fmt: skip
    assert code == 0 and plot.read_bytes()[:4] == b"\x89PNG"


def test_family_writes_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(
        capsys,
        "family",
        "--strategies",
        "table3",
        "--stages",
        "5",
        "--f0",
        "350000000",
        "--out",
        str(tmp_path / "fam"),
        "--plot",
        str(tmp_path / "fam" / "fit.png"),
    )
    assert code == 0, err
    assert "| S5 | generalized |" in out
    assert (tmp_path / "fam" / "S5.json").is_file() and (tmp_path / "fam" / "fit.png").is_file()


def test_compound_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "compound", "--base", "efficientnet_b0", "--phi", "0", "1", "--json")
    assert code == 0
    models = json.loads(out)["models"]
    assert models[0]["flops"] == 385_814_752 and models[1]["scaling"]["depth"] == pytest.approx(1.2)
    code, out, _ = run(
        capsys,
        "compound",
        "--base",
        "scalenet_s0",
        "--stages",
        "2",
        "--f0",
        "300000000",
        "--out",
        str(tmp_path / "c"),
    )
    assert code == 0 and (tmp_path / "c" / "S2.json").is_file()
    code, out, _ = run(capsys, "compound", "--count-grid", "--json")
    assert json.loads(out) == {"cases": 10286, "cases_float64": 10285}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '[{"stage": 1, "depth": 1.1, "width": 1.1, "resolution": 1.1},'
            ' {"stage": 3, "depth": 1.3, "width": 1.3, "resolution": 1.3}]',
            "stage 2 is missing",
        ),
        (
            '[{"stage": 2, "depth": 1.1, "width": 1.1, "resolution": 1.1},'
            ' {"stage": 1, "depth": 1.3, "width": 1.3, "resolution": 1.3}]',
            "stages must increase",
        ),
        (
            '[{"stage": 1, "depth": -1.1, "width": 1.1, "resolution": 1.1}]',
            "depth must be a finite number > 0",
        ),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_strategies_file_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    file = tmp_path / "s.json"
    file.write_text(content)
    code, out, err = run(capsys, "fit", "--strategies", str(file), "--stages", "4")
    assert code == 2 and out == ""
    assert (
        err.count("\n") == 1 and message in err and err.startswith("scalenet-scaling fit: error:")
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "--strategies", "nope.json", "--stages", "4"],
        ["fit", "--strategies", "table3", "--stages", "2"],
        ["fit", "--strategies", "table3", "--stages", "4", "--base", "nonsense"],
        [
            "family",
            "--strategies",
            str(DATA / "search_table3_fmnist.json"),
            "--stages",
            "4",
            "--space",
            "imagenet",
            "--budgets",
            str(DATA / "search_table3_fmnist.json"),
        ],
        ["compound", "--phi", "1"],
        ["compound", "--base", "scalenet_s0"],
    ],
)
def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "--strategies", "table3", "--stages", "4", "--function", "cubic"],
        ["fit", "--strategies", "table3"],
        ["fit", "--strategies", "table3", "--stages", "0"],
        ["compound", "--base", "scalenet_s0", "--phi", "x"],
    ],
)
def test_usage_errors_exit_2_in_one_line(argv: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scalenet.scaling.cli", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_console_script_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scalenet.scaling.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "fit" in proc.stdout and "compound" in proc.stdout


# -- space and budgets of a search result --------------------------------------------------

RESULT = DATA / "search_result_fmnist.json"  # a search result.json: space fmnist, f0 = 4 M
FMNIST_BASE = "k7e1/k3e6se-k5e6se/k5e3se-k3e6se-k5e3/k3e6se/k7e3-k7e6/k7e6se-k7e6-k3e3se/k3e3"


def test_fit_uses_the_space_and_budgets_of_a_search_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "fit", "--strategies", str(RESULT), "--stages", "5", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["space"] == "fmnist"
    assert [(p["stage"], p["target_flops"]) for p in data["projections"]] == [
        (4, 64_000_000),
        (5, 128_000_000),
    ]
    # the same as naming them explicitly
    code, explicit, _ = run(
        capsys, "fit", "--strategies", str(RESULT), "--stages", "5", "--space", "fmnist",
        "--f0", "4000000", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(explicit) == data
    # fmnist-sized inputs (32 px), not 224 px at f0 = 300 M
    assert all(p["resolution_after"] < 100 for p in data["projections"])
    # an explicit f0 still wins over the result's budgets
    code, out, _ = run(
        capsys, "fit", "--strategies", str(RESULT), "--stages", "4", "--f0", "5000000", "--json"
    )
    assert code == 0 and json.loads(out)["projections"][0]["target_flops"] == 16 * 5_000_000


def test_family_uses_the_space_of_a_search_result(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys, "family", "--strategies", str(RESULT), "--stages", "5", "--out", str(tmp_path)
    )
    assert code == 0, err
    assert out.startswith("# Model family on `fmnist`")
    family = json.loads((tmp_path / "family.json").read_text())
    assert (family["space"], family["f0"], family["base"]) == ("fmnist", 4_000_000, FMNIST_BASE)
    assert [m["budget"] for m in family["members"]] == [4_000_000 * 2**j for j in range(6)]
    assert family["members"][3]["flops"] == 34_933_182


@pytest.mark.parametrize("command", ["fit", "family"])
def test_space_other_than_the_search_results_is_refused(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = run(
        capsys, command, "--strategies", str(RESULT), "--stages", "4", "--space", "imagenet"
    )
    assert code == 2 and out == ""
    assert err == (
        f"scalenet-scaling {command}: error: strategies {RESULT} were searched on space "
        "'fmnist', not 'imagenet' (--space imagenet); pass --space fmnist or leave --space out\n"
    )


def test_base_of_the_strategies_is_validated_against_the_space(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Table 3's base (ScaleNet-S0) has 4 blocks in stage 3; fmnist allows 1..3
    code, out, err = run(
        capsys, "fit", "--strategies", "table3", "--stages", "4", "--space", "fmnist"
    )
    assert code == 2 and out == ""
    assert err == (
        "scalenet-scaling fit: error: strategies table3: base model not in space 'fmnist': "
        "stage 3: 4 blocks not in 1..3; pass --base ARCH or the space it was searched on\n"
    )
    # a base of the space given with --base replaces it
    code, out, err = run(
        capsys, "fit", "--strategies", "table3", "--stages", "4", "--space", "fmnist",
        "--base", FMNIST_BASE, "--f0", "4000000", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["projections"][0]["target_flops"] == 64_000_000
    # a strategies file with a base out of its space (no space key: the default imagenet)
    file = tmp_path / "s.json"
    file.write_text(
        json.dumps(
            {
                "base": "k3e1/k3e6*5/k3e6/k3e6/k3e6/k3e6/k3e6",
                "strategies": [{"stage": 1, "depth": 1.1, "width": 1.1, "resolution": 1.1}],
            }
        )
    )
    code, _, err = run(capsys, "family", "--strategies", str(file), "--stages", "2")
    assert code == 2 and err.count("\n") == 1
    assert "base model not in space 'imagenet': stage 2: 5 blocks not in 1..4" in err


def test_compound_rejects_negative_phi_and_budgets_below_the_base(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["compound", "--base", "scalenet_s0", "--phi", "0", "-1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "scalenet-scaling compound: error: argument --phi: phi must be a finite number >= 0, "
        "got -1 (see --help)\n"
    )
    code, out, err = run(capsys, "compound", "--base", "scalenet_s0", "--stages", "3", "--f0", "1")
    assert code == 2 and out == ""
    assert err == (
        "scalenet-scaling compound: error: compound family: f_1 = 2 x f0 = 2 FLOPs is below the "
        "base model's 352,691,328 FLOPs (phi would be < 0); use a larger f0 or a smaller base "
        "model\n"
    )
