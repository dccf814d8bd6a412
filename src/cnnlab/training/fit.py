"""The training run: compose data, model and optimizer from a config, fit, test, record."""

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import matplotlib.pyplot as plt
from omegaconf import DictConfig, OmegaConf

from cnnlab import models, tracking
from cnnlab.config import validate
from cnnlab.data import Datasets, build_datasets, describe
from cnnlab.training.callbacks import RaiseOnNonFiniteLoss, TrackEpochMetrics
from cnnlab.training.evaluate import tta_metrics
from cnnlab.training.optimizers import build_optimizer
from cnnlab.training.precision import set_precision
from cnnlab.training.schedules import build_schedule
from cnnlab.viz.augment import plot_augmentation
from cnnlab.viz.curves import plot_history


@dataclass
class RunResult:
    """What a finished training run produced."""

    run_id: str
    run_name: str
    output_dir: Path
    model_path: Path
    test_metrics: dict[str, float]
    history: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: float = 0.0


def default_output_dir() -> Path:
    """Hydra's run dir under `@hydra.main`; a fresh timestamped folder when called in-process."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(
        "outputs", "runs", time.strftime("%Y-%m-%d"), tracking.run_name(time.strftime("%H-%M-%S"))
    )


def model_options(model_cfg: DictConfig) -> dict:
    """`cfg.model` without its name: the keyword options of the model's builder."""
    options = OmegaConf.to_container(model_cfg, resolve=True)
    options.pop("name")
    return options


def progress_verbosity(verbose) -> int:
    """A progress bar on a terminal, one line per epoch in logs and CI."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)


def compile_model(model: keras.Model, cfg: DictConfig, steps_per_epoch: int) -> None:
    schedule = build_schedule(cfg.schedule, cfg.optimizer.lr, steps_per_epoch, cfg.trainer.epochs)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.trainer.label_smoothing)
    accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    weights = models.loss_weights(model)  # {} unless the model has auxiliary classifiers
    model.compile(
        optimizer=build_optimizer(cfg.optimizer, schedule),
        loss={output: loss for output in weights} if weights else loss,
        loss_weights=weights or None,
        metrics={models.MAIN_OUTPUT: [accuracy]} if weights else [accuracy],
        jit_compile=cfg.trainer.jit_compile,
    )


def label_every_output(dataset, model: keras.Model):
    """(images, labels) -> (images, {output: labels}) for a model with auxiliary classifiers."""
    outputs = list(models.loss_weights(model))
    if dataset is None or not outputs:
        return dataset
    return dataset.map(lambda images, labels: (images, dict.fromkeys(outputs, labels)))


def main_output_names(logs: dict) -> dict:
    """Name the main output's accuracy of a multi-output model `accuracy`, like every model's
    (Keras calls it `predictions_accuracy`); the auxiliary losses keep their `aux1_loss` names."""
    prefixed = f"{models.MAIN_OUTPUT}_accuracy"
    for key in [k for k in logs if k.endswith(prefixed)]:
        logs[key.replace(prefixed, "accuracy")] = logs.pop(key)
    return logs


class MainOutputMetricNames(keras.callbacks.Callback):
    """Renames the epoch logs in place, before the callbacks after it (tracking, History) see them."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs:
            main_output_names(logs)


