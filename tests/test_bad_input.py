"""Bad input: one clear line naming the key, the value and what is allowed; no run left behind."""

import os
import re
import subprocess

import mlflow
import pytest
from hydra.errors import MissingConfigException
from support.compose import ROOT, compose_config, compose_untyped
from support.in_process import run_pipeline

from cnnlab import tracking
from cnnlab.cli import user_error_message
from cnnlab.errors import ConfigError, GeometryError
from cnnlab.training import train


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.epochs=-1", r"trainer.epochs=-1 is invalid: expected an integer >= 1"),
        ("trainer.batch_size=0", r"trainer.batch_size=0 is invalid: expected an integer >= 1"),
        ("optimizer.lr=0", r"optimizer.lr=0.0 is invalid: expected a number > 0"),
        ("data.image_size=[28]", r"data.image_size=\[28\] is invalid: expected \[height, width\]"),
        ("data.mean=[0.1,0.2]", r"data.mean=\[0.1, 0.2\] is invalid: expected a list of 1 numbers"),
        (
            "optimizer.name=adamax",
            r"optimizer.name='adamax' is unknown; available: adadelta, adagrad, adam",
        ),
        ("model.name=resnet9000", r"model.name='resnet9000' is unknown; available: .*lenet5"),
        ("data.source=nope", r"data.source='nope' is unknown; available: digits, folder"),
        ("schedule.name=linear", r"schedule.name='linear' is unknown; available: constant, step"),
        (
            "+optimizer.momentun=0.9",
            r"optimizer.momentun is not a config key; keys here: .*momentum",
        ),
        ("+model.flavour=modern", r"model.flavour is not a config key; keys here: .*flavor"),
        (
            "model.conv_impl=cuda",
            r"model.conv_impl='cuda' is unknown; available: native, im2col, auto",
        ),
        (
            "model.init=normal:0",
            r"model.init='normal:0' is invalid: .*or normal:<std> with std > 0",
        ),
    ],
)
def test_bad_value_is_one_clear_error_and_no_run(make_cfg, override, message):
    with pytest.raises(ConfigError, match=message) as error:
        train(make_cfg(override))
    assert "\n" not in str(error.value)
    assert_no_runs(make_cfg())


def test_image_too_small_for_the_model_names_the_minimum(make_cfg):
    cfg = make_cfg("data.image_size=[8,8]")
    with pytest.raises(
        GeometryError, match=r"too small for model=lenet5.*at least 12x12 \(set data.image_size\)"
    ):
        train(cfg)
    assert_no_runs(cfg)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.epochs=abc", r"trainer.epochs='abc' is invalid: expected an integer$"),
        ("trainer.epochs=2.5", r"trainer.epochs=2.5 is invalid: expected an integer$"),
        ("trainer.steps_per_epoch=x", r"'x' is invalid: expected an integer or null$"),
        (
            "trainer.precision=fp8",
            r"'fp8' is invalid: expected one of auto, float32, mixed_float16",
        ),
        ("data.resize=squash", r"data.resize='squash' is invalid: expected one of stretch, crop$"),
        (
            "optimizer.scale_lr=sqrt",
            r"optimizer.scale_lr='sqrt' is invalid: expected one of none, linear$",
        ),
        ("trainer.epoch=3", r"trainer.epoch is not a config key; keys here: epochs, batch_size"),
        ("data.normalize=maybe", r"data.normalize='maybe' is invalid: expected true or false$"),
        ("augment.test_time=twelve_crop", r"'twelve_crop' is invalid: expected one of none, flip"),
    ],
)
def test_wrong_type_is_named_when_composing(override, message):
    with pytest.raises(Exception) as error:  # Hydra's exception; the CLI prints our line
        compose_config("train", override)
    assert re.search(message, user_error_message(error.value))


def test_unknown_group_option_suggests_and_lists_the_available_ones():
    with pytest.raises(MissingConfigException) as error:
        compose_config("train", "model=lenet")
    message = user_error_message(error.value)
    assert message.startswith("model='lenet' is unknown; did you mean lenet5")
    assert "resnet20" in message and "schema" not in message


def assert_no_runs(cfg):
    tracking.use_store(cfg.tracking)
    if mlflow.get_experiment_by_name(cfg.tracking.experiment) is not None:
        assert (
            mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")
            == []
        )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["model=nope"], "error: model='nope' is unknown; available: "),
        (["trainer.epochs=-3"], "error: trainer.epochs=-3 is invalid: expected an integer >= 1"),
        (["trainer.epochs=x"], "error: trainer.epochs='x' is invalid: expected an integer"),
        (["data=folder"], "error: data.path is required: set data.path=..."),
    ],
)
def test_command_line_prints_one_line_and_exits_2(args, line, tmp_path, monkeypatch):
    status, stderr = run_pipeline(
        monkeypatch,
        "train",
        *args,
        f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
        f"hydra.run.dir={tmp_path}/out",
    )
    assert status == 2
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(line)
    assert "Traceback" not in stderr


RUN_PIPELINES = ("evaluate", "predict", "visualize")  # the pipelines that read a trained run


@pytest.mark.parametrize("pipeline", RUN_PIPELINES)
def test_every_pipeline_spells_the_run_argument_run(pipeline):
    assert compose_untyped(pipeline, "run=lenet5-digits-3f9a1c").run == "lenet5-digits-3f9a1c"


@pytest.mark.parametrize("pipeline", RUN_PIPELINES)
def test_the_old_run_id_spelling_is_an_unknown_key(pipeline):
    with pytest.raises(Exception) as error:  # Hydra's exception; the CLI prints our line
        compose_config(pipeline, "run_id=3f9a1c")
    message = user_error_message(error.value)
    assert re.match(r"run_id is not a config key; keys here: .*\brun\b", message), message


def without_make_flags() -> dict[str, str]:
    """The environment without the variables an outer `make test` passes to a make inside."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


@pytest.mark.parametrize("pipeline", RUN_PIPELINES)
def test_make_passes_RUN_as_run(pipeline):
    command = subprocess.run(
        ["make", "-n", "--no-print-directory", pipeline, "RUN=3f9a1c", "IMAGES=a.png"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=without_make_flags(),
    ).stdout.splitlines()[-1]
    assert f"pipelines/{pipeline}.py run=3f9a1c" in command and "run_id" not in command
