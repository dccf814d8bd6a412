"""Schema of the `tracking` group: where MLflow keeps runs."""

from dataclasses import dataclass

from cnnlab.config.checks import Checked


@dataclass
class TrackingConfig(Checked):
    """`uri` is the default store; $MLFLOW_TRACKING_URI replaces it, and an explicit
    `tracking.uri=` on the command line wins over both (see `cnnlab.tracking.tracking_uri`)."""

    GROUP = "tracking"

    uri: str = "sqlite:///mlflow.db"
    artifact_location: str | None = "mlartifacts"  # for new experiments, relative to the cwd
    experiment: str = "cnnlab"
    log_model: bool = True  # an MLflow model that takes raw images (cnnlab.tracking.models)
    register_as: str | None = None  # a name: register each trained model in the Model Registry

    def __post_init__(self) -> None:
        self.require("experiment", self.experiment.strip() != "", "a non-empty string")
