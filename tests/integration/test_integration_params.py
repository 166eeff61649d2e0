"""params.yaml and the shipped full-scale configs: checked as a whole, typos named at once."""

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "pipelines"))

import _common  # noqa: E402

PARAM_FILES = [ROOT / "params.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]


def check(tmp_path, data, capsys):
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SystemExit) as raised:
        _common.check_params(str(file))
    assert raised.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("file", PARAM_FILES, ids=lambda file: file.name)
def test_shipped_params_files_pass_the_check(file):
    data = _common.check_params(str(file))
    assert set(_common.SECTIONS) <= set(data)


def test_imagenet_config_has_the_paper_settings():
    data = _common.check_params(str(ROOT / "configs/imagenet.yaml"))
    processes = int(re.search(r"--nproc_per_node=(\d+)", data["launcher"]).group(1))
    assert data["space"] == "imagenet" and data["loader"] == "ffcv"
    assert data["train_supernet"]["iterations"] == 750_000
    assert data["train_supernet"]["batch_size"] * processes == 1024
    search = data["search"]
    assert (search["population"], search["generations"], search["iterations"]) == (50, 40, 8)
    assert search["initial_bases"] == 20
    assert (search["objective"], search["early_stop"], search["carry_base"]) == (
        "mean",
        False,
        False,
    )
    assert data["rank"]["paths"] == 6000
    retrain = data["retrain"]
    assert retrain["epochs"] == 300 and retrain["batch_size"] * processes == 1024
    assert (retrain["lr_per_1024"], retrain["warmup_epochs"], retrain["decay_epochs"]) == (
        0.08,
        3,
        2.4,
    )
    assert retrain["randaugment"] is True and retrain["ema_decay"] == 0.9999
    assert data["baselines"]["compound_base"] == "efficientnet_b0"


@pytest.mark.parametrize("section", sorted(_common.SECTIONS))
def test_a_typo_in_any_section_names_the_key(tmp_path, capsys, section):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    key = sorted(data[section])[0]
    data[section][key + "x"] = data[section].pop(key)
    message = check(tmp_path, data, capsys)
    assert f"unknown key(s) {section}.{key}x" in message
    assert message.count("\n") == 1  # one line, no traceback


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("train_supernet", "iterations", "many", "train_supernet.iterations must be int"),
        ("retrain", "randaugment", 1, "retrain.randaugment must be bool"),
        ("retrain", "epochs", True, "retrain.epochs must be int or float"),
        ("evaluate", "test_images", 1.5, "evaluate.test_images must be int or null"),
        ("generalize", "project", "rws", "generalize.project 'rws' not in {rw, r, all, none}"),
        ("prepare", "dataset", "cifar", "prepare.dataset 'cifar' not in {fmnist, imagefolder}"),
        ("retrain", "train_images", -5, "retrain.train_images must be >= 1, got -5"),
        ("retrain", "decay_rate", 0, "retrain.decay_rate must be >= 1e-09, got 0"),
        ("search", "population", 1, "search.population must be >= 2, got 1"),
        ("search", "objective", "sum", "search.objective 'sum' not in {mean, per_stage}"),
        ("search", "early_stop", "no", "search.early_stop must be bool"),
        ("retrain", "stages", [0, 9], "retrain.stages must list scaling stages 0..generalize"),
        ("retrain", "stages", [], "retrain.stages must list scaling stages 0..generalize"),
        ("train_supernet", "processes", 0, "train_supernet.processes must be >= 1, got 0"),
        ("retrain", "processes", 2.0, "retrain.processes must be int, got 2.0"),
        ("train_supernet", "channels_last", "yes", "train_supernet.channels_last must be bool"),
        ("train_supernet", "eval_threads", -1, "train_supernet.eval_threads must be >= 0, got -1"),
    ],
)
def test_bad_values_name_the_key(tmp_path, capsys, section, key, value, expected):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data[section][key] = value
    assert expected in check(tmp_path, data, capsys)


def test_top_level_typos_and_missing_sections(tmp_path, capsys):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert "unknown top-level key(s) lodaer" in check(tmp_path, {**data, "lodaer": "ffcv"}, capsys)
    assert "loader 'disk' not in {memory, ffcv}" in check(
        tmp_path, {**data, "loader": "disk"}, capsys
    )
    partial = {key: value for key, value in data.items() if key != "retrain"}
    assert "section 'retrain' is missing" in check(tmp_path, partial, capsys)
    assert "not valid YAML" in check_text(tmp_path, "space: [fmnist\n", capsys)


