"""What `make ui` opens: experiments marked as model training, with the cnnlab runs view."""

import json
import logging

import mlflow

from cnnlab import tracking
from cnnlab.tracking import dashboard


def test_new_experiment_opens_on_its_training_runs_with_the_accuracy_columns(make_cfg):
    cfg = make_cfg()
    experiment_id = tracking.use_experiment(cfg.tracking)
    tags = mlflow.MlflowClient().get_experiment(experiment_id).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    view = json.loads(tags["mlflow.sharedViewState.cnnlab-runs"])
    columns = json.loads(view["state"])["selectedColumns"]
    assert {"metrics.`val_accuracy`", "metrics.`test_accuracy`", "tags.`kind`"} <= set(columns)
    assert dashboard.runs_url("127.0.0.1:5000", experiment_id).endswith(
        f"/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
        "&viewStateShareKey=cnnlab-runs"
    )


def test_dashboard_prepares_experiments_made_before_it(make_cfg, caplog):
    caplog.set_level(logging.INFO)
    cfg = make_cfg()
    uri = tracking.tracking_uri(cfg.tracking)
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.create_experiment(f"{cfg.tracking.experiment}-old")
    dashboard.main(["--uri", uri])
    tags = mlflow.MlflowClient().get_experiment(experiment_id).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert dashboard.runs_url("127.0.0.1:5000", experiment_id) in caplog.text
