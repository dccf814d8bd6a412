"""Evaluate a run's logged model on any split of its data (or of another configured dataset)
and log the results to that run: accuracy, loss, per-class accuracy, a confusion matrix and
the most confidently wrong examples."""

import dataclasses
import logging
import re
from dataclasses import dataclass

import keras
import numpy as np

from cnnlab import tracking
from cnnlab.checks import require_choice
from cnnlab.config import TrainConfig
from cnnlab.config.run import EvaluateConfig, EvaluateTestTime
from cnnlab.data import Datasets, build_datasets, match_channels, to_pixels
from cnnlab.errors import ConfigError
from cnnlab.inference.report import confusion_figure, most_confused_figure, per_class_table

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    run_id: str
    prefix: str  # metric names start with it, e.g. eval_test
    metrics: dict[str, float]
    per_class: dict[str, float]
    confusion: np.ndarray  # rows: true class, columns: predicted class


def split_pixels(data: Datasets, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A split as logged models take it: float32 pixel values in [0, 255], integer labels."""
    require_choice("split", split, sorted(data.raw))
    images, labels = [], []
    for batch, batch_labels in data.raw[split].batch(256):
        images.append(to_pixels(batch).numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels)


def predict_pixels(
    model: keras.Model, pixels: np.ndarray, test_time: EvaluateTestTime = EvaluateTestTime.none
) -> np.ndarray:
    """Class probabilities; `flip` averages them with those of the mirrored images."""
    channels = model.inputs[0].shape[-1]
    if pixels.shape[-1] != channels:
        pixels = match_channels(pixels, channels).numpy()
    probabilities = model.predict(pixels, batch_size=256, verbose=0)
    if test_time == EvaluateTestTime.flip:
        mirrored = model.predict(pixels[:, :, ::-1], batch_size=256, verbose=0)
        probabilities = (probabilities + mirrored) / 2
    return probabilities


def data_config(run_cfg: TrainConfig, cfg: EvaluateConfig) -> TrainConfig:
    """The run's own config, with `cfg.data` (another dataset) and `cfg.data_dir` if given."""
    data = cfg.data if cfg.data is not None else run_cfg.data
    if cfg.data_dir:
        data = dataclasses.replace(data, data_dir=cfg.data_dir)
    return dataclasses.replace(run_cfg, data=data)


def metric_name(*parts: str) -> str:
    """MLflow allows letters, digits, _ - . / and spaces in metric names."""
    return re.sub(r"[^\w\-./ ]", "_", "_".join(parts))


def evaluate_run(cfg: EvaluateConfig) -> Evaluation:
    """`cfg.run`'s model on `cfg.split`, logged to that run."""
    run_id = tracking.find_run_id(cfg.run, cfg.tracking)
    model = tracking.load_model(run_id, cfg.tracking)
    data = build_datasets(data_config(tracking.run_config(run_id, cfg.tracking), cfg))
    classes = data.info.class_names
    if len(classes) != model.outputs[0].shape[-1]:
        raise ConfigError(
            f"data={data.info.name!r} is invalid for run {run_id}: expected "
            f"{model.outputs[0].shape[-1]} classes, the data has {len(classes)}"
        )
    pixels, labels = split_pixels(data, str(cfg.split))
    probabilities = predict_pixels(model, pixels, cfg.test_time)
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {
        name: float(confusion[k, k] / max(1, confusion[k].sum())) for k, name in enumerate(classes)
    }
    parts = ["eval", *([data.info.name] if cfg.data is not None else []), str(cfg.split)]
    parts += [] if cfg.test_time == EvaluateTestTime.none else [str(cfg.test_time)]
    prefix = metric_name(*parts)
    picked = probabilities[np.arange(len(labels)), labels]
    picked = np.clip(picked, keras.config.epsilon(), 1.0)  # as Keras's loss clips
    metrics = {
        f"{prefix}_accuracy": float(np.mean(predicted == labels)),
        f"{prefix}_loss": float(-np.mean(np.log(picked))),
    }
    with tracking.resumed_run(run_id, cfg.tracking):
        tracking.log_metrics(
            metrics
            | {metric_name(prefix, "class", name, "accuracy"): v for name, v in per_class.items()}
        )
        folder = f"evaluation/{prefix}"
        tracking.log_figure(confusion_figure(confusion, classes), f"{folder}/confusion.png")
        wrong = np.flatnonzero(predicted != labels)
        worst = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][: cfg.most_confused]
        if len(worst):
            figure = most_confused_figure(
                pixels[worst], labels[worst], probabilities[worst], classes
            )
            tracking.log_figure(figure, f"{folder}/most_confused.png")
        tracking.log_text(per_class_table(per_class, confusion), f"{folder}/per_class.md")
    log.info(
        "run %s on %s: %s",
        run_id,
        prefix,
        ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
    )
    return Evaluation(run_id, prefix, metrics, per_class, confusion)
