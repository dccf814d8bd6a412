"""The training run: compose data, model and optimizer from a config, fit, test, record."""

import dataclasses
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
from cnnlab.config.tracking import TrackingConfig
from cnnlab.config.training import Strategy
from cnnlab.data import Datasets, build_datasets, describe, to_pixels
from cnnlab.errors import ConfigError
from cnnlab.models import autotune
from cnnlab.training.callbacks import (
    EarlyStoppingToBest,
    LearningRateToLogs,
    RaiseOnNonFiniteLoss,
    ReduceOnPlateau,
    TrackEpochMetrics,
)
from cnnlab.training.checkpoints import EpochCheckpoint, Stateful, load_state, load_variables
from cnnlab.training.evaluate import tta_metrics
from cnnlab.training.freeze import check_unfreeze, freeze_for_fine_tuning, layers_to_freeze
from cnnlab.training.optimizers import build_optimizer, scaled_lr
from cnnlab.training.precision import set_precision
from cnnlab.training.regularization import add_l2_penalty
from cnnlab.training.reproducibility import enable_determinism
from cnnlab.training.resume import config_digest, find_resume_point
from cnnlab.training.schedules import EpochSchedule, build_schedule
from cnnlab.training.strategy import (
    build_strategy,
    is_chief,
    shard_by_data,
    work_around_keras_multi_worker,
    worker_task,
)
from cnnlab.training.warm_start import lineage_tags, load_source, open_source, source_data
from cnnlab.viz.augment import plot_augmentation
from cnnlab.viz.autotune import plot_kernel_choices
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


