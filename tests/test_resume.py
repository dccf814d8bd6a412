"""Runs that reproduce and resume: deterministic weights, SIGKILL then `trainer.resume=true`
into the same MLflow run, and the failures that must end a run cleanly."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from omegaconf import OmegaConf
from support.compose import compose_config

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


# On a CPU, TensorFlow's kernels give the same bits at a fixed thread count even without op
# determinism (two runs of LeNet-5 and of ResNet-20 on 2 threads: 0.0 apart), so a control whose
# weights differ cannot be built here; on a GPU (atomics) they would. What can be checked on a
# CPU: the runs are equal on two threads, and op determinism is off before and on after a run
# that asked for it (its public tell: a random op without a seed raises). A fresh process, because
# determinism cannot be turned off again and the test workers run on one thread.
DETERMINISM = """
import json, sys
import keras, numpy as np, tensorflow as tf
from omegaconf import OmegaConf
from cnnlab.config import typed
from cnnlab.training import train

def determinism_on():
    tf.random.set_seed(None)
    try:
        tf.random.uniform(())
    except RuntimeError:
        return True
    return False

cfg, folder = typed(OmegaConf.load(sys.argv[1])), sys.argv[2]
before = determinism_on()
paths = [train(cfg, output_dir=f"{folder}/{name}").model_path for name in ("a", "b")]
a, b = (keras.saving.load_model(path, compile=False).get_weights() for path in paths)
equal = all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
print(json.dumps({"before": before, "after": determinism_on(), "equal": equal}))
"""


def test_deterministic_runs_on_two_threads_give_bit_identical_weights(make_cfg, tmp_path):
    cfg = make_cfg(*DETERMINISTIC, "trainer.epochs=2", "trainer.steps_per_epoch=3")
    OmegaConf.save(cfg, tmp_path / "cfg.yaml")
    done = subprocess.run(
        [sys.executable, "-c", DETERMINISM, str(tmp_path / "cfg.yaml"), str(tmp_path)],
        env={**os.environ, "TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome == {"before": False, "after": True, "equal": True}


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
    tracking.use_store(cfg.tracking)
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


# Three epochs in which the plateau schedule lowers the lr once (a min_delta nothing meets: every
# epoch after the first stalls) and early stopping, on a metric other than val_loss, keeps epoch
# 0 without stopping; both callbacks' state must survive the interruption after epoch 2. The
# backbone, frozen for epoch 0, unfreezes at epoch 1 with the lr times 0.1: the resumed run is
# past it, so it unfreezes at its first epoch, and the two factors of the scale must each count
# once.
RESUMABLE = (
    *DETERMINISTIC,
    "model.freeze=backbone",
    "trainer.unfreeze_at_epoch=1",
    "trainer.unfreeze_lr_factor=0.1",
    "trainer.epochs=3",
    "trainer.steps_per_epoch=3",
    "trainer.eval_steps=2",
    "schedule=plateau",
    "schedule.patience=2",
    "schedule.min_delta=100",
    "trainer.early_stopping.monitor=val_accuracy",
    "trainer.early_stopping.patience=10",
    "trainer.early_stopping.min_delta=10",
)
INTERRUPTED_AFTER = 2  # completed epochs


class Interrupted(Exception):
    pass


class InterruptAfter(keras.callbacks.Callback):
    """Fail the run at the end of epoch `epochs`, after its checkpoint is written."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.epochs:
            raise Interrupted(f"after epoch {self.epochs}")


def stored_state(output_dir: Path) -> dict[str, np.ndarray]:
    with np.load(output_dir / "checkpoints" / "state.npz") as state:
        return {key: state[key] for key in state.files if key != "meta"}


@pytest.fixture(scope="module")
def resumed(tfds_dir, mlflow_dir, tmp_path_factory):
    """An uninterrupted run; the same config failed after two epochs, an unfinished decoy run of
    the same config started after it, then `trainer.resume=<the failed run's id>`."""
    folder = tmp_path_factory.mktemp("resume")
    stores = (
        f"data.data_dir={tfds_dir}",
        f"tracking.uri=sqlite:///{mlflow_dir}/mlflow.db",
        f"tracking.artifact_location={mlflow_dir}/artifacts",
        "trainer.verbose=0",
    )
    reference = train(
        compose_config("train", *stores, "tracking.experiment=resume-reference", *RESUMABLE),
        folder / "reference",
    )
    cfg = compose_config("train", *stores, "tracking.experiment=resume", *RESUMABLE)
    with pytest.raises(Interrupted):
        train(cfg, folder / "interrupted", callbacks=[InterruptAfter(INTERRUPTED_AFTER)])
    client = mlflow.MlflowClient(tracking.tracking_uri(cfg.tracking))
    (failed,) = mlflow.search_runs(experiment_names=["resume"], output_format="list")
    decoy = client.create_run(  # newest unfinished run of this config: what resume=true picks
        failed.info.experiment_id,
        tags={**failed.data.tags, "output_dir": str(folder / "decoy")},
    )
    result = train(
        compose_config(
            "train",
            *stores,
            "tracking.experiment=resume",
            *RESUMABLE,
            f"trainer.resume={failed.info.run_id}",
        ),
        folder / "unused",
    )
    return {
        "reference": reference,
        "failed": failed,
        "decoy": decoy,
        "result": result,
        "client": client,
        "folder": folder,
    }


def test_resume_by_run_id_continues_that_run_in_its_folder(resumed):
    result, failed, client = resumed["result"], resumed["failed"], resumed["client"]
    assert failed.info.status == "FAILED"
    assert result.run_id == failed.info.run_id != resumed["decoy"].info.run_id
    assert client.get_run(result.run_id).info.status == "FINISHED"
    assert result.output_dir == resumed["folder"] / "interrupted"
    assert not (resumed["folder"] / "unused").exists()


def test_resumed_run_logs_each_epoch_once_in_order(resumed):
    client, run_id = resumed["client"], resumed["result"].run_id
    for key in ("loss", "val_accuracy", "lr"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [0, 1, 2], key


def test_resumed_run_ends_with_the_uninterrupted_runs_weights_and_optimizer_slots(resumed):
    reference = stored_state(resumed["reference"].output_dir)
    state = stored_state(resumed["result"].output_dir)
    assert any(key.startswith("optimizer_") and np.any(v) for key, v in state.items())
    assert reference.keys() == state.keys()
    for key in reference:
        np.testing.assert_array_equal(state[key], reference[key], err_msg=key)


def test_resumed_run_keeps_the_plateau_and_early_stopping_state(resumed):
    client, reference = resumed["client"], resumed["reference"]
    history = [m.value for m in client.get_metric_history(resumed["result"].run_id, "lr")]
    uninterrupted = [m.value for m in client.get_metric_history(reference.run_id, "lr")]
    assert history == uninterrupted
    assert history[INTERRUPTED_AFTER] < history[0]  # lowered at the end of the third epoch
    best_epoch = client.get_run(resumed["result"].run_id).data.metrics["best_epoch"]
    assert best_epoch == client.get_run(reference.run_id).data.metrics["best_epoch"] == 0


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
    tracking.use_store(cfg.tracking)
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
    tracking.use_store(cfg.tracking)
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


def test_resume_with_multi_worker_is_refused_in_one_line(make_cfg, tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"^trainer.resume=True is invalid: expected false with trainer.strategy=multi_worker",
    ):
        make_cfg("debug=fast", "trainer.resume=true", "trainer.strategy=multi_worker")
    cfg = make_cfg("debug=fast")
    tracking.use_store(cfg.tracking)
    assert not mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")
