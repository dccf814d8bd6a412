"""The training run, in process, and what it leaves in MLflow."""

import functools
import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from cnnlab import tracking
from cnnlab.config import typed
from cnnlab.errors import TrainingDiverged
from cnnlab.training import train
from cnnlab.training.precision import has_gpu

ROOT = Path(__file__).resolve().parents[1]


def runs_of(cfg):
    tracking.use_store(cfg.tracking)
    return mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")


def test_one_epoch_run_is_recorded_with_params_metrics_and_artifacts(make_cfg, tmp_path):
    cfg = make_cfg("trainer.epochs=2", "trainer.steps_per_epoch=4", "trainer.batch_size=16")
    result = train(cfg, output_dir=tmp_path)

    run = tracking.get_run(result.run_id, cfg.tracking)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == result.run_name and result.run_name.startswith("lenet5-digits-")
    assert run.data.params["trainer.epochs"] == "2"
    assert run.data.params["model.name"] == "lenet5"
    assert run.data.params["optimizer.lr"] == str(cfg.optimizer.lr)
    assert run.data.params["model.parameters"] == "61706"
    assert run.data.tags["precision"] == ("mixed_float16" if has_gpu() else "float32")  # auto
    assert {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "test_loss",
        "test_accuracy",
    } <= set(run.data.metrics)
    history = mlflow.MlflowClient().get_metric_history(result.run_id, "loss")
    assert [m.step for m in history] == [0, 1]
    assert run.data.tags["model"] == "lenet5" and run.data.tags["data"] == "digits"
    assert run.data.tags["output_dir"] == str(tmp_path.resolve()) and run.data.tags["git_commit"]
    artifacts = tracking.list_artifacts(result.run_id, cfg.tracking) + tracking.list_artifacts(
        result.run_id, cfg.tracking, "model"
    )
    assert {"config.yaml", "curves.png", "model/summary.txt"} <= set(artifacts)
    assert tracking.model_metadata(result.run_id, cfg.tracking)["class_names"] == list("0123456789")


def test_logged_config_is_the_composed_config(make_cfg, tmp_path):
    cfg = make_cfg("debug=fast")
    result = train(cfg, output_dir=tmp_path)
    text = mlflow.artifacts.load_text(f"runs:/{result.run_id}/config.yaml")
    assert typed(OmegaConf.create(text)) == cfg


def test_eval_steps_scores_the_first_batches_of_the_test_split(make_cfg, tmp_path):
    """`debug=fast` scores 3 batches, as PyTorch Lightning's fast_dev_run; 1 here."""
    import keras

    from cnnlab.data import build_datasets

    cfg = make_cfg("debug=fast", "trainer.eval_steps=1", "trainer.batch_size=7")
    assert make_cfg("debug=fast").trainer.eval_steps == 3
    result = train(cfg, output_dir=tmp_path)
    model = keras.saving.load_model(result.model_path)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    first = build_datasets(cfg).test.take(1)
    loss, accuracy = model.evaluate(first, verbose=0)
    assert result.test_metrics["test_accuracy"] == pytest.approx(accuracy)
    assert result.test_metrics["test_loss"] == pytest.approx(loss, rel=1e-5)


def test_saved_model_loads_back_and_predicts_the_same(make_cfg, tmp_path):
    import keras
    import numpy as np

    result = train(make_cfg("debug=fast"), output_dir=tmp_path)
    batch = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    expected = keras.saving.load_model(result.output_dir / "checkpoints" / "last.keras").predict(
        batch, verbose=0
    )
    # A fresh interpreter: the exported file must load without cnnlab's registrations.
    script = (
        "import sys, keras, numpy as np; m = keras.saving.load_model(sys.argv[1]);"
        "np.save(sys.argv[2], m.predict(np.load(sys.argv[3]), verbose=0))"
    )
    np.save(tmp_path / "batch.npy", batch)
    subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(result.model_path),
            str(tmp_path / "out.npy"),
            str(tmp_path / "batch.npy"),
        ],
        check=True,
        capture_output=True,
    )
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)


