"""`model.conv_impl=auto` in a training run: each conv and pool layer on the kernel that trains it
faster (`cnnlab.models.autotune`), and what was chosen, recorded in the run."""

import keras

from cnnlab import tracking
from cnnlab.config import TrainConfig
from cnnlab.models import autotune
from cnnlab.viz.autotune import plot_kernel_choices


def tune_kernels(
    model: keras.Model, cfg: TrainConfig, replicas: int, steps_per_epoch: int
) -> autotune.Tuning | None:
    """`model.conv_impl=auto`: each conv and pool layer on the kernel that trains it faster at
    the batch each replica trains on, over the run's steps (`models.autotune`), timed before
    the MLflow run opens."""
    if getattr(cfg.model, "conv_impl", None) != "auto":
        return None
    batch = max(1, cfg.trainer.batch_size // replicas)
    return autotune.tune(model, batch, steps=steps_per_epoch * cfg.trainer.epochs)


def log_kernel_choices(tuning: autotune.Tuning | None) -> None:
    """What `conv_impl=auto` chose: layers per kernel (params), each layer's timings and
    choice (`autotune.txt`, `autotune.png`), and the seconds its timing took (0 when cached)."""
    if tuning is None:
        return
    tracking.log_params({f"autotune.{k}_layers": n for k, n in tuning.counts().items()})
    tracking.log_metrics({"autotune_seconds": tuning.seconds})
    tracking.log_text(tuning.table(), "autotune.txt")
    tracking.log_figure(plot_kernel_choices(tuning), "autotune.png")
