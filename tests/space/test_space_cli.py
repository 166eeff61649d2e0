import json
import subprocess
import sys

import pytest

from scalenet.space.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_flops_preset_json(capsys):
    status, out, _ = run(capsys, "flops", "efficientnet_b0", "--json")
    data = json.loads(out)
    assert status == 0
    assert (data["flops"], data["params"], data["resolution"]) == (385_814_752, 5_288_548, 224)


def test_flops_with_scaling_and_string(capsys):
    status, out, _ = run(capsys, "flops", "k3e1/k3e3/k3e3/k3e3/k3e3/k3e3/k3e3", "-r", "1.5")
    assert status == 0
    assert "resolution  336" in out


def test_flops_from_json_file(capsys, tmp_path):
    from scalenet.space import scalenet_path

    file = tmp_path / "path.json"
    file.write_text(scalenet_path(2).dumps())
    status, out, _ = run(capsys, "flops", str(file), "--json")
    assert status == 0 and json.loads(out)["resolution"] == 304


def test_show_lists_every_layer(capsys):
    status, out, _ = run(capsys, "show", "efficientnet_b0")
    assert status == 0
    assert out.count("mbconv") == 16
    assert "total: 385.81 M MACs, 5.289 M params, 224 px" in out


def test_budgets_and_size(capsys):
    status, out, _ = run(capsys, "budgets", "--space", "fmnist", "--json")
    data = json.loads(out)
    assert status == 0 and data["f0"] == 4_000_000 and data["budgets"]["3"] == 32_000_000
    status, out, _ = run(capsys, "size", "--json")
    data = json.loads(out)
    assert data["scaling_strategies"] == 271 and data["total"] == data["base_models"] * 271


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["flops", "resnet50"], "ARCH 'resnet50' is not a preset"),
        (["flops", "k3e1/k3e6"], "arch has 2 stages"),
        (
            ["flops", "k3e1/k3e6/k9e6/k3e6/k3e6/k3e6/k3e6"],
            "stage 3 block 1: kernel 9 not in {3, 5, 7}",
        ),
        (["flops", "k3e1/k3e6/kxe6/k3e6/k3e6/k3e6/k3e6"], "cannot parse 'kxe6'"),
        (["flops", "missing.json"], "ARCH file missing.json does not exist"),
        (["flops", "efficientnet_b0", "--space", "mars"], "space 'mars' not in"),
        (["budgets", "--samples", "5"], "samples must be >= 100,000"),
    ],
)
def test_bad_input_is_one_line(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_console_script_usage_errors_are_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "scalenet.space.cli", "flops", "efficientnet_b0", "-d", "-1"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--depth/-d: must be > 0" in result.stderr


def test_import_does_not_pull_torch():
    code = "import sys, scalenet.space, scalenet.space.cli; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
