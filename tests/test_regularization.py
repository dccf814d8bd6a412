"""The papers' L2 penalty in the loss, and early stopping that exports the best epoch."""

import itertools

import keras
import numpy as np
import pytest

from cnnlab import models, tracking
from cnnlab.training import train
from cnnlab.training.callbacks import stateful_callbacks
from cnnlab.training.compile import compile_model
from cnnlab.training.regularization import add_l2_penalty


def test_l2_adds_half_lambda_times_the_squared_kernels_to_the_loss():
    keras.utils.set_random_seed(0)
    model = models.build("lenet5", (28, 28, 1), 10)
    assert sum(keras.ops.convert_to_numpy(loss) for loss in model.losses) == 0
    assert add_l2_penalty(model, 0.01) == 5  # 2 convs + 3 dense layers; biases are not penalized
    kernels = [w for layer in model.layers for w in getattr(layer, "weights", [])[:1]]
    expected = 0.005 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
    penalty = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    assert penalty == pytest.approx(expected, rel=1e-5)


def test_l2_penalty_is_in_the_training_loss():
    keras.utils.set_random_seed(0)
    model = models.build("lenet5", (28, 28, 1), 10)
    add_l2_penalty(model, 1.0)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    images = np.zeros((4, 28, 28, 1), np.float32)
    labels = np.eye(10, dtype=np.float32)[:4]
    data_loss = float(model.compute_loss(images, labels, model(images)) - sum(model.losses))
    logged = model.evaluate(images, labels, verbose=0)
    penalty = float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))
    assert logged == pytest.approx(data_loss + penalty, rel=1e-4)


def test_early_stopping_exports_the_best_epoch_and_logs_it(make_cfg, tmp_path):
    common = (
        "trainer.deterministic=true",
        "schedule=constant",
        "trainer.steps_per_epoch=3",
        "trainer.batch_size=16",
    )
    # min_delta so large that no epoch after the first counts as better: stop after epoch 2.
    cfg = make_cfg(
        *common,
        "trainer.epochs=5",
        "trainer.early_stopping.patience=1",
        "trainer.early_stopping.min_delta=1e9",
    )
    stopped = train(cfg, output_dir=tmp_path / "stopped")
    assert len(stopped.history["loss"]) == 2
    run = tracking.get_run(stopped.run_id, cfg.tracking)
    assert run.data.metrics["best_epoch"] == 0
    one_epoch = train(make_cfg(*common, "trainer.epochs=1"), output_dir=tmp_path / "one")
    for a, b in zip(
        keras.saving.load_model(stopped.model_path).get_weights(),
        keras.saving.load_model(one_epoch.model_path).get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def early_stopping_reference(values: list[float], maximize: bool, patience: int) -> tuple[int, int]:
    """(epochs run, best epoch) of early stopping on `values` with min_delta 0: an epoch counts
    as better only if strictly better than the best so far; stop after `patience` that do not."""
    best, best_epoch, wait = None, 0, 0
    for epoch, value in enumerate(values):
        if best is None or (value > best if maximize else value < best):
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return epoch + 1, best_epoch
    return len(values), best_epoch


@pytest.mark.parametrize(
    ("monitor", "mode"), [("val_accuracy", "max"), ("val_loss", "min"), ("loss", "min")]
)
def test_early_stopping_watches_the_configured_monitor_in_its_direction(make_cfg, monitor, mode):
    cfg = make_cfg(f"trainer.early_stopping.monitor={monitor}", "trainer.early_stopping.patience=2")
    stopping = stateful_callbacks(cfg, schedule=None, has_val=True)["early_stopping"]
    assert (stopping.monitor, stopping.mode, stopping.patience) == (monitor, mode, 2)
    assert stopping.restore_best_weights


def test_early_stopping_on_val_accuracy_stops_when_accuracy_stalls_though_val_loss_falls(
    make_cfg, tmp_path
):
    """Early in training on 16 validation images the accuracy moves in steps of 1/16 and stalls
    while the loss still falls: on val_accuracy the run stops early, on val_loss it would not."""
    epochs = 5
    cfg = make_cfg(
        "trainer.deterministic=true",
        "schedule=constant",
        "optimizer.lr=0.05",
        f"trainer.epochs={epochs}",
        "trainer.steps_per_epoch=3",
        "trainer.batch_size=16",
        "trainer.eval_steps=1",
        "tracking.log_model=false",
        "trainer.early_stopping.monitor=val_accuracy",
        "trainer.early_stopping.patience=1",
    )
    result = train(cfg, output_dir=tmp_path)
    accuracy, loss = result.history["val_accuracy"], result.history["val_loss"]
    expected = early_stopping_reference(accuracy, maximize=True, patience=1)
    best_epoch = tracking.get_run(result.run_id, cfg.tracking).data.metrics["best_epoch"]
    assert (len(accuracy), best_epoch) == expected
    # what makes the monitor matter here: the run stopped before its last epoch, after the
    # accuracy rose (minimizing it would have stopped at once), while the loss fell every epoch
    assert len(accuracy) < epochs and best_epoch > 0
    assert all(later < earlier for earlier, later in itertools.pairwise(loss))


def test_label_smoothing_is_the_cross_entropy_with_softened_targets(make_cfg):
    """Szegedy et al. (2016), Sec. 7: the target is (1 - eps) * one-hot + eps / K."""
    eps, classes = 0.2, 4
    cfg = make_cfg(f"trainer.label_smoothing={eps}")
    # a model that predicts the probabilities 0.1, 0.2, 0.3, 0.4 for any input
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(classes, activation="softmax")])
    model.layers[0].set_weights([np.zeros((1, classes)), np.log([0.1, 0.2, 0.3, 0.4])])
    compile_model(model, cfg, steps_per_epoch=1, replicas=1)
    labels = np.eye(classes, dtype=np.float32)[[0, 3]]
    target = (1 - eps) * labels + eps / classes
    probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    expected = -np.mean(np.sum(target * np.log(probabilities), axis=1))
    logged = model.evaluate(np.zeros((2, 1)), labels, verbose=0, return_dict=True)["loss"]
    assert logged == pytest.approx(expected, rel=1e-5)