def train(
    cfg: DictConfig,
    output_dir: Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> RunResult:
    """Train `cfg.model` on `cfg.data` and record the run in MLflow.

    `callbacks` run after each epoch's metrics are logged (a sweep's pruning callback).

    Everything that can fail on a bad config (names, values, geometry, data) is built
    before the MLflow run opens, so a config that never starts leaves no run behind.
    """
    validate(cfg)
    keras.utils.set_random_seed(cfg.seed)
    policy = set_precision(cfg.trainer.precision)
    data = build_datasets(cfg)
    model = models.build(
        cfg.model.name, data.info.input_shape, data.info.num_classes, **model_options(cfg.model)
    )
    steps_per_epoch = cfg.trainer.steps_per_epoch or math.ceil(
        data.info.split_sizes["train"] / cfg.trainer.batch_size
    )
    compile_model(model, cfg, steps_per_epoch)

    output_dir = Path(output_dir or default_output_dir())
    output_dir.mkdir(parents=True, exist_ok=True)
    name = tracking.run_name(cfg.model.name, data.info.name)
    tags = {
        "kind": "train",
        "git_commit": tracking.git_commit(),
        "model": cfg.model.name,
        "data": data.info.name,
        "output_dir": str(output_dir.resolve()),
        "precision": policy,
    }
    print(
        f"[cnnlab] run {name}: {describe(data.info)}; model {cfg.model.name} "
        f"({model.count_params():,} parameters, {policy}); outputs in {output_dir}"
    )
    with tracking.run(cfg.tracking, name, tags) as run_id:
        tracking.log_config(cfg)
        tracking.log_params(
            {
                "model.parameters": model.count_params(),
                "data.class_names": data.info.class_names,
                "data.input_shape": data.info.input_shape,
                **{f"data.{k}_size": v for k, v in data.info.split_sizes.items()},
            }
        )
        tracking.log_dataset(
            data.info.name,
            {"split_sizes": data.info.split_sizes, "input_shape": data.info.input_shape},
        )
        if data.info.extra:
            tracking.log_metrics(data.info.extra)
        if data.preview is not None:
            tracking.log_figure(
                plot_augmentation(data.preview(), data.info.class_names), "augmentation.png"
            )
        history, seconds = fit(model, data, cfg, steps_per_epoch, output_dir, callbacks)
        test_metrics = {
            f"test_{k}": float(v)
            for k, v in main_output_names(
                model.evaluate(label_every_output(data.test, model), verbose=0, return_dict=True)
            ).items()
        }
        test_metrics |= tta_metrics(model, data.test_views)
        tracking.log_metrics({**test_metrics, "train_seconds": seconds})
        model_path = save_model(models.inference_model(model), output_dir, cfg.tracking.log_model)
        log_curves(history, title=name)
    print(
        f"[cnnlab] {name}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in test_metrics.items())
        + f" ({seconds:.1f} s training)"
    )
    return RunResult(run_id, name, output_dir, model_path, test_metrics, history, seconds)


def fit(
    model: keras.Model,
    data: Datasets,
    cfg: DictConfig,
    steps_per_epoch: int,
    output_dir: Path,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[dict, float]:
    """Keras fit with tracking and a per-epoch checkpoint that survives a failed or interrupted run."""
    checkpoint = output_dir / "checkpoints" / "last.keras"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        MainOutputMetricNames(),
        TrackEpochMetrics(),
        RaiseOnNonFiniteLoss(cfg.optimizer.lr),
        keras.callbacks.ModelCheckpoint(str(checkpoint)),
        *extra_callbacks,
    ]
    train_data = label_every_output(data.train, model)
    train_data = train_data.repeat() if cfg.trainer.steps_per_epoch else train_data
    start = time.perf_counter()
    try:
        history = model.fit(
            train_data,
            validation_data=label_every_output(data.val, model),
            epochs=cfg.trainer.epochs,
            steps_per_epoch=cfg.trainer.steps_per_epoch,
            callbacks=callbacks,
            verbose=progress_verbosity(cfg.trainer.verbose),
            shuffle=False,  # the tf.data pipeline shuffles
        )
    except BaseException:
        if checkpoint.exists():
            tracking.log_artifact(checkpoint, "checkpoints")
            print(f"[cnnlab] the last completed epoch is saved in {checkpoint}", file=sys.stderr)
        raise
    return {
        k: [float(v) for v in vs] for k, vs in history.history.items()
    }, time.perf_counter() - start


def save_model(model: keras.Model, output_dir: Path, log: bool) -> Path:
    path = output_dir / "model.keras"
    model.save(path)
    if log:
        tracking.log_artifact(path, "model")
        summary: list[str] = []
        model.summary(print_fn=lambda line, **_: summary.append(line))
        tracking.log_text("\n".join(summary), "model/summary.txt")
    return path


def log_curves(history: dict[str, list[float]], title: str) -> None:
    figure = plot_history(history, title=title)
    tracking.log_figure(figure, "curves.png")
    plt.close(figure)
