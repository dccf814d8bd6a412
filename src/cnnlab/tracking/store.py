"""Which MLflow store cnnlab talks to: `tracking.uri`, else $MLFLOW_TRACKING_URI, else a local SQLite file."""

import os
from pathlib import Path

import mlflow

from cnnlab.config.tracking import TrackingConfig

DEFAULT_URI = "sqlite:///mlflow.db"


def tracking_uri(tracking_cfg: TrackingConfig) -> str:
    """An explicit `tracking.uri`, else $MLFLOW_TRACKING_URI, else `sqlite:///mlflow.db`;
    relative SQLite paths are made absolute (jobs of a sweep may run in other folders)."""
    uri = tracking_cfg.uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        uri = prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


def use_store(tracking_cfg: TrackingConfig) -> str:
    """Point MLflow's module-level API (`mlflow.get_run`, `mlflow.start_run`, ...) at the
    configured store; return its URI."""
    uri = tracking_uri(tracking_cfg)
    mlflow.set_tracking_uri(uri)
    if is_local(uri) and is_local(tracking_cfg.artifact_location or ""):
        # artifacts on this disk copy in moments: MLflow's download bars would only be noise
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return uri


def is_local(location: str) -> bool:
    """True for a path or a sqlite:/file: URI, False for a server or a cloud bucket."""
    return "://" not in location or location.startswith(("sqlite:", "file:"))
