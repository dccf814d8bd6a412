"""Schema of the `tracking` group: where MLflow keeps runs."""

from dataclasses import dataclass

from cnnlab.checks import Checked


@dataclass
class TrackingConfig(Checked):
    """An explicit `uri` wins; None = $MLFLOW_TRACKING_URI if set, else `sqlite:///mlflow.db`
    in the working folder (see `cnnlab.tracking.tracking_uri`)."""

    GROUP = "tracking"

    uri: str | None = None
    artifact_location: str | None = "mlartifacts"  # for new experiments, relative to the cwd
    experiment: str = "cnnlab"
    log_model: bool = True  # an MLflow model that takes raw images (cnnlab.tracking.models)
    register_as: str | None = None  # a name: register each trained model in the Model Registry

    def __post_init__(self) -> None:
        self.require("experiment", self.experiment.strip() != "", "a non-empty string")