def check_text(tmp_path, text, capsys):
    file = tmp_path / "params.yaml"
    file.write_text(text)
    with pytest.raises(SystemExit):
        _common.check_params(str(file))
    return capsys.readouterr().err


def test_a_typo_in_a_late_section_fails_the_first_stage(project):
    """`dvc repro` stops at its first stage, not hours later at the stage that reads the key."""
    params = yaml.safe_load((project.root / "params.yaml").read_text())
    params["evaluate"]["tset_images"] = params["evaluate"].pop("test_images")
    (project.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = project.dvc("repro", "budgets", check=False)
    assert result.returncode != 0
    assert "unknown key(s) evaluate.tset_images" in result.stderr + result.stdout
    assert not (project.root / "outputs/budgets.json").exists()


def test_an_unknown_allocator_fails_the_torch_stage_in_one_line(tmp_path):
    import os
    import subprocess

    env = {**os.environ, "SCALENET_ALLOCATOR": "jemalloc"}
    env.pop("SCALENET_RUNTIME", None)
    result = subprocess.run(
        [sys.executable, "pipelines/train_supernet.py", "--params", "params.yaml",
         "--sampler", "hss", "--out", str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "train_supernet: error: SCALENET_ALLOCATOR='jemalloc' not in {tcmalloc, system}"
    )


def test_imagenet_config_uses_the_paper_budgets():
    data = _common.check_params(str(ROOT / "configs/imagenet.yaml"))
    assert data["budgets"]["explicit"] == [
        350_000_000, 800_000_000, 1_500_000_000, 3_000_000_000, 6_000_000_000, 10_000_000_000,
    ]  # fmt: skip


def test_budgets_explicit_is_optional_and_defaults_to_the_doubling_rule(tmp_path):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert "explicit" not in data["budgets"]
    assert _common.load_params(str(ROOT / "params.yaml"), "budgets")["explicit"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("350M", "budgets.explicit must be list or null, got '350M'"),
        ([], "budgets.explicit must list increasing positive FLOPs counts (ints)"),
        ([4_000_000, 3_000_000], "budgets.explicit must list increasing positive FLOPs counts"),
        ([4e6, 8e6], "budgets.explicit must list increasing positive FLOPs counts"),
        ([0, 8], "budgets.explicit must list increasing positive FLOPs counts"),
    ],
)
def test_bad_explicit_budgets_name_the_key(tmp_path, capsys, value, expected):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["budgets"]["explicit"] = value
    assert expected in check(tmp_path, data, capsys)


def test_budgets_stage_writes_explicit_budgets(tmp_path):
    import subprocess

    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["budgets"]["explicit"] = [5_000_000, 9_000_000, 17_000_000, 30_000_000, 60_000_000]
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "budgets.json"
    script = ROOT / "pipelines" / "budgets.py"
    command = [sys.executable, str(script), "--params", str(params), "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, cwd=tmp_path)
    written = yaml.safe_load(out.read_text())
    assert written["f0"] == 5_000_000 and written["explicit"][-1] == 60_000_000
    assert written["budgets"] == {"0": 5_000_000, "1": 9_000_000, "2": 17_000_000, "3": 30_000_000}
    data["budgets"]["explicit"] = [5_000_000, 9_000_000]  # fmnist has M = 3: too few
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert "explicit lists 2 budget(s), scaling stages 0..3 need at least 4" in result.stderr


def test_the_run_seed_shifts_every_section_seed(tmp_path):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["seed"] = 2
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    for section in ("prepare", "budgets", "train_supernet", "search", "rank", "retrain"):
        written = data[section]["seed"]
        assert _common.load_params(str(file), section)["seed"] == written + 2000
    baselines = _common.load_params(str(file), "baselines")
    assert baselines["random_seed"] == data["baselines"]["random_seed"] + 2000
    # seed 0 (and no seed key at all) leaves the seeds as written
    del data["seed"]
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    assert _common.load_params(str(file), "retrain")["seed"] == data["retrain"]["seed"]


@pytest.mark.parametrize("value", [-1, 1000, 1.5, "one", True])
def test_a_bad_run_seed_names_the_key(tmp_path, capsys, value):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["seed"] = value
    err = check(tmp_path, data, capsys)
    assert "seed (the run's seed) must be an int in 0..999" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"paths": 61}, "standalone.paths must be in 2..rank.paths = 60 (a subset of the"),
        ({"paths": 1}, "standalone.paths must be >= 2, got 1"),
        ({"train_images": 0}, "standalone.train_images must be >= 1, got 0"),
        ({"epochs": 0}, "standalone.epochs must be >= 1e-09, got 0"),
    ],
)
def test_standalone_bad_counts_name_the_key(tmp_path, capsys, change, message):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["standalone"].update(change)
    assert message in check(tmp_path, data, capsys)


