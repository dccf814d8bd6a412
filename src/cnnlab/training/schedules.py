"""Learning-rate schedules of the literature, per optimizer step, with an optional linear warm-up.

Every schedule is lr(step) = base_lr * warmup(epoch) * decay(epoch) * scale, where
epoch = step / steps_per_epoch is fractional. `plateau` has no decay of its own: its scale is
multiplied by `factor` by `ReduceOnPlateau` when the monitored validation metric stops improving
(AlexNet, Krizhevsky et al. 2012, Sec. 5: "divide the learning rate by 10 when the validation
error rate stopped improving"); fine-tuning's `UnfreezeAt` multiplies it by
`trainer.unfreeze_lr_factor`.
"""

import dataclasses
import math

import keras

from cnnlab.checks import require_choice
from cnnlab.config.training import ScheduleConfig


@keras.saving.register_keras_serializable(package="cnnlab")
class EpochSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) = base_lr * warmup(epoch) * decay(epoch) * scale, with epoch = step / steps_per_epoch."""

    def __init__(
        self,
        base_lr: float,
        steps_per_epoch: int,
        epochs: int,
        name: str = "constant",
        warmup_epochs: float = 0,
        milestones=(),
        gamma: float = 0.1,
        min_lr_fraction: float = 0.0,
        power: float = 1.0,
    ):
        self.base_lr = float(base_lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.name = name
        self.warmup_epochs = float(warmup_epochs)
        self.milestones = tuple(int(m) for m in milestones)
        self.gamma = float(gamma)
        self.min_lr_fraction = float(min_lr_fraction)
        self.power = float(power)
        # The factor so far: a variable, so that a callback can lower it between steps (the
        # plateau's ReduceOnPlateau, fine-tuning's UnfreezeAt); times 1.0 leaves lr exact.
        self.scale = keras.Variable(1.0, dtype="float32", trainable=False, name="lr_scale")

    def __call__(self, step):
        epoch = keras.ops.cast(step, "float32") / self.steps_per_epoch
        lr = self.base_lr * self._warmup(epoch) * self._decay(epoch)
        return lr * self.scale

    def _warmup(self, epoch):
        if self.warmup_epochs <= 0:
            return 1.0
        return keras.ops.minimum(1.0, (epoch + 1.0 / self.steps_per_epoch) / self.warmup_epochs)

    def _progress(self, epoch):
        """0 -> 1 over the epochs after the warm-up."""
        span = max(self.epochs - self.warmup_epochs, 1e-9)
        return keras.ops.clip((epoch - self.warmup_epochs) / span, 0.0, 1.0)

    def _decay(self, epoch):
        ops = keras.ops
        floor = self.min_lr_fraction
        if self.name == "step":
            passed = (
                sum(ops.cast(epoch >= m, "float32") for m in self.milestones)
                if self.milestones
                else 0.0
            )
            return ops.power(self.gamma, passed)
        if self.name == "exponential":
            return ops.power(self.gamma, ops.floor(epoch))
        if self.name == "cosine":
            cosine = 0.5 * (1.0 + ops.cos(math.pi * self._progress(epoch)))
            return floor + (1.0 - floor) * cosine
        if self.name == "polynomial":
            return floor + (1.0 - floor) * ops.power(1.0 - self._progress(epoch), self.power)
        return 1.0

    def get_config(self) -> dict:
        return {
            "base_lr": self.base_lr,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "name": self.name,
            "warmup_epochs": self.warmup_epochs,
            "milestones": list(self.milestones),
            "gamma": self.gamma,
            "min_lr_fraction": self.min_lr_fraction,
            "power": self.power,
        }


SCHEDULES = ("constant", "step", "exponential", "cosine", "polynomial", "plateau")
PLATEAU_OPTIONS = ("monitor", "factor", "patience", "min_delta")  # read by ReduceOnPlateau


def build_schedule(
    schedule_cfg: ScheduleConfig, base_lr: float, steps_per_epoch: int, epochs: int
) -> EpochSchedule:
    """The schedule named by `schedule.name`, with the options its schema declares."""
    options = dataclasses.asdict(schedule_cfg)
    require_choice("schedule.name", options["name"], SCHEDULES)
    for key in PLATEAU_OPTIONS:
        options.pop(key, None)
    return EpochSchedule(base_lr, steps_per_epoch, epochs, **options)