def default_output_dir() -> Path:
    """Hydra's run dir under `@hydra.main`; a fresh timestamped folder when called in-process."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(
        "outputs", "runs", time.strftime("%Y-%m-%d"), tracking.run_name(time.strftime("%H-%M-%S"))
    )


def hydra_log_file() -> Path | None:
    """The log file Hydra writes for this job (None when called in-process, outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    config = HydraConfig.get()
    return Path(config.runtime.output_dir, f"{config.job.name}.log")


def progress_verbosity(verbose: str) -> int:
    """A progress bar on a terminal, one line per epoch in logs and CI."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)


def compile_model(
    model: keras.Model, cfg: TrainConfig, steps_per_epoch: int, replicas: int
) -> EpochSchedule:
    """Compile with the configured loss, optimizer and schedule; return the schedule."""
    lr = scaled_lr(cfg.optimizer, replicas)
    schedule = build_schedule(cfg.schedule, lr, steps_per_epoch, cfg.trainer.epochs)
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
    return schedule


def first_batches(dataset, steps: int | None):
    """The first `steps` batches of an evaluation split (`trainer.eval_steps`), or all of it."""
    return dataset if dataset is None or steps is None else dataset.take(steps)


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
    output_dir = Path(output_dir or default_output_dir())
    if not is_chief():
        output_dir, cfg = record_elsewhere(output_dir, cfg)
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
        model = models.build(
            cfg.model.name, data.info.input_shape, data.info.num_classes, **cfg.model.options()
        )
        loaded = load_source(source, model).loaded if source else None
        tuning = tune_kernels(model, cfg, strategy.num_replicas_in_sync)  # keeps the weights
        model = tuning.model if tuning else model
        add_l2_penalty(model, cfg.model.l2)
        schedule = compile_model(model, cfg, steps_per_epoch, strategy.num_replicas_in_sync)
        frozen = layers_to_freeze(model, freezing, loaded)
        callbacks = [*freeze_for_fine_tuning(model, frozen, cfg.trainer, schedule), *callbacks]
    if cfg.trainer.strategy == Strategy.multi_worker:
        work_around_keras_multi_worker(model)
    stateful = stateful_callbacks(cfg, schedule, has_val=data.val is not None)

    name = resume.run_name if resume else tracking.run_name(cfg.model.name, data.info.name)
    tags = {
        "kind": "train",
        "config_digest": config_digest(cfg),
        "git_commit": tracking.git_commit(),
        "model": cfg.model.name,
        "data": data.info.name,
        "output_dir": str(output_dir.resolve()),
        "precision": policy,
        "replicas": str(strategy.num_replicas_in_sync),
        **lineage_tags(source),
    }
    log.info(
        "%s %s: %s; model %s (%s parameters, %s, %d replica(s)); outputs in %s",
        "resuming" if resume else "run",
        name,
        describe(data.info),
        cfg.model.name,
        f"{model.count_params():,}",
        policy,
        strategy.num_replicas_in_sync,
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
        if "early_stopping" in stateful:
            best_epoch = stateful["early_stopping"].best_epoch
            tracking.log_metrics({"best_epoch": best_epoch})
            log.info("early stopping: the model is the best epoch's, epoch %d", best_epoch + 1)
        test_metrics = {
            f"test_{k}": float(v)
            for k, v in main_output_names(
                model.evaluate(
                    label_every_output(first_batches(data.test, cfg.trainer.eval_steps), model),
                    verbose=0,
                    return_dict=True,
                )
            ).items()
        }
        test_metrics |= tta_metrics(model, first_batches(data.test_views, cfg.trainer.eval_steps))
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


def record_elsewhere(output_dir: Path, cfg: TrainConfig) -> tuple[Path, TrainConfig]:
    """A non-chief worker of a multi-worker run trains like the chief but records its copy of the
    run into a scratch store and folder of its own (the chief's run is the one to look at); the
    chief alone touches the configured store (two processes creating one SQLite store race)."""
    kind, index = worker_task()
    scratch = output_dir / f"{kind}-{index}"
    prepare_output_dir(scratch)
    folder = scratch.resolve()
    store = dataclasses.replace(
        cfg.tracking,
        uri=f"sqlite:///{folder}/mlflow.db",
        artifact_location=f"{folder}/mlartifacts",
    )
    return scratch, dataclasses.replace(cfg, tracking=store)


def prepare_output_dir(output_dir: Path) -> None:
    """Create the run's folder and its checkpoints folder, or fail now in one line."""
    try:
        (output_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        probe = output_dir / "checkpoints" / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            f"output folder {output_dir} is invalid: expected a writable folder ({error.strerror})"
        ) from error


def tune_kernels(model: keras.Model, cfg: TrainConfig, replicas: int) -> autotune.Tuning | None:
    """`model.conv_impl=auto`: each conv and pool layer on the kernel that trains it faster at
    the batch each replica trains on, timed before the MLflow run opens (`models.autotune`)."""
    if getattr(cfg.model, "conv_impl", None) != "auto":
        return None
    return autotune.tune(model, max(1, cfg.trainer.batch_size // replicas))


def log_kernel_choices(tuning: autotune.Tuning | None) -> None:
    """What `conv_impl=auto` chose: layers per kernel (params), each layer's timings and
    choice (`autotune.txt`, `autotune.png`), and the seconds its timing took (0 when cached)."""
    if tuning is None:
        return
    tracking.log_params({f"autotune.{k}_layers": n for k, n in tuning.counts().items()})
    tracking.log_metrics({"autotune_seconds": tuning.seconds})
    tracking.log_text(tuning.table(), "autotune.txt")
    tracking.log_figure(plot_kernel_choices(tuning), "autotune.png")


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
    """Keras fit with tracking and a per-epoch checkpoint to resume from (`checkpoints/state.npz`).

    `checkpoints/last.keras`, a model to export, is written once, when training ends: after the
    last epoch, or with the last completed epoch's variables when the run fails or is
    interrupted (writing it every epoch, as well as the state, cost more than the epoch's
    other bookkeeping together: `benchmarks/RESULTS.md`)."""
    checkpoint = output_dir / "checkpoints" / "last.keras"
    state_path = output_dir / "checkpoints" / "state.npz"
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    if cfg.trainer.resume and state_path.exists():
        meta = load_state(state_path, model, stateful)
        initial_epoch, history = meta["epochs_done"], meta["history"]
        log_missing_epochs(run_id, history)
    callbacks = [
        MainOutputMetricNames(),
        *stateful.values(),  # before the lr is read: a plateau lowers it at this epoch's end
        LearningRateToLogs(),
        EpochCheckpoint(state_path, stateful, history),
        TrackEpochMetrics(),
        RaiseOnNonFiniteLoss(cfg.optimizer.lr),
        *extra_callbacks,
    ]
    train_data = training_batches(data, model, cfg, steps_per_epoch, initial_epoch)
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


def build_compiled_state(model: keras.Model, batch) -> None:
    """Create the compiled loss's and metrics' variables before `fit` traces its step.

    Without a distribution strategy, Keras creates them inside the first trace of the train
    step, and a `tf.function` whose first trace creates variables is traced again: a second
    trace of the whole model (0.5 s for LeNet-5, seconds for GoogLeNet) at every run's start.
    Keras builds them this way itself, from the data's shapes, when a strategy is set. `batch`:
    an (inputs, targets) batch or its `tf.TensorSpec`s (a dataset's `element_spec`)."""
    model._symbolic_build(data_batch=batch)


def training_batches(data: Datasets, model: keras.Model, cfg: TrainConfig, steps: int, skip: int):
    """The train split repeated (one pass = one epoch of `steps` batches unless
    `trainer.steps_per_epoch` says otherwise). A deterministic resumed run first draws the
    `skip` epochs it already trained on, so that every later epoch sees the same shuffled,
    augmented batches as in an uninterrupted run (costs one input-pipeline pass per epoch)."""
    batches = label_every_output(data.train, model).repeat()
    if skip and cfg.trainer.deterministic:
        batches = batches.skip(skip * steps)
    return batches


def log_missing_epochs(run_id: str, history: dict[str, list[float]]) -> None:
    """Log the checkpointed epochs whose metrics the killed process did not log (it can die
    between saving the state and logging), so the run has each step exactly once."""
    logged = set(tracking.logged_steps(run_id, "loss"))
    for epoch in range(len(history.get("loss", []))):
        if epoch not in logged:
            tracking.log_metrics({k: v[epoch] for k, v in history.items()}, step=epoch)


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
