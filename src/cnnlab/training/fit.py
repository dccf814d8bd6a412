"""The training run: compose data, model and optimizer from a config, fit, test, record."""

import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras

from cnnlab import models, tracking
from cnnlab.config import TrainConfig
from cnnlab.config.training import Strategy
from cnnlab.data import DataInfo, Datasets, build_datasets, describe
from cnnlab.models import autotune
from cnnlab.training.callbacks import (
    LearningRateToLogs,
    RaiseOnNonFiniteLoss,
    TrackEpochMetrics,
    stateful_callbacks,
)
from cnnlab.training.checkpoints import STATE_FILE, EpochCheckpoint, Stateful, load_variables
from cnnlab.training.compile import build_compiled_state, compile_model
from cnnlab.training.freeze import check_unfreeze, freeze_for_fine_tuning, layers_to_freeze
from cnnlab.training.kernel_tuning import log_kernel_choices, tune_kernels
from cnnlab.training.multi_output import (
    MainOutputMetricNames,
    label_every_output,
    main_output_names,
)
from cnnlab.training.precision import set_precision
from cnnlab.training.regularization import add_l2_penalty
from cnnlab.training.reproducibility import enable_determinism
from cnnlab.training.resume import (
    config_digest,
    find_resume_point,
    restore_epochs,
    skip_trained_epochs,
)
from cnnlab.training.run_folder import hydra_log_file, output_folder, prepare_output_dir
from cnnlab.training.saving import save_model
from cnnlab.training.strategy import build_strategy, shard_by_data, work_around_keras_multi_worker
from cnnlab.training.test_time import tta_metrics
from cnnlab.training.warm_start import (
    Source,
    lineage_tags,
    load_source,
    open_source,
    source_data,
)
from cnnlab.viz.augment import plot_augmentation
from cnnlab.viz.curves import plot_history

log = logging.getLogger(__name__)


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


