"""Bad input: one clear line naming the key, the value and what is allowed; no run left behind."""

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from hydra.errors import MissingConfigException

from cnnlab import tracking
from cnnlab.errors import ConfigError, GeometryError
from cnnlab.training import train

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.xdist_group("train")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.epochs=-1", r"trainer.epochs=-1 is invalid: expected an integer >= 1"),
        ("trainer.batch_size=0", r"trainer.batch_size=0 is invalid: expected an integer >= 1"),
        ("trainer.epochs=abc", r"trainer.epochs='abc' is invalid: expected an integer >= 1"),
        ("trainer.epochs=2.5", r"trainer.epochs=2.5 is invalid"),
        ("optimizer.lr=0", r"optimizer.lr=0 is invalid: expected a number > 0"),
        (
            "trainer.precision=fp8",
            r"trainer.precision='fp8' is invalid: expected one of auto, float32",
        ),
        ("data.image_size=[28]", r"data.image_size=\[28\] is invalid: expected \[height, width\]"),
        (
            "optimizer.name=adamax",
            r"optimizer.name='adamax' is unknown; available: adadelta, adagrad, adam",
        ),
        ("model.name=resnet9000", r"model.name='resnet9000' is unknown; available: .*lenet5"),
        ("data.name=nope", r"data.name='nope' is unknown; available: .*digits"),
        ("schedule.name=linear", r"schedule.name='linear' is unknown; available: constant, step"),
        ("+optimizer.momentun=0.9", r"optimizer=sgd got unknown option\(s\) momentun"),
        ("model.conv_impl=cuda", r"model.conv_impl='cuda' is unknown; available: native, im2col"),
    ],
)
def test_bad_value_is_one_clear_error_and_no_run(make_cfg, override, message):
    cfg = make_cfg(override)
    with pytest.raises(ConfigError, match=message) as error:
        train(cfg)
    assert "\n" not in str(error.value)
    assert_no_runs(cfg)


def test_image_too_small_for_the_model_names_the_minimum(make_cfg):
    cfg = make_cfg("data.image_size=[8,8]")
    with pytest.raises(
        GeometryError, match=r"too small for model=lenet5.*at least 12x12 \(set data.image_size\)"
    ):
        train(cfg)
    assert_no_runs(cfg)


def test_unknown_group_option_lists_the_available_ones(make_cfg):
    with pytest.raises(MissingConfigException, match=r"Could not find 'model/nope'"):
        make_cfg("model=nope")


def assert_no_runs(cfg):
    mlflow.set_tracking_uri(tracking.tracking_uri(cfg.tracking))
    if mlflow.get_experiment_by_name(cfg.tracking.experiment) is not None:
        assert (
            mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")
            == []
        )


def run_train_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "pipelines/train.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["model=nope"], "error: model='nope' is unknown; available: "),
        (["trainer.epochs=-3"], "error: trainer.epochs=-3 is invalid: expected an integer >= 1"),
    ],
)
def test_command_line_prints_one_line_and_exits_2(args, line, tmp_path):
    result = run_train_cli(
        *args, f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", f"hydra.run.dir={tmp_path}/out"
    )
    assert result.returncode == 2
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(line)
    assert "Traceback" not in result.stderr
