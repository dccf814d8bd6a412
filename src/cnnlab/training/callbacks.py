"""Keras callbacks of a training run: the learning rate and metrics to the tracker, a loud stop
on a NaN loss, reduce-on-plateau for `schedule=plateau`, and early stopping that keeps the best
weights. The stateful ones expose `get_state()`/`set_state()` so a checkpoint can resume them;
`stateful_callbacks` builds those the config asks for."""

import math
from typing import Any

import keras

from cnnlab import tracking
from cnnlab.config import TrainConfig
from cnnlab.errors import ConfigError, TrainingDiverged
from cnnlab.training.checkpoints import Stateful
from cnnlab.training.schedules import EpochSchedule


def maximized(monitor: str) -> bool:
    """Accuracies are maximized, losses (and everything else) minimized."""
    return "accuracy" in monitor or monitor.endswith("auc")


class LearningRateToLogs(keras.callbacks.Callback):
    """Put the learning rate of the next step into the epoch logs (for history and tracking)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class TrackEpochMetrics(keras.callbacks.Callback):
    """Log every epoch's train/validation metrics (and lr), step = epoch index."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        tracking.log_metrics(dict(logs or {}), step=epoch)


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


class ReduceOnPlateau(keras.callbacks.Callback):
    """Multiply the plateau schedule's scale by `factor` when `monitor` has not improved by more
    than `min_delta` for `patience` epochs (Keras's ReduceLROnPlateau cannot change a schedule).

    Its state keeps its own reductions, not the scale: `trainer.unfreeze_lr_factor` multiplies
    the same scale, and a resumed run past the unfreezing applies that factor again itself."""

    def __init__(
        self, schedule: EpochSchedule, monitor: str, factor: float, patience: int, min_delta: float
    ):
        super().__init__()
        self.schedule, self.monitor = schedule, monitor
        self.factor, self.patience, self.min_delta = factor, patience, min_delta
        self.sign = -1.0 if maximized(monitor) else 1.0  # compare sign * value, lower is better
        self.best = math.inf
        self.wait = 0
        self.reduced = 1.0  # the product of this callback's reductions

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self.sign * float((logs or {})[self.monitor])
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.schedule.scale.assign(float(self.schedule.scale.numpy()) * self.factor)
            self.reduced *= self.factor
            self.wait = 0

    def get_state(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait, "reduced": self.reduced}

    def set_state(self, state: dict[str, Any]) -> None:
        self.best, self.wait, self.reduced = state["best"], state["wait"], state["reduced"]
        self.schedule.scale.assign(float(self.schedule.scale.numpy()) * self.reduced)


class EarlyStoppingToBest(keras.callbacks.EarlyStopping):
    """Keras's early stopping, always restoring the best epoch's weights at the end, with its
    state (best value, epoch, weights, patience used) saved in checkpoints."""

    def __init__(self, monitor: str, patience: int, min_delta: float):
        super().__init__(
            monitor=monitor,
            patience=patience,
            min_delta=min_delta,
            mode="max" if maximized(monitor) else "min",
            restore_best_weights=True,
        )

    def on_train_begin(self, logs: dict | None = None) -> None:
        state = getattr(self, "_resumed", None)
        super().on_train_begin(logs)  # resets the state; a resumed run puts its own back
        if state is not None:
            self.set_state(state)

    def get_state(self) -> dict[str, Any]:
        names = ("wait", "best", "best_epoch", "best_weights", "stopped_epoch")
        return {name: getattr(self, name) for name in names}

    def set_state(self, state: dict[str, Any]) -> None:
        self._resumed = state
        for name, value in state.items():
            setattr(self, name, value)


def stateful_callbacks(
    cfg: TrainConfig, schedule: EpochSchedule, has_val: bool
) -> dict[str, Stateful]:
    """Reduce-on-plateau and early stopping, when configured; their state is checkpointed."""
    callbacks: dict[str, Stateful] = {}
    monitors = []
    if cfg.schedule.name == "plateau":
        s = cfg.schedule
        callbacks["plateau"] = ReduceOnPlateau(
            schedule, s.monitor, s.factor, s.patience, s.min_delta
        )
        monitors.append(("schedule.monitor", s.monitor))
    stopping = cfg.trainer.early_stopping
    if stopping.patience is not None:
        callbacks["early_stopping"] = EarlyStoppingToBest(
            stopping.monitor, stopping.patience, stopping.min_delta
        )
        monitors.append(("trainer.early_stopping.monitor", stopping.monitor))
    for key, monitor in monitors:
        if monitor.startswith("val_") and not has_val:
            raise ConfigError(
                f"{key}={monitor} is invalid: expected a train metric (loss, accuracy), "
                "this data has no validation split"
            )
    return callbacks
