"""Everything MLflow; nothing else in cnnlab imports mlflow.

`runs` owns a run's lifecycle and what is logged to it; `models` the MLflow models (logged,
loaded, registered) and finding runs by their metrics; `artifacts` finds a run by id or name
and adds pictures to it afterwards; `store` says which MLflow store they talk to and points
MLflow at it (`use_store`).
"""

from cnnlab.tracking.artifacts import find_run_id, log_visualization
from cnnlab.tracking.models import (
    find_runs,
    load_model,
    load_network,
    log_model,
    log_network,
    model_metadata,
    require_run,
    resumed_run,
    run_config,
    set_run_tags,
    with_preprocessing,
)
from cnnlab.tracking.runs import (
    Terminated,
    check_store,
    flatten,
    get_run,
    git_commit,
    latest_unfinished_run,
    list_artifacts,
    log_artifact,
    log_config,
    log_dataset,
    log_figure,
    log_metrics,
    log_params,
    log_text,
    logged_steps,
    run,
    run_name,
    sigterm_interrupts,
    use_experiment,
)
from cnnlab.tracking.store import tracking_uri, use_store

__all__ = [
    "Terminated",
    "check_store",
    "find_run_id",
    "find_runs",
    "flatten",
    "get_run",
    "git_commit",
    "latest_unfinished_run",
    "list_artifacts",
    "load_model",
    "load_network",
    "log_artifact",
    "log_config",
    "log_dataset",
    "log_figure",
    "log_metrics",
    "log_model",
    "log_network",
    "log_params",
    "log_text",
    "log_visualization",
    "logged_steps",
    "model_metadata",
    "require_run",
    "resumed_run",
    "run",
    "run_config",
    "run_name",
    "set_run_tags",
    "sigterm_interrupts",
    "tracking_uri",
    "use_experiment",
    "use_store",
    "with_preprocessing",
]
