"""Trained models as MLflow models (keras flavor) that take raw images.

The logged model repeats the input pipeline's evaluation transforms inside itself (pixel
values in [0, 255] -> [0, 1], resize to `data.load_size`, centre crop to `data.image_size`,
per-channel standardization with the train split's mean/std), so `mlflow.pyfunc`, `mlflow
models serve` and `load_model` need nothing but images. Its MLmodel file carries a tensor
signature, an input example and metadata (class names, input shape, normalization).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from omegaconf import OmegaConf

from cnnlab.config import TrainConfig, typed
from cnnlab.config.tracking import TrackingConfig
from cnnlab.errors import ConfigError
from cnnlab.tracking.store import use_store

if TYPE_CHECKING:  # Keras loads TensorFlow: imported where a model is built or loaded
    import keras

log = logging.getLogger(__name__)

MODEL_NAME = "model"  # runs:/<run id>/model
PIXEL_RANGE = 255.0  # the exported model's input: pixel values as decoded image files give them
FLOAT32 = "float32"  # preprocessing stays in float32 under a mixed precision policy
# Importing these registers every custom layer cnnlab models use (im2col, LRN, RReLU, Maxout,
# ResNet's shortcut padding); Keras needs them to rebuild such a model from its `.keras` file.
CUSTOM_OBJECT_MODULES = ("cnnlab.models",)


def with_preprocessing(
    network: keras.Model,
    input_shape: Sequence[int],
    load_size: Sequence[int] | None = None,
    resize: str = "stretch",
    normalization: tuple[Sequence[float], Sequence[float]] | None = None,
) -> keras.Model:
    """`network` behind the evaluation transforms of `cnnlab.data`: takes float pixel values
    in [0, 255] of any height and width with `input_shape[-1]` channels."""
    import keras

    height, width, channels = input_shape
    load_height, load_width = load_size or (height, width)
    pixels = keras.Input((None, None, channels), name="pixels")
    x = keras.layers.Rescaling(1.0 / PIXEL_RANGE, name="to_unit_range", dtype=FLOAT32)(pixels)
    # antialias only acts when shrinking, as the pipeline resizes (upsampling is unchanged);
    # resize=crop crops the centre to the aspect ratio before resizing (the pipeline after),
    # which agrees up to interpolation at the borders
    x = keras.layers.Resizing(
        load_height,
        load_width,
        crop_to_aspect_ratio=resize == "crop",
        antialias=True,
        name="resize",
        dtype=FLOAT32,
    )(x)
    if (load_height, load_width) != (height, width):
        x = keras.layers.CenterCrop(height, width, name="center_crop", dtype=FLOAT32)(x)
    if normalization is not None:
        mean, std = (np.asarray(v, np.float32) for v in normalization)
        x = keras.layers.Normalization(
            mean=mean, variance=std**2, name="standardize", dtype=FLOAT32
        )(x)
    return keras.Model(pixels, network(x), name=f"{network.name}_on_pixels")


def uses_custom_layers(model: keras.Model) -> bool:
    """Whether rebuilding `model` needs cnnlab's layer registrations (see CUSTOM_OBJECT_MODULES)."""
    import keras

    return any(
        type(layer).__module__.startswith("cnnlab.")
        or (isinstance(layer, keras.Model) and uses_custom_layers(layer))
        for layer in model.layers
    )


def pip_requirements(model: keras.Model) -> list[str]:
    """The serving environment, pinned to this one (inferring it would load the model in a
    subprocess, ~20 s with TensorFlow)."""
    import keras
    import tensorflow as tf

    requirements = [
        f"mlflow=={mlflow.__version__}",
        f"keras=={keras.__version__}",
        f"tensorflow=={tf.__version__}",
    ]
    return [*requirements, "cnnlab"] if uses_custom_layers(model) else requirements


