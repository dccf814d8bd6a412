"""Everything MLflow; nothing else in cnnlab imports mlflow.

`runs` owns a run's lifecycle and what is logged to it; `artifacts` reads a finished run's
model and config back and adds pictures to it.
"""

from cnnlab.tracking.artifacts import find_run_id, load_config, load_model, log_visualization
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
    "flatten",
    "get_run",
    "git_commit",
    "list_artifacts",
    "load_config",
    "load_model",
    "log_artifact",
    "log_config",
    "log_figure",
    "log_metrics",
    "log_params",
    "log_text",
    "log_visualization",
    "run",
    "run_name",
    "sigterm_interrupts",
    "tracking_uri",
    "use_experiment",
]
