"""The steps `train()` is made of, each on its own: where a run writes, which batches a resumed
run draws first, and what a model with auxiliary classifiers is compiled with."""

import json
from types import SimpleNamespace

import pytest
import tensorflow as tf

from cnnlab import models
from cnnlab.training.multi_output import compile_arguments
from cnnlab.training.resume import skip_trained_epochs
from cnnlab.training.run_folder import output_folder

TWO_WORKERS = {"worker": ["localhost:2222", "localhost:2223"]}


def tf_config(monkeypatch, index: int) -> None:
    task = {"type": "worker", "index": index}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": TWO_WORKERS, "task": task}))


def test_the_chief_records_in_the_given_folder_and_the_configured_store(
    make_cfg, tmp_path, monkeypatch
):
    tf_config(monkeypatch, 0)
    cfg = make_cfg()
    folder, chief_cfg = output_folder(tmp_path / "run", cfg)
    assert folder == tmp_path / "run"
    assert chief_cfg is cfg


def test_a_non_chief_worker_records_in_a_scratch_folder_and_store_of_its_own(
    make_cfg, tmp_path, monkeypatch
):
    tf_config(monkeypatch, 1)
    cfg = make_cfg()
    folder, worker_cfg = output_folder(tmp_path / "run", cfg)
    scratch = (tmp_path / "run" / "worker-1").resolve()
    assert folder == tmp_path / "run" / "worker-1"
    assert (folder / "checkpoints").is_dir()
    assert worker_cfg.tracking.uri == f"sqlite:///{scratch}/mlflow.db"
    assert worker_cfg.tracking.artifact_location == f"{scratch}/mlartifacts"
    assert worker_cfg.tracking.experiment == cfg.tracking.experiment  # the rest as configured


def first(dataset: tf.data.Dataset) -> int:
    return int(next(iter(dataset)))


@pytest.mark.parametrize(
    ("epochs_done", "deterministic", "first_batch"),
    [(2, True, 6), (2, False, 0), (0, True, 0)],
)
def test_only_a_deterministic_resumed_run_skips_the_batches_of_its_trained_epochs(
    epochs_done, deterministic, first_batch
):
    batches = tf.data.Dataset.range(100)  # batch i is the number i
    resumed = skip_trained_epochs(batches, epochs_done, steps=3, deterministic=deterministic)
    assert first(resumed) == first_batch


def test_a_single_output_model_is_compiled_with_one_loss_and_metric():
    loss, metric = object(), object()
    arguments = compile_arguments(SimpleNamespace(), loss, metric)
    assert arguments == {"loss": loss, "loss_weights": None, "metrics": [metric]}


def test_auxiliary_classifiers_add_weighted_losses_and_the_metric_scores_the_main_output():
    loss, metric = object(), object()
    model = SimpleNamespace(auxiliary_loss_weights={"aux1": 0.3, "aux2": 0.3})  # GoogLeNet's
    arguments = compile_arguments(model, loss, metric)
    main = models.MAIN_OUTPUT
    assert arguments == {
        "loss": {main: loss, "aux1": loss, "aux2": loss},
        "loss_weights": {main: 1.0, "aux1": 0.3, "aux2": 0.3},
        "metrics": {main: [metric]},
    }
