"""The run config is typed once, when composed: every group and the root have a schema, so a bad
key or value is refused in one line before TensorFlow loads and before any store is touched."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from support.compose import ROOT, compose_config, compose_untyped

from cnnlab.config import EnsembleRunConfig, TrainConfig, typed
from cnnlab.config.data import TfdsDataConfig
from cnnlab.config.model import MODEL_SCHEMAS
from cnnlab.config.training import SGDConfig, StepScheduleConfig
from cnnlab.errors import ConfigError

# `python pipelines/<name>.py ARGS` for `-c ENTRY_POINT <name> ARGS`, telling at exit whether
# TensorFlow was imported
ENTRY_POINT = """
import atexit, runpy, sys
atexit.register(lambda: print("tensorflow imported:", "tensorflow" in sys.modules))
sys.argv = [f"pipelines/{sys.argv[1]}.py", *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_entry_point(pipeline: str, *args: str, store: Path, tmp_path: Path):
    """Run `pipelines/<pipeline>.py ARGS` with its own MLflow store and output folder."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            ENTRY_POINT,
            pipeline,
            *args,
            f"tracking.uri=sqlite:///{store}",
            f"hydra.run.dir={tmp_path}/out",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_before_tensorflow(done, line: str, store: Path) -> None:
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(line), done.stderr
    assert "tensorflow imported: False" in done.stdout
    assert not store.exists()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["+foo=1"], "error: foo is not a config key; keys here: augment, data, model, "),
        (["data=folder", "data.path={tmp}/gone"], "error: data.path='{tmp}/gone' does not exist"),
        (["+model.flavour=modern"], "error: model.flavour is not a config key; keys here: "),
        (
            ["model.conv_impl=fast"],
            "error: model.conv_impl='fast' is unknown; available: native, im2col, auto",
        ),
    ],
)
def test_entry_point_refuses_a_bad_config_in_one_line_before_tensorflow(args, line, tmp_path):
    store = tmp_path / "mlflow.db"
    args = [arg.format(tmp=tmp_path) for arg in args]
    done = run_entry_point("train", *args, store=store, tmp_path=tmp_path)
    assert_one_line_before_tensorflow(done, line.format(tmp=tmp_path), store)


@pytest.mark.parametrize(
    ("pipeline", "args", "line"),
    [
        (
            "evaluate",
            ["run=a1b2c3", "test_time=ten_crop"],
            "error: test_time='ten_crop' is invalid: expected one of none, flip",
        ),
        (
            "evaluate",
            ["run=a1b2c3", "most_confused=-1"],
            "error: most_confused=-1 is invalid: expected an integer >= 0",
        ),
        (
            "predict",
            ["run=a1b2c3", "images=a.png", "top_k=0"],
            "error: top_k=0 is invalid: expected an integer >= 1",
        ),
        ("predict", ["run=a1b2c3"], "error: images is required: set images=..."),
    ],
)
def test_evaluate_and_predict_refuse_a_bad_value_in_one_line_before_tensorflow(
    pipeline, args, line, tmp_path
):
    store = tmp_path / "mlflow.db"
    done = run_entry_point(pipeline, *args, store=store, tmp_path=tmp_path)
    assert_one_line_before_tensorflow(done, line, store)


def test_every_group_of_the_training_root_is_its_schema():
    cfg = compose_config("train", "experiment=resnet20_cifar10")
    assert isinstance(cfg, TrainConfig)
    assert isinstance(cfg.model, MODEL_SCHEMAS["resnet20"]) and cfg.model.l2 == 1e-4
    assert isinstance(cfg.data, TfdsDataConfig) and cfg.data.name == "cifar10"
    assert isinstance(cfg.optimizer, SGDConfig) and isinstance(cfg.schedule, StepScheduleConfig)


def test_ensemble_root_is_the_training_root_with_ensemble_added():
    cfg = compose_config("ensemble", "experiment=resnet20_cifar10", "ensemble.members=2")
    trained = compose_config("train", "experiment=resnet20_cifar10")
    assert isinstance(cfg, EnsembleRunConfig) and cfg.ensemble.members == 2
    assert {f.name: getattr(cfg, f.name) for f in dataclasses.fields(TrainConfig)} == vars(trained)


def test_logged_config_read_back_is_the_same_typed_config():
    cfg = compose_config("train", "model=resnet20", "data=synthetic", "trainer.precision=float32")
    logged = OmegaConf.to_yaml(cfg)  # what `tracking.log_config` writes as config.yaml
    assert typed(OmegaConf.create(logged)) == cfg


def test_logged_config_with_an_unknown_key_is_refused_in_one_line():
    values = OmegaConf.to_container(OmegaConf.structured(compose_config("train")))
    values["model"]["flavour"] = "modern"
    with pytest.raises(ConfigError, match=r"^model.flavour is not a config key"):
        typed(values)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=-1", r"^seed=-1 is invalid: expected an integer >= 0$"),
        ("model.l2=-0.1", r"^model.l2=-0.1 is invalid: expected a number >= 0$"),
        ("model.name=resnet9000", r"^model.name='resnet9000' is unknown; available: alexnet"),
        ("model.first_padding=full", r"^model.first_padding='full' is unknown; available: auto"),
    ],
)
def test_run_level_and_model_values_are_checked_when_composing(override, message):
    composed = compose_untyped("train", override)
    with pytest.raises(ConfigError, match=message):
        typed(composed)


def python_files_matching(pattern: str, folder: str) -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for path in (ROOT / folder).rglob("*.py")
        if re.search(pattern, path.read_text())
    }


def test_below_the_entry_points_code_never_sees_a_raw_dictconfig():
    seen = python_files_matching(r"\bDictConfig\b", "src/cnnlab")
    boundary = {p for p in seen if p == "src/cnnlab/cli.py" or p.startswith("src/cnnlab/config/")}
    assert seen == boundary


def test_typed_converts_only_at_the_entry_points_and_for_a_logged_config():
    called = python_files_matching(r"\btyped\(", "src") - {"src/cnnlab/config/__init__.py"}
    assert called == {"src/cnnlab/tracking/models.py"}  # `run_config`: config.yaml read back
