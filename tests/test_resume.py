"""Runs that reproduce and resume: deterministic weights, SIGKILL then `trainer.resume=true`
into the same MLflow run, and the failures that must end a run cleanly."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest

from cnnlab import tracking
from cnnlab.errors import ConfigError, TrainingDiverged
from cnnlab.training import train

ROOT = Path(__file__).resolve().parents[1]
DETERMINISTIC = ("trainer.deterministic=true", "trainer.batch_size=16", "tracking.log_model=false")


def weights(path: Path) -> list[np.ndarray]:
    return keras.saving.load_model(path, compile=False).get_weights()


def assert_same_weights(a: Path, b: Path) -> None:
    for x, y in zip(weights(a), weights(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_deterministic_runs_give_bit_identical_weights(make_cfg, tmp_path):
    cfg = make_cfg(*DETERMINISTIC, "trainer.epochs=2", "trainer.steps_per_epoch=5")
    first = train(cfg, output_dir=tmp_path / "a")
    second = train(cfg, output_dir=tmp_path / "b")
    assert_same_weights(first.model_path, second.model_path)


@pytest.mark.slow  # three training processes: about a minute idle, several under load
def test_killed_run_resumes_into_the_same_mlflow_run_with_the_uninterrupted_weights(
    make_cfg, tmp_path
):
    epochs = 3
    overrides = [*DETERMINISTIC, f"trainer.epochs={epochs}", "trainer.verbose=2"]
    cfg = make_cfg(*overrides)
    reference = train(make_cfg(*overrides, "tracking.experiment=uninterrupted"), tmp_path / "ref")

    command = [
        sys.executable,
        str(ROOT / "pipelines" / "train.py"),
        f"data.data_dir={cfg.data.data_dir}",
        f"tracking.uri={cfg.tracking.uri}",
        f"tracking.artifact_location={cfg.tracking.artifact_location}",
        f"tracking.experiment={cfg.tracking.experiment}",
        *overrides,
    ]
    first_dir = tmp_path / "first"
    child = subprocess.Popen(
        [*command, f"hydra.run.dir={first_dir}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = first_dir / "checkpoints" / "state.npz"
    deadline = time.monotonic() + 600
    while not state.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # into the second epoch
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    mlflow.set_tracking_uri(tracking.tracking_uri(cfg.tracking))
    (killed,) = mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")
    assert killed.info.status == "RUNNING"  # SIGKILL leaves no chance to end it

    resumed = subprocess.run(
        [*command, "trainer.resume=true", f"hydra.run.dir={tmp_path / 'second'}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout
    (run,) = mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")
    assert run.info.run_id == killed.info.run_id and run.info.status == "FINISHED"
    client = mlflow.MlflowClient()
    for key in ("loss", "val_accuracy", "lr"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == list(
            range(epochs)
        ), key
    assert_same_weights(first_dir / "model.keras", reference.model_path)


def test_resume_without_an_unfinished_run_starts_a_new_one(make_cfg, tmp_path):
    cfg = make_cfg("debug=fast", "trainer.resume=true", "tracking.log_model=false")
    result = train(cfg, output_dir=tmp_path)
    assert tracking.get_run(result.run_id, cfg.tracking).info.status == "FINISHED"


def test_resume_of_an_unknown_run_id_is_one_line(make_cfg, tmp_path):
    cfg = make_cfg("debug=fast", "trainer.resume=0123abcd")
    with pytest.raises(ConfigError, match=r"^trainer.resume=0123abcd is invalid: expected"):
        train(cfg, output_dir=tmp_path)


def test_nan_loss_ends_the_run_failed_with_the_reason_as_a_tag(make_cfg, tmp_path):
    cfg = make_cfg("trainer.epochs=2", "trainer.steps_per_epoch=2", "optimizer.lr=1e12")
    with pytest.raises(TrainingDiverged):
        train(cfg, output_dir=tmp_path)
    mlflow.set_tracking_uri(tracking.tracking_uri(cfg.tracking))
    (run,) = mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"].startswith(
        "TrainingDiverged: training diverged: loss is nan"
    )


def test_unwritable_output_folder_fails_before_any_run(make_cfg, tmp_path):
    cfg = make_cfg("debug=fast")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(
        ConfigError, match=r"^output folder .*a-file/run is invalid: expected a writable"
    ):
        train(cfg, output_dir=blocker / "run")
    mlflow.set_tracking_uri(tracking.tracking_uri(cfg.tracking))
    assert not mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")


def test_unusable_tracking_store_fails_in_one_line(make_cfg, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cfg = make_cfg("debug=fast", f"tracking.uri=sqlite:///{blocker}/mlflow.db")
    with pytest.raises(
        ConfigError, match=r"^tracking.uri=sqlite:///.*a-file/mlflow.db is invalid"
    ) as error:
        train(cfg, output_dir=tmp_path / "run")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()
