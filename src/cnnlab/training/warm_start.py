"""`model.init_from`: start a run from weights someone already trained.

A source is a cnnlab run (its id, its name or `runs:/<id>/model`, in the configured tracking
store), a `.keras` model or a `.weights.h5` file, or `keras:<application>` (Keras's ImageNet
weights; `model.weights_path` points at a local copy offline). `open_source` opens it before
the MLflow run starts, so a bad source is one line and no run. The source's input size,
channels and normalization become the data's (`source_data`); the model is built as
configured and takes the source's layers that fit (`load_source`).
"""

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from cnnlab import tracking
from cnnlab.config import TrainConfig
from cnnlab.errors import ConfigError
from cnnlab.models.keras_applications import application, application_weights, load_application
from cnnlab.models.transfer import (
    LayerWeights,
    Transfer,
    layer_mapping,
    layer_weights,
    transfer_weights,
    weights_file_layers,
)

log = logging.getLogger(__name__)

RUN_PREFIX = "runs:/"
FILE_SUFFIXES = (".keras", ".weights.h5")


@dataclass(frozen=True)
class Source:
    """An opened `model.init_from`: its weights for a built model, and what the data must be."""

    key: str  # model.init_from='...', for messages
    weights: Callable[[keras.Model], LayerWeights]  # the source's weights in the model's names
    input_shape: tuple[int, int, int] | None = None  # None: the data's (a .weights.h5 file)
    normalization: tuple[list[float], list[float]] | None = None  # None: the source's is none
    keeps_normalization: bool = False  # True: the source says nothing about it (a file)
    model: str | None = None  # the source's architecture, for a family's layer mapping
    model_options: tuple[tuple[str, str], ...] = ()  # options the model needs to fit it
    run_id: str | None = None  # lineage: the run the weights came from


def open_source(cfg: TrainConfig) -> Source | None:
    """The source `model.init_from` names, opened and checked, or None without one."""
    text = cfg.model.init_from
    weights_path = cfg.model.weights_path
    if not text:
        if weights_path:
            raise ConfigError(
                f"model.weights_path={weights_path!r} is invalid without a Keras source: "
                "expected model.init_from=keras:<application> with it"
            )
        return None
    text = str(text).strip()
    key = f"model.init_from={text!r}"
    if text.startswith("keras:"):
        return keras_source(cfg, text.removeprefix("keras:"), key)
    if weights_path:
        raise ConfigError(
            f"model.weights_path={weights_path!r} is invalid with {key}: expected it only with "
            "model.init_from=keras:<application>"
        )
    if text.endswith(FILE_SUFFIXES):
        return file_source(Path(text).expanduser(), key)
    return run_source(cfg, text, key)


def keras_source(cfg: TrainConfig, name: str, key: str) -> Source:
    app = application(name)
    if cfg.model.name != app.model:
        raise ConfigError(
            f"{key} is invalid with model={cfg.model.name}: expected model={app.model}, "
            "the cnnlab model its weights fit"
        )
    size = cfg.data.image_size
    input_shape = (*(tuple(size) if size else (app.side, app.side)), 3)
    model = load_application(app, input_shape, cfg.model.weights_path)
    return Source(
        key=key,
        weights=lambda ours: application_weights(app, model, ours),
        input_shape=input_shape,
        normalization=(list(app.mean), list(app.std)),
        model=app.model,
        model_options=app.options,
    )


def file_source(path: Path, key: str) -> Source:
    if not path.is_file():
        raise ConfigError(
            f"{key} is invalid: no such file (expected a .keras model or .weights.h5 file, "
            "a run id or name, or keras:<application>)"
        )
    if path.name.endswith(".weights.h5"):
        return Source(key, lambda ours: weights_file_layers(path, ours), keeps_normalization=True)
    try:  # cnnlab's layers are registered: importing cnnlab.models did it
        model = keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as error:
        raise ConfigError(
            f"{key} is invalid: Keras cannot load it ({first_line(error)})"
        ) from error
    shape = tuple(model.input_shape[1:])  # (None, None, C): a model that resizes, the data's
    return Source(
        key,
        lambda ours: layer_weights(model),
        input_shape=shape if None not in shape else None,
        keeps_normalization=True,
        model=model.name,
    )


def run_source(cfg: TrainConfig, text: str, key: str) -> Source:
    run = text.removeprefix(RUN_PREFIX).split("/")[0] if text.startswith(RUN_PREFIX) else text
    try:
        run_id = tracking.find_run_id(run, cfg.tracking)
        network = tracking.load_network(run_id, cfg.tracking)
        metadata = tracking.model_metadata(run_id, cfg.tracking)
    except ConfigError as error:
        raise ConfigError(
            f"{key} is invalid: expected a run id or name, runs:/<id>/model, a .keras or "
            f".weights.h5 file, or keras:<application> ({error})"
        ) from error
    normalization = metadata.get("normalization")
    return Source(
        key,
        lambda ours: layer_weights(network),
        input_shape=tuple(network.input_shape[1:]),
        normalization=(normalization["mean"], normalization["std"]) if normalization else None,
        model=tracking.get_run(run_id, cfg.tracking).data.tags.get("model", network.name),
        run_id=run_id,
    )


def source_data(cfg: TrainConfig, source: Source | None) -> TrainConfig:
    """`cfg` with the source's input size, channels and normalization as the data's (and the
    model options it needs): the images are resized and converted to what the source was
    trained on (said in one line)."""
    if source is None or source.input_shape is None:
        return cfg
    height, width, channels = source.input_shape
    data = {"image_size": [height, width], "channels": channels}
    said = f"images resized to {height}x{width} with {channels} channel(s)"
    if not source.keeps_normalization:
        data["normalize"] = source.normalization is not None
        data["mean"], data["std"] = source.normalization or (None, None)
        said += (
            ", standardized with its training data's mean and std"
            if source.normalization
            else ", not standardized (nor was its training data)"
        )
    if cfg.data.load_size:
        data["load_size"] = None
    options = dict(source.model_options)
    if options:
        said += ", " + ", ".join(f"model.{k}={v}" for k, v in options.items())
    log.info("%s: %s (as the source)", source.key, said)
    return dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, **data),
        model=dataclasses.replace(cfg.model, **options),
    )


def load_source(source: Source, model: keras.Model) -> Transfer:
    """Copy the source's layers that fit into `model`; log what was loaded and left new."""
    mapping = layer_mapping(source.model, model.name) if source.model else None
    transfer = transfer_weights(source.weights(model), model, source.key, mapping)
    log.info(
        "%s: %s%s",
        source.key,
        transfer.summary(),
        f" ({source.model} -> {model.name} mapping)" if mapping else "",
    )
    return transfer


def lineage_tags(source: Source | None) -> dict[str, str]:
    """The run's tag naming the run its weights came from."""
    return {"init_from_run": source.run_id} if source and source.run_id else {}


def first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