def test_diverging_run_ends_failed_and_keeps_its_checkpoint(make_cfg, tmp_path):
    class DivergeInSecondEpoch(keras.callbacks.Callback):
        """After the first epoch (its state saved), a nan weight: the second epoch's loss is nan."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.weights = self.model.get_weights()
                bias = self.model.trainable_variables[-1]  # the classifier's: every logit nan
                bias.assign(bias * np.nan)

    cfg = make_cfg("trainer.epochs=3", "trainer.steps_per_epoch=2", "tracking.log_model=false")
    diverge = DivergeInSecondEpoch()
    with pytest.raises(TrainingDiverged, match=r"loss is nan .* try a smaller optimizer.lr"):
        train(cfg, output_dir=tmp_path, callbacks=[diverge])
    (run,) = runs_of(cfg)
    assert run.info.status == "FAILED"
    saved = keras.saving.load_model(tmp_path / "checkpoints" / "last.keras", compile=False)
    for mine, theirs in zip(saved.get_weights(), diverge.weights, strict=True):
        np.testing.assert_array_equal(mine, theirs)  # the first epoch's, before the nan
    logged = tracking.list_artifacts(run.info.run_id, cfg.tracking, "checkpoints")
    assert "checkpoints/last.keras" in logged


def test_failed_run_exports_the_last_completed_epoch(make_cfg, tmp_path):
    """`checkpoints/last.keras` is written when training stops, with the variables of the last
    completed epoch, not those of the half-done epoch it stopped in."""

    class FailInSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.weights = self.model.get_weights()

        def on_train_batch_end(self, batch, logs=None):
            if hasattr(self, "weights"):  # a step of the second epoch has run
                raise RuntimeError("stop")

    cfg = make_cfg("trainer.epochs=2", "trainer.steps_per_epoch=2", "tracking.log_model=false")
    stop = FailInSecondEpoch()
    with pytest.raises(RuntimeError, match="stop"):
        train(cfg, output_dir=tmp_path, callbacks=[stop])
    saved = keras.saving.load_model(tmp_path / "checkpoints" / "last.keras").get_weights()
    for mine, theirs in zip(saved, stop.weights, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_interrupted_run_ends_killed(make_cfg):
    cfg = make_cfg()
    with pytest.raises(KeyboardInterrupt), tracking.run(cfg.tracking, "interrupted"):
        raise KeyboardInterrupt
    (run,) = runs_of(cfg)
    assert run.info.status == "KILLED"


def test_terminated_run_ends_killed(make_cfg, tmp_path):
    """`kill` (SIGTERM) mid-run: the run ends KILLED, not RUNNING, and the process exits."""
    cfg = make_cfg()
    script = tmp_path / "open_run.py"
    script.write_text(
        "import sys, time\n"
        "from omegaconf import OmegaConf\n"
        "from cnnlab import tracking\n"
        "cfg = OmegaConf.load(sys.argv[1])\n"
        "with tracking.run(cfg.tracking, 'terminated'):\n"
        "    print('open', flush=True)\n"
        "    time.sleep(60)\n"
    )
    OmegaConf.save(cfg, tmp_path / "cfg.yaml")
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "cfg.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "open"
    child.terminate()
    _, stderr = child.communicate(timeout=60)
    assert child.returncode != 0
    assert "Terminated: terminated by signal SIGTERM" in stderr
    (run,) = runs_of(cfg)
    assert run.info.status == "KILLED"


def test_tracking_uri_env_replaces_the_default_store(make_cfg, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/other.db")
    assert tracking.tracking_uri(make_cfg("tracking.uri=null").tracking) == (
        f"sqlite:///{tmp_path}/other.db"
    )


def test_explicit_tracking_uri_wins_over_the_env(make_cfg, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/other.db")
    cfg = make_cfg(f"tracking.uri=sqlite:///{tmp_path}/explicit.db")
    assert tracking.tracking_uri(cfg.tracking) == f"sqlite:///{tmp_path}/explicit.db"


def test_default_tracking_uri_is_mlflow_db_in_the_working_dir(make_cfg, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = make_cfg("tracking.uri=null")
    assert tracking.tracking_uri(cfg.tracking) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_relative_sqlite_uri_is_made_absolute(make_cfg, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = make_cfg("tracking.uri=sqlite:///mlflow.db")
    assert tracking.tracking_uri(cfg.tracking) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_use_store_points_mlflow_at_the_configured_store(make_cfg, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    uri = tracking.use_store(make_cfg("tracking.uri=sqlite:///elsewhere.db").tracking)
    assert uri == mlflow.get_tracking_uri() == f"sqlite:///{tmp_path.resolve()}/elsewhere.db"


@pytest.mark.parametrize(
    ("uri", "artifacts", "bars"),
    [
        ("sqlite:///mlflow.db", "mlartifacts", "false"),
        ("http://127.0.0.1:5000", None, None),
        ("sqlite:///mlflow.db", "s3://bucket/runs", None),
    ],
)
def test_download_bars_are_off_for_a_store_on_this_disk_only(
    make_cfg, monkeypatch, uri, artifacts, bars
):
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    cfg = make_cfg(f"tracking.uri={uri}", f"tracking.artifact_location={artifacts or 'null'}")
    previous = mlflow.get_tracking_uri()
    try:
        tracking.use_store(cfg.tracking)
        assert os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR") == bars
    finally:  # no later test in this worker may find MLflow pointed at a server that is not there
        mlflow.set_tracking_uri(previous)


@pytest.fixture
def restored_logging():
    """Hydra's job logging replaces the root logger's handlers and levels: put them back."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    names = ("", "absl", "mlflow.system_metrics", "matplotlib")  # conf/hydra/job_logging
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_single_run_logs_its_log_file_with_the_run_and_its_result(
    make_cfg, monkeypatch, tmp_path, restored_logging
):
    """`python pipelines/train.py ...` (in this process, with Hydra's own logging): the job's
    `train.log` is the run's artifact and tells the run's name, model and test result."""
    cfg = make_cfg("trainer.epochs=2", "trainer.steps_per_epoch=3", "trainer.batch_size=16")
    stores = ("data.data_dir", "tracking.uri", "tracking.artifact_location", "tracking.experiment")
    args = [f"{key}={functools.reduce(getattr, key.split('.'), cfg)}" for key in stores]
    args += ["trainer.epochs=2", "trainer.steps_per_epoch=3", "trainer.batch_size=16"]
    args += ["trainer.verbose=0", "tracking.log_model=false", f"hydra.run.dir={tmp_path}"]
    spec = importlib.util.spec_from_file_location("train", ROOT / "pipelines" / "train.py")
    pipeline = importlib.util.module_from_spec(spec)  # named train: Hydra's job name, train.log
    spec.loader.exec_module(pipeline)
    monkeypatch.setattr(sys, "argv", [spec.origin, f"--config-path={ROOT / 'conf'}", *args])
    try:
        pipeline.main()
    finally:  # leave no Hydra state behind for the tests that follow in this process
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None

    (run,) = runs_of(cfg)
    assert run.info.status == "FINISHED"
    logged = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/train.log")
    assert logged == (tmp_path / "train.log").read_text()
    name, metrics = run.info.run_name, run.data.metrics
    assert f"[cnnlab.training.fit][INFO] - run {name}: digits" in logged
    assert "model lenet5 (61,706 parameters, float32, 1 replica(s))" in logged
    result = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("test_accuracy", "test_loss"))
    assert f"[cnnlab.training.fit][INFO] - {name}: {result} (" in logged
