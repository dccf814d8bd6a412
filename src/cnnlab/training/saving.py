"""The trained model, exported: a `.keras` file in the run's folder and an MLflow model."""

from pathlib import Path

import keras

from cnnlab import models, tracking
from cnnlab.config.tracking import TrackingConfig
from cnnlab.data import Datasets, to_pixels


def save_model(
    model: keras.Model, output_dir: Path, tracking_cfg: TrackingConfig, data: Datasets
) -> Path:
    """`model.keras` in the output folder; in MLflow, an MLflow model that takes raw images.
    Both have Keras's batch norm: they load and serve without cnnlab's fused training layer."""
    model = models.with_keras_batch_norm(model)
    path = output_dir / "model.keras"
    model.save(path)
    if tracking_cfg.log_model:
        examples = to_pixels(next(iter(data.raw["test"].batch(2)))[0]).numpy()
        tracking.log_network(model, data.info, examples, tracking_cfg.register_as)
        summary: list[str] = []
        model.summary(print_fn=lambda line, **_: summary.append(line))
        tracking.log_text("\n".join(summary), "model/summary.txt")
    return path
