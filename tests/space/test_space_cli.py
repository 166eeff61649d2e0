import json
import subprocess
import sys

import pytest

from scalenet.space import get_arch
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


def test_show_json_layer_table(capsys):
    status, out, _ = run(capsys, "show", "efficientnet_b0", "--json")
    assert status == 0
    data = json.loads(out)
    assert (data["flops"], data["params"], data["resolution"]) == (385_814_752, 5_288_548, 224)
    assert data["path"] == get_arch("efficientnet_b0").encode() + "@d1.0,w1.0,r1.0"
    layers = data["layers"]
    assert [layer["kind"] for layer in layers] == ["conv"] + ["mbconv"] * 16 + ["conv", "linear"]
    assert sum(layer["flops"] for layer in layers) == data["flops"]
    assert sum(layer["params"] for layer in layers) == data["params"]
    assert [layer["out_chs"] for layer in layers if layer["kind"] == "mbconv"] == [
        16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320,
    ]  # fmt: skip
    # stem: 112^2 * 3 * 9 * 32 MACs; 3*9*32 weights + BN's 2*32.
    assert layers[0] == {
        "name": "stem", "kind": "conv", "in_chs": 3, "mid_chs": 32, "out_chs": 32, "kernel": 3,
        "stride": 2, "expand": 1, "se_chs": 0, "in_size": 224, "out_size": 112,
        "residual": False, "flops": 10_838_016, "params": 928,
    }  # fmt: skip
    # stage 1 (e = 1, SE to 8): depthwise 112^2*32*9 + SE 2*32*8 + project 112^2*32*16.
    assert layers[1]["name"] == "stage1.block1" and layers[1]["flops"] == 10_035_712
    assert layers[-1] == {
        "name": "classifier", "kind": "linear", "in_chs": 1280, "mid_chs": 1000,
        "out_chs": 1000, "kernel": 1, "stride": 1, "expand": 1, "se_chs": 0, "in_size": 1,
        "out_size": 1, "residual": False, "flops": 1_280_000, "params": 1_281_000,
    }  # fmt: skip


def test_size_text(capsys):
    status, out, _ = run(capsys, "size")
    assert status == 0
    assert out.splitlines() == [
        "base models         426,378,698,287,407,590,400,000 (4.264e+23)",
        "scaling strategies  271 (per scaling stage: 1, 48, 75, 147)",
        "total               115,548,627,235,887,456,998,400,000 (1.155e+26)",
    ]


def test_budgets_text_names_each_line_once(capsys):
    status, out, _ = run(capsys, "budgets", "--space", "fmnist")
    assert status == 0
    assert out.splitlines() == [
        "space       fmnist",
        "mean_flops  3,525,435 (mean over 100,000 base models, seed 0)",
        "f0          4,000,000 (mean_flops rounded to a multiple of 1,000,000)",
        "budgets     f_j = 2^j * f0 +- tolerance * 2^j:",
        "  j = 0     4,000,000 +- 500,000",
        "  j = 1     8,000,000 +- 1,000,000",
        "  j = 2     16,000,000 +- 2,000,000",
        "  j = 3     32,000,000 +- 4,000,000",
    ]


def test_flops_official_convention(capsys):
    # Table 4's ScaleNet-S3: 2.76 G; the default (torch) convention counts 3.03 G.
    argv = ["flops", "scalenet_s0", "-d", "1.48", "-w", "1.4", "-r", "1.58", "--json"]
    status, out, _ = run(capsys, *argv, "--convention", "official")
    official = json.loads(out)
    assert status == 0 and official["convention"] == "official"
    assert official["flops"] == 2_766_329_301 and official["resolution"] == 354
    status, out, _ = run(capsys, *argv)
    default = json.loads(out)
    assert default["convention"] == "torch" and default["flops"] == 3_033_606_961
    assert default["params"] == official["params"]
    status, out, _ = run(capsys, *argv[:-1], "--convention", "official")
    assert "flops       2,766,329,301 (2766.33 M MACs, official convention)" in out
    status, out, _ = run(capsys, "show", "scalenet_s0", "--convention", "official")
    assert status == 0 and "M MACs (official convention)," in out.splitlines()[-1]


def test_budgets_explicit_list(capsys):
    status, out, _ = run(
        capsys, "budgets", "--explicit", "350M", "0.8G", "1500000000", "3G", "6G", "10G"
    )
    assert status == 0
    assert out.splitlines()[2:] == [
        "f0          350,000,000 (explicit)",
        "budgets     explicit f_j +- tolerance * f_j / f0:",
        "  j = 0     350,000,000 +- 25,000,000",
        "  j = 1     800,000,000 +- 57,142,857",
        "  j = 2     1,500,000,000 +- 107,142,857",
        "  j = 3     3,000,000,000 +- 214,285,714",
        "  j = 4     6,000,000,000 +- 428,571,428  (beyond M: generalized)",
        "  j = 5     10,000,000,000 +- 714,285,714  (beyond M: generalized)",
    ]
    status, out, _ = run(capsys, "budgets", "--explicit", "350M", "800M", "1.5G", "3G", "--json")
    data = json.loads(out)
    assert data["explicit"] == [350_000_000, 800_000_000, 1_500_000_000, 3_000_000_000]
    assert data["f0"] == 350_000_000 and "convention" not in data


