"""Everything MLflow; nothing else in cnnlab imports mlflow.

`runs` owns a run's lifecycle and what is logged to it.
"""

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
    log_figure,
    log_metrics,
    log_params,
    log_text,
    logged_steps,
    run,
    run_name,
    sigterm_interrupts,
    tracking_uri,
    use_experiment,
)

__all__ = [
    "Terminated",
    "check_store",
    "flatten",
    "get_run",
    "git_commit",
    "latest_unfinished_run",
    "list_artifacts",
    "log_artifact",
    "log_config",
    "log_figure",
    "log_metrics",
    "log_params",
    "log_text",
    "logged_steps",
    "run",
    "run_name",
    "sigterm_interrupts",
    "tracking_uri",
    "use_experiment",
]
