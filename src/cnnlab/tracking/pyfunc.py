"""The pyfunc loader of logged models that contain cnnlab's own layers: it registers them,
then loads the model as MLflow's keras flavor does (named in the model's MLmodel file)."""

from typing import Any


def _load_pyfunc(path: str) -> Any:
    """Called by `mlflow.pyfunc.load_model` with the model's local folder."""
    from mlflow.keras.load import _load_pyfunc as load_keras_pyfunc

    from cnnlab.tracking.models import register_custom_objects

    register_custom_objects()
    return load_keras_pyfunc(path)