def test_flops_accepts_coefficients_outside_table2(capsys):
    # Generalized strategies extrapolate beyond the grids (Table 3's S5: r = 2.378).
    status, out, _ = run(
        capsys, "flops", "scalenet_s0", "-d", "1.848", "-w", "1.688", "-r", "2.378", "--json"
    )
    assert status == 0 and json.loads(out)["resolution"] == 533
    status, out, _ = run(capsys, "flops", "scalenet_s0", "-d", "0.5", "-r", "16", "--json")
    assert status == 0 and json.loads(out)["resolution"] == 3584


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
        (
            ["flops", "k3e1/k3e6/k3e6/k3e6/k3e6/k3e6/k3e6*99999999999"],
            "arch stage 7: block: repeat count 99999999999 in 'k3e6*99999999999' not in 1..64",
        ),
        (["flops", "c999:k3e1/k3e6/k3e6/k3e6/k3e6/k3e6/k3e6"], "stage 1: out_chs 999 not in {16}"),
        (["flops", "efficientnet_b0", "-d", "17"], "scaling: depth 17 not in (0, 16]"),
        (["flops", "k3e1/k3e6/k3e6/k3e6/k3e6/k3e6/k3e6@d1,w1e6,r1"], "scaling: width 1e+06 not in (0, 16]"),
        (["show", "efficientnet_b0", "-r", "1e300"], "scaling: resolution 1e+300 not in (0, 16]"),
        (["flops", "efficientnet_b0", "-r", "inf"], "argument --resolution/-r: must be a finite number, got inf"),
        (["flops", "efficientnet_b0", "-w", "nan"], "argument --width/-w: must be > 0, got nan"),
        (["flops", "efficientnet_b0", "-d", "x"], "argument --depth/-d: 'x' is not a number"),
        (["flops", "scalenet_s0", "--convention", "ceil"], "argument --convention: invalid choice: 'ceil' (choose from 'torch', 'official')"),
        (["budgets", "--explicit", "350M", "300M", "1G", "2G"], "explicit must increase, got 350,000,000 then 300,000,000 at [0], [1]"),
        (["budgets", "--explicit", "350M", "800M"], "explicit lists 2 budget(s), scaling stages 0..3 need at least 4"),
        (["budgets", "--explicit", "35x"], "argument --explicit: '35x' is not a FLOPs count (an integer, or e.g. 350M, 1.5G)"),
        (["budgets", "--explicit", "0.5"], "argument --explicit: must be a positive whole number of FLOPs, got 0.5"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(capsys, argv, message):
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse usage errors
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


_ARCH_JSON_ERRORS = [
    ('{"stages": 3}', "arch: stages must be a list, got 3"),
    ('{"stages": [{"blocks": null}]}', "arch stage 1: stage: blocks must be a list, got None"),
    ('{"blocks": null}', "path: JSON needs a 'base' (and 'scaling') or a 'path' key"),
    ('{"base": {"blocks": null}}', "arch: JSON is missing key(s) stages"),
    ('{"stages": [{"blocks": [{"kernel": 3.7, "expand": 6.9, "se": "no"}]}]}',
     "arch stage 1: block: kernel must be an int, got 3.7"),
    ('{"stages": [{"blocks": [{"kernel": 3, "expand": 6, "se": "no"}]}]}',
     "arch stage 1: block: se must be a bool, got 'no'"),
    ('{"path": "k3e1/k3e6/k3e6/k3e6/k3e6/k3e6/k3e6*65"}', "repeat count 65 in 'k3e6*65' not in 1..64"),
    ('{"path": 7}', "path: 'path' must be a path string, got 7"),
    ('{"base": {"stages": [{"blocks": [{"kernel": 3, "expand": 1, "se": true}]}]}, '
     '"scaling": {"depth": true, "width": 1, "resolution": 1}}', "scaling: depth must be a number, got True"),
    ('{"base": {"stages": [{"blocks": [{"kernel": 3, "expand": 1, "se": true}]}]}, '
     '"scaling": {"depth": "a", "width": 1, "resolution": 1}}', "scaling: depth must be a number, got 'a'"),
    ("[1, 2]", "expected a JSON object"),
    ("{", "not valid JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), _ARCH_JSON_ERRORS)
def test_bad_arch_json_is_one_line(capsys, tmp_path, text, message):
    file = tmp_path / "arch.json"
    file.write_text(text)
    status, out, err = run(capsys, "flops", str(file))
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith("scalenet-space flops: error: ")


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