class KerasFlavor:
    """`mlflow.keras` for `Model.log`, creating the model folder first: mlflow 3.17's keras
    `save_model` writes the input example into it before it exists. A model with cnnlab's
    layers gets `cnnlab.tracking.pyfunc` as its pyfunc loader, which registers them, so
    `mlflow.pyfunc.load_model` and `mlflow models serve` need no import from the user."""

    @staticmethod
    def save_model(path: str, model: keras.Model, mlflow_model: Any, **kwargs: Any) -> None:
        os.makedirs(path, exist_ok=True)
        mlflow.keras.save_model(model=model, path=path, mlflow_model=mlflow_model, **kwargs)
        if uses_custom_layers(model):
            pyfunc = mlflow_model.flavors[mlflow.pyfunc.FLAVOR_NAME]
            pyfunc[mlflow.pyfunc.MAIN] = "cnnlab.tracking.pyfunc"
            mlflow_model.save(os.path.join(path, "MLmodel"))


def log_model(
    model: keras.Model,
    input_example: np.ndarray,
    metadata: Mapping[str, Any],
    register_as: str | None = None,
) -> str:
    """Log `model` (pixels in, probabilities out) to the active run as the MLflow model
    `model`; register it as `register_as` in the Model Registry when given. Returns its URI."""
    channels = model.inputs[0].shape[-1]
    num_classes = model.outputs[0].shape[-1]
    signature = ModelSignature(
        # unnamed: MLflow then gives the model the array itself (a named input arrives as a
        # one-key dict, which a single-input Keras model takes with a structure warning)
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, -1, -1, channels))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, num_classes), "probabilities")]),
    )
    custom = uses_custom_layers(model)
    with no_progress_bars():  # MLflow predicts the input example to check that it serves
        info = mlflow.models.Model.log(
            artifact_path=None,
            name=MODEL_NAME,
            flavor=KerasFlavor,
            flavor_name="mlflow.keras",
            model=model,
            signature=signature,
            input_example=np.asarray(input_example, np.float32),
            pip_requirements=pip_requirements(model),
            metadata={
                **metadata,
                "input": f"float32 pixel values in [0, {PIXEL_RANGE:g}], any height and width, "
                f"{channels} channel(s)",
                "output": f"probabilities of the {num_classes} classes",
                "import_before_loading": list(CUSTOM_OBJECT_MODULES) if custom else [],
            },
            registered_model_name=register_as,
        )
    if register_as:
        log.info(
            "registered the model as %r (version %s)", register_as, info.registered_model_version
        )
    return info.model_uri


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """Keras's `predict` without its progress bar (MLflow calls it with the default verbosity)."""
    import keras

    interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    try:
        yield
    finally:
        if interactive:
            keras.config.enable_interactive_logging()


