"""Keras callbacks of a training run: metrics to the tracker, and a loud stop on a NaN loss."""

import math

import keras

from cnnlab import tracking
from cnnlab.errors import TrainingDiverged


class TrackEpochMetrics(keras.callbacks.Callback):
    """Log every epoch's train/validation metrics and the learning rate, step = epoch index."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = dict(logs or {})
        metrics["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        tracking.log_metrics(metrics, step=epoch)


class RaiseOnNonFiniteLoss(keras.callbacks.Callback):
    """Stop at the first NaN or infinite batch loss with an error that says what to try."""

    def __init__(self, lr: float):
        super().__init__()
        self.lr = lr
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged: loss is {loss} at epoch {self.epoch + 1}, batch {batch + 1}; "
                f"try a smaller optimizer.lr (now {self.lr}), a warm-up (schedule.warmup_epochs) "
                f"or trainer.precision=float32"
            )
