"""Compiling the run's model: loss, optimizer and schedule from the config, and the compiled
loss's and metrics' variables created before `fit` traces its step."""

import keras

from cnnlab.config import TrainConfig
from cnnlab.training.multi_output import compile_arguments
from cnnlab.training.optimizers import build_optimizer, scaled_lr
from cnnlab.training.schedules import EpochSchedule, build_schedule


def compile_model(
    model: keras.Model, cfg: TrainConfig, steps_per_epoch: int, replicas: int
) -> EpochSchedule:
    """Compile with the configured loss, optimizer and schedule; return the schedule."""
    lr = scaled_lr(cfg.optimizer, replicas)
    schedule = build_schedule(cfg.schedule, lr, steps_per_epoch, cfg.trainer.epochs)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.trainer.label_smoothing)
    accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    model.compile(
        optimizer=build_optimizer(cfg.optimizer, schedule),
        **compile_arguments(model, loss, accuracy),
        jit_compile=cfg.trainer.jit_compile,
    )
    return schedule


def build_compiled_state(model: keras.Model, batch) -> None:
    """Create the compiled loss's and metrics' variables before `fit` traces its step.

    Without a distribution strategy, Keras creates them inside the first trace of the train
    step, and a `tf.function` whose first trace creates variables is traced again: a second
    trace of the whole model (0.5 s for LeNet-5, seconds for GoogLeNet) at every run's start.
    Keras builds them this way itself, from the data's shapes, when a strategy is set. `batch`:
    an (inputs, targets) batch or its `tf.TensorSpec`s (a dataset's `element_spec`)."""
    model._symbolic_build(data_batch=batch)
