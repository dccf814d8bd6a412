"""Finding a finished run by id or name, and adding pictures to it afterwards."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from omegaconf import OmegaConf

from cnnlab.config.tracking import TrackingConfig
from cnnlab.errors import ConfigError
from cnnlab.tracking.runs import log_metrics, log_params, run
from cnnlab.tracking.store import tracking_uri


def _client(tracking_cfg: TrackingConfig) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri(tracking_cfg))


def _existing_run(run_id: str, tracking_cfg: TrackingConfig):
    try:
        return _client(tracking_cfg).get_run(run_id)
    except MlflowException as error:
        raise ConfigError(
            f"run={run_id!r} is unknown: no such run in {tracking_uri(tracking_cfg)}"
        ) from error


def find_run_id(run: str, tracking_cfg: TrackingConfig) -> str:
    """A run's id from its id or its unique name (`lenet5-digits-3f9a1c`, what `make train`
    prints); anything else is a ConfigError."""
    client = _client(tracking_cfg)
    try:
        return client.get_run(run).info.run_id
    except MlflowException:
        pass
    experiments = [e.experiment_id for e in client.search_experiments()]
    quoted = run.replace("'", "")
    found = client.search_runs(experiments, f"attributes.run_name = '{quoted}'", max_results=2)
    if len(found) == 1:
        return found[0].info.run_id
    problem = "several runs have that name" if found else "no such run id or run name"
    raise ConfigError(f"run={run!r} is unknown: {problem} in {tracking_uri(tracking_cfg)}")


def log_visualization(
    tracking_cfg: TrackingConfig,
    parent_id: str | None,
    name: str,
    tags: Mapping[str, str],
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    pictures: Path,
    folder: str,
) -> str:
    """Record finished pictures: a `kind=visualize` run (a child of `parent_id`, in its
    experiment) with params, metrics and the pictures; the parent gets the pictures under
    `folder` too. Returns where the parent's (or the standalone run's) pictures are."""
    if parent_id is not None:
        parent = _existing_run(parent_id, tracking_cfg)
        experiment = _client(tracking_cfg).get_experiment(parent.info.experiment_id).name
        tracking_cfg = OmegaConf.merge(tracking_cfg, {"experiment": experiment})
        tags = {**tags, "mlflow.parentRunId": parent_id}
    with run(tracking_cfg, name, {**tags, "kind": "visualize"}) as run_id:
        log_params(params)
        log_metrics(metrics)
        mlflow.log_artifacts(str(pictures), folder)
        uri = f"{mlflow.get_artifact_uri()}/{folder}"
    if parent_id is None:
        return uri
    _client(tracking_cfg).log_artifacts(parent_id, str(pictures), folder)
    return f"{_client(tracking_cfg).get_run(parent_id).info.artifact_uri}/{folder} (run {run_id})"