def log_network(
    network: keras.Model, info: Any, input_example: np.ndarray, register_as: str | None = None
) -> str:
    """Log a trained network behind the evaluation transforms of the data it was trained on
    (`info`: a `cnnlab.data.DataInfo`). Returns the model's URI."""
    model = with_preprocessing(
        network, info.input_shape, info.load_size, info.resize, info.normalization
    )
    mean, std = info.normalization or (None, None)
    metadata = {
        "data": info.name,
        "class_names": list(info.class_names),
        "input_shape": list(info.input_shape),
        "load_size": list(info.load_size or info.input_shape[:2]),
        "resize": info.resize,
        "normalization": {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
        if mean
        else None,
        "network": network.name,
    }
    return log_model(model, input_example, metadata, register_as)


def register_custom_objects() -> None:
    """Import the modules whose layers a cnnlab model may contain (they register on import)."""
    import importlib

    for module in CUSTOM_OBJECT_MODULES:
        importlib.import_module(module)


def load_model(run_id: str, tracking_cfg: TrackingConfig) -> keras.Model:
    """The Keras model logged by run `run_id` (pixels in [0, 255] in, probabilities out).

    A bad run id or a run without a model raises ConfigError with one line.
    """
    use_store(tracking_cfg)
    require_run(run_id)
    register_custom_objects()
    try:
        return mlflow.keras.load_model(f"runs:/{run_id}/{MODEL_NAME}")
    except (MlflowException, OSError) as error:
        raise ConfigError(
            f"run {run_id!r} has no logged model {MODEL_NAME!r}: {str(error).splitlines()[0]}"
        ) from error


def load_network(run_id: str, tracking_cfg: TrackingConfig) -> keras.Model:
    """The trained network inside run `run_id`'s logged model, without the preprocessing in
    front: it takes images as the input pipeline gives them (what visualizations look into)."""
    model = load_model(run_id, tracking_cfg)
    return model.get_layer(model_metadata(run_id, tracking_cfg)["network"])


def model_metadata(run_id: str, tracking_cfg: TrackingConfig) -> dict[str, Any]:
    """The metadata logged with a run's model (class names, input shape, normalization...)."""
    use_store(tracking_cfg)
    require_run(run_id)
    try:
        info = mlflow.models.get_model_info(f"runs:/{run_id}/{MODEL_NAME}")
    except (MlflowException, OSError) as error:
        raise ConfigError(f"run {run_id!r} has no logged model {MODEL_NAME!r}") from error
    return dict(info.metadata or {})


def require_run(run_id: str, tracking_cfg: TrackingConfig | None = None):
    """The run, or ConfigError naming the id and the store."""
    if tracking_cfg is not None:
        use_store(tracking_cfg)
    try:
        return mlflow.get_run(run_id)
    except MlflowException as error:
        raise ConfigError(
            f"run {run_id!r} is unknown in the tracking store {mlflow.get_tracking_uri()}"
        ) from error


def find_runs(
    tracking_cfg: TrackingConfig,
    filter_string: str = "",
    metric: str | None = None,
    top_k: int | None = None,
    parent_run_id: str | None = None,
) -> list[str]:
    """Ids of finished runs in the configured experiment that match `filter_string` (and are
    children of `parent_run_id`), best `metric` first, at most `top_k`."""
    use_store(tracking_cfg)
    clauses = ["attributes.status = 'FINISHED'"]
    if parent_run_id:
        require_run(parent_run_id)
        clauses.append(f"tags.mlflow.parentRunId = '{parent_run_id}'")
    if filter_string:
        clauses.append(filter_string)
    try:
        runs = mlflow.search_runs(
            experiment_names=[tracking_cfg.experiment],
            filter_string=" and ".join(clauses),
            order_by=[f"metrics.`{metric}` DESC"] if metric else None,
            max_results=top_k or 1000,
            output_format="list",
        )
    except MlflowException as error:
        raise ConfigError(
            f"ensemble.filter={filter_string!r} is invalid: {str(error).splitlines()[0]}"
        ) from error
    return [run.info.run_id for run in runs]


def set_run_tags(run_id: str, tags: Mapping[str, str], tracking_cfg: TrackingConfig) -> None:
    """Tag a run that is not the active one (e.g. make it a child with `mlflow.parentRunId`)."""
    use_store(tracking_cfg)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def run_config(run_id: str, tracking_cfg: TrackingConfig) -> TrainConfig:
    """The config a run logged (`config.yaml`), typed and checked as when it was composed."""
    require_run(run_id, tracking_cfg)
    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/config.yaml")
    except (MlflowException, OSError) as error:
        raise ConfigError(f"run {run_id!r} has no logged config.yaml") from error
    return typed(OmegaConf.create(text))


@contextlib.contextmanager
def resumed_run(run_id: str, tracking_cfg: TrackingConfig) -> Iterator[str]:
    """Log more to an existing run (evaluation results go to the run of the model)."""
    require_run(run_id, tracking_cfg)
    with mlflow.start_run(run_id=run_id):
        yield run_id