def train(
    cfg: TrainConfig,
    output_dir: Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> RunResult:
    """Train `cfg.model` on `cfg.data` and record the run in MLflow. `cfg` is the typed config
    (`cnnlab.config.typed`), whose schemas checked every value when it was composed.

    `callbacks` run after each epoch's metrics are logged (a sweep's pruning callback).

    Everything that can fail on a bad config (names, values, geometry, data, an unwritable
    output folder or tracking store) is checked before the MLflow run opens, so a config that
    never starts leaves no run behind. `trainer.resume` continues a killed run in its own
    MLflow run and output folder (`cnnlab.training.resume`).
    """
    strategy = build_strategy(cfg.trainer.strategy)  # first: multi_worker needs TF untouched
    replicas = strategy.num_replicas_in_sync
    output_dir, cfg = output_folder(output_dir, cfg)
    tracking.check_store(cfg.tracking)
    resume = find_resume_point(cfg)
    output_dir = resume.output_dir if resume else output_dir
    prepare_output_dir(output_dir)
    if cfg.trainer.deterministic:
        enable_determinism()
    keras.utils.set_random_seed(cfg.seed)
    policy = set_precision(cfg.trainer.precision)
    freezing = cfg.model.freeze
    check_unfreeze(freezing, cfg.trainer.unfreeze_at_epoch, cfg.trainer.epochs)
    source = open_source(cfg)  # a bad model.init_from fails here, before data and run
    cfg = source_data(cfg, source)
    data = build_datasets(cfg)
    if cfg.trainer.strategy == Strategy.multi_worker:
        data = shard_by_data(data)
    steps_per_epoch = cfg.trainer.steps_per_epoch or math.ceil(
        data.info.split_sizes["train"] / cfg.trainer.batch_size
    )
    # Again: preparing a dataset on first use (TFDS) draws from Python's RNG, which Keras
    # initializers take their seeds from; the initial weights must not depend on it.
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model, loaded, tuning = build_model(cfg, data.info, source, replicas, steps_per_epoch)
        schedule = compile_model(model, cfg, steps_per_epoch, replicas)
        frozen = layers_to_freeze(model, freezing, loaded)
        callbacks = [*freeze_for_fine_tuning(model, frozen, cfg.trainer, schedule), *callbacks]
    if cfg.trainer.strategy == Strategy.multi_worker:
        work_around_keras_multi_worker(model)
    stateful = stateful_callbacks(cfg, schedule, has_val=data.val is not None)

    name = resume.run_name if resume else tracking.run_name(cfg.model.name, data.info.name)
    tags = run_tags(cfg, data, output_dir, policy, replicas) | lineage_tags(source)
    log.info(
        "%s %s: %s; model %s (%s parameters, %s, %d replica(s)); outputs in %s",
        "resuming" if resume else "run",
        name,
        describe(data.info),
        cfg.model.name,
        f"{model.count_params():,}",
        policy,
        replicas,
        output_dir,
    )
    with (
        tracking.run(
            cfg.tracking, name, tags, resume_id=resume and resume.run_id, attach=hydra_log_file()
        ) as run_id,
        strategy.scope(),  # fit and evaluate on the strategy's devices (multi_worker needs it)
    ):
        if not resume:
            log_run_description(cfg, model, data)
            log_kernel_choices(tuning)
        history, seconds = fit(
            model, data, cfg, steps_per_epoch, output_dir, stateful, run_id, callbacks
        )
        log_best_epoch(stateful)
        test_metrics = score_test_split(model, data, cfg.trainer.eval_steps)
        tracking.log_metrics({**test_metrics, "train_seconds": seconds})
        model_path = save_model(models.inference_model(model), output_dir, cfg.tracking, data)
        tracking.log_figure(plot_history(history, title=name), "curves.png")
        log.info(  # inside the run: its train.log artifact, logged as the run ends, has the result
            "%s: %s (%.1f s training)",
            name,
            ", ".join(f"{k} {v:.4f}" for k, v in test_metrics.items()),
            seconds,
        )
    return RunResult(run_id, name, output_dir, model_path, test_metrics, history, seconds)


def build_model(
    cfg: TrainConfig, info: DataInfo, source: Source | None, replicas: int, steps_per_epoch: int
) -> tuple[keras.Model, tuple[str, ...] | None, autotune.Tuning | None]:
    """`cfg.model` for the data, with `source`'s weights where they fit (and the names of the
    layers that took them), on the kernels `conv_impl=auto` picks for the run's steps (the
    weights are kept), with its L2 penalty."""
    model = models.build(cfg.model.name, info.input_shape, info.num_classes, **cfg.model.options())
    loaded = load_source(source, model).loaded if source else None
    tuning = tune_kernels(model, cfg, replicas, steps_per_epoch)
    model = tuning.model if tuning else model
    add_l2_penalty(model, cfg.model.l2)
    return model, loaded, tuning


def run_tags(
    cfg: TrainConfig, data: Datasets, output_dir: Path, policy: str, replicas: int
) -> dict[str, str]:
    """The MLflow tags a training run is found by: its kind, config, code, model and data."""
    return {
        "kind": "train",
        "config_digest": config_digest(cfg),
        "git_commit": tracking.git_commit(),
        "model": cfg.model.name,
        "data": data.info.name,
        "output_dir": str(output_dir.resolve()),
        "precision": policy,
        "replicas": str(replicas),
    }


def log_run_description(cfg: TrainConfig, model: keras.Model, data: Datasets) -> None:
    """What a new run records before training: config, sizes, data metrics, augmentation."""
    tracking.log_config(cfg)
    tracking.log_params(
        {
            "model.parameters": model.count_params(),
            # `dataset.*`: what the source delivered, apart from the `data.*` config keys
            "dataset.class_names": data.info.class_names,
            "dataset.input_shape": data.info.input_shape,
            **{f"dataset.{k}_examples": v for k, v in data.info.split_sizes.items()},
        }
    )
    tracking.log_dataset(
        data.info.name,
        {"split_sizes": data.info.split_sizes, "input_shape": data.info.input_shape},
    )
    if data.info.extra:
        tracking.log_metrics(data.info.extra)
    if data.preview is not None:
        figure = plot_augmentation(data.preview(), data.info.class_names)
        tracking.log_figure(figure, "augmentation.png")


def fit(
    model: keras.Model,
    data: Datasets,
    cfg: TrainConfig,
    steps_per_epoch: int,
    output_dir: Path,
    stateful: dict[str, Stateful],
    run_id: str,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[dict, float]:
    """Keras fit with tracking and a per-epoch checkpoint to resume from (`checkpoints/STATE_FILE`).

    `checkpoints/last.keras`, a model to export, is written once, when training ends: after the
    last epoch, or with the last completed epoch's variables when the run fails or is
    interrupted. Saving a whole `.keras` model each epoch as well as the state would cost more
    than the rest of the epoch's bookkeeping."""
    checkpoint = output_dir / "checkpoints" / "last.keras"
    state_path = output_dir / "checkpoints" / STATE_FILE
    initial_epoch, history = 0, {}
    if cfg.trainer.resume and state_path.exists():
        initial_epoch, history = restore_epochs(state_path, model, stateful, run_id)
    callbacks = [
        MainOutputMetricNames(),
        *stateful.values(),  # before the lr is read: a plateau lowers it at this epoch's end
        LearningRateToLogs(),
        EpochCheckpoint(state_path, stateful, history),
        TrackEpochMetrics(),
        RaiseOnNonFiniteLoss(cfg.optimizer.lr),
        *extra_callbacks,
    ]
    train_data = skip_trained_epochs(  # an epoch: `steps_per_epoch` batches of the repeated split
        label_every_output(data.train, model).repeat(),
        initial_epoch,
        steps_per_epoch,
        cfg.trainer.deterministic,
    )
    val_data = label_every_output(first_batches(data.val, cfg.trainer.eval_steps), model)
    build_compiled_state(model, train_data.element_spec)
    start = time.perf_counter()
    try:
        model.fit(
            train_data,
            validation_data=val_data,
            epochs=cfg.trainer.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=progress_verbosity(cfg.trainer.verbose),
            shuffle=False,  # the tf.data pipeline shuffles
        )
    except BaseException:
        if state_path.exists():
            load_variables(state_path, model)
            model.save(checkpoint)
            tracking.log_artifact(checkpoint, "checkpoints")
            log.warning("the last completed epoch is saved in %s", checkpoint)
        raise
    seconds = time.perf_counter() - start
    model.save(checkpoint)
    return history, seconds


def log_best_epoch(stateful: dict[str, Stateful]) -> None:
    """With early stopping, the model is the best epoch's: say which (0-based in MLflow)."""
    if "early_stopping" in stateful:
        best_epoch = stateful["early_stopping"].best_epoch
        tracking.log_metrics({"best_epoch": best_epoch})
        log.info("early stopping: the model is the best epoch's, epoch %d", best_epoch + 1)


def score_test_split(model: keras.Model, data: Datasets, eval_steps: int | None) -> dict:
    """`test_*` metrics of the main output on the test split (its first `eval_steps` batches),
    and `test_tta_*` averaged over its test-time views, when the data has them."""
    logs = model.evaluate(
        label_every_output(first_batches(data.test, eval_steps), model),
        verbose=0,
        return_dict=True,
    )
    test_metrics = {f"test_{k}": float(v) for k, v in main_output_names(logs).items()}
    return test_metrics | tta_metrics(model, first_batches(data.test_views, eval_steps))


def first_batches(dataset, steps: int | None):
    """The first `steps` batches of an evaluation split (`trainer.eval_steps`), or all of it."""
    return dataset if dataset is None or steps is None else dataset.take(steps)


def progress_verbosity(verbose: str) -> int:
    """A progress bar on a terminal, one line per epoch in logs and CI."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)