def test_the_schema_value_sets_are_the_packages_own() -> None:
    import _params

    from scalenet.scaling.functions import FUNCTIONS
    from scalenet.scaling.projection import PROJECT_MODES
    from scalenet.search.nsga import OBJECTIVES
    from scalenet.supernet.dynamic.model import EVAL_SIDES, WIDTH_MODES

    def allowed(section: str, key: str) -> set[str]:
        return set(_params.choices(_params.SECTIONS[section], key) or ())

    assert allowed("train_supernet", "width_mode") == set(WIDTH_MODES)
    assert allowed("train_supernet", "eval_side") == set(EVAL_SIDES)
    assert allowed("generalize", "function") == set(FUNCTIONS)
    assert allowed("generalize", "project") == set(PROJECT_MODES)
    assert allowed("search", "objective") == set(OBJECTIVES)


def test_every_section_model_is_strict_and_closed() -> None:
    import _params

    for name, model in _params.SECTIONS.items():
        assert model.model_config.get("extra") == "forbid", name
        assert model.model_config.get("strict") is True, name
    # the keys an older params file may leave out, with the value they then take
    assert _common.OPTIONAL == {
        "budgets.explicit": None,
        "train_supernet.tensorboard": False,
        "retrain.tensorboard": False,
    }
    assert _params.type_name(_params.Retrain.model_fields["epochs"].annotation) == "int or float"


def test_config_from_takes_the_section_keys_that_are_fields() -> None:
    import dataclasses

    import _params

    from scalenet.search import MCEAConfig
    from scalenet.supernet import TrainConfig
    from scalenet.supernet.standalone.retrain import RetrainConfig

    retrain = _common.load_params(str(ROOT / "params.yaml"), "retrain")
    config = _params.config_from(RetrainConfig, retrain, batch_size=7, progress=False)
    # Every field the section names is taken (ints become floats for float fields), the rest
    # keep their defaults; the stage's own keys (threads, stages...) are left alone.
    taken = {f.name for f in dataclasses.fields(RetrainConfig)} & set(retrain) - {"batch_size"}
    assert taken == {
        "epochs", "lr_per_1024", "warmup_epochs", "decay_epochs", "decay_rate", "weight_decay",
        "ema_decay", "label_smoothing", "drop_rate", "randaugment", "checkpoint_every", "seed",
        "channels_last",
    }  # fmt: skip
    for name in taken:
        assert getattr(config, name) == retrain[name], name
    assert config.batch_size == 7 and config.progress is False and config.log_every == 10
    assert isinstance(
        _params.config_from(RetrainConfig, {"epochs": 2, "batch_size": 1}).epochs, float
    )
    search = _common.load_params(str(ROOT / "params.yaml"), "search")
    assert _params.config_from(MCEAConfig, search).population == search["population"]
    supernet = _common.load_params(str(ROOT / "params.yaml"), "train_supernet")
    assert _params.config_from(TrainConfig, supernet).iterations == supernet["iterations"]
    with pytest.raises(TypeError, match=r"TrainConfig has no field\(s\) batch"):
        _params.config_from(TrainConfig, supernet, batch=3)
    # Keys that are not fields are not read: the stage's params trace stays exact.
    traced = _common.TracedSection({"iterations": 3, "threads": 2}, "train_supernet")
    _params.config_from(TrainConfig, traced)
    assert traced.read == {"iterations"}


def test_first_mark_only_passes_the_first_mark(tmp_path) -> None:
    record_file = tmp_path / "cost.json"
    record_file.write_text("{}")
    record = _common.CostRecord(record_file)
    view = record.first_mark_only()
    view.mark(True)
    view.mark(False)  # a later training starting fresh: the stage's record is kept
    assert record.resumed is True and record_file.is_file()
    fresh = _common.CostRecord(record_file).first_mark_only()
    fresh.mark(False)
    assert not record_file.exists()
