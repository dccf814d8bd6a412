"""Everything MLflow; nothing else in cnnlab imports mlflow.

`runs` owns a run's lifecycle and what is logged to it.
"""

from cnnlab.tracking.runs import (
    Terminated,
    flatten,
    get_run,
    git_commit,
    list_artifacts,
    log_artifact,
    log_config,
    log_dataset,
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
    "flatten",
    "get_run",
    "git_commit",
    "list_artifacts",
    "log_artifact",
    "log_config",
    "log_dataset",
    "log_figure",
    "log_metrics",
    "log_params",
    "log_text",
    "run",
    "run_name",
    "sigterm_interrupts",
    "tracking_uri",
    "use_experiment",
]
