"""Everything MLflow; nothing else in cnnlab imports mlflow.

`runs` owns a run's lifecycle and what is logged to it; `models` the MLflow models (logged,
loaded, registered) and finding runs by their metrics; `artifacts` finds a run by id or name
and adds pictures to it afterwards.
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
    flatten,
    get_run,
    git_commit,
    list_artifacts,
    log_artifact,
    log_config,
    log_figure,
    log_metrics,
    log_params,
    log_text,
    run,
    run_name,
    sigterm_interrupts,
    tracking_uri,
    use_experiment,
)

__all__ = [
    "Terminated",
    "find_run_id",
    "find_runs",
    "flatten",
    "get_run",
    "git_commit",
    "list_artifacts",
    "load_model",
    "load_network",
    "log_artifact",
    "log_config",
    "log_figure",
    "log_metrics",
    "log_model",
    "log_network",
    "log_params",
    "log_text",
    "log_visualization",
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
    "with_preprocessing",
]
