"""What `make ui` opens: experiments that land on their training runs, with the columns that matter.

MLflow 3 opens an experiment without a kind on its GenAI overview of traces. cnnlab marks each
experiment as model training (MLflow's `mlflow.experimentKind` tag) and stores a saved view
of its runs table (an `mlflow.sharedViewState.<id>` experiment tag, the format of the UI's own
saved views): newest first, sweeps expandable into their trials, with validation and test
accuracy, model, data, kind and the Hydra overrides as columns.

    python -m cnnlab.tracking.dashboard --uri sqlite:///mlflow.db   # prints each experiment's link
"""

import argparse
import json
import logging
import time

import mlflow
from mlflow.entities import ViewType

from cnnlab.tracking.runs import DEFAULT_URI

log = logging.getLogger(__name__)

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"  # the UI's name for classic (non-GenAI) training
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
VIEW_ID = "cnnlab-runs"
# Column ids as the runs table names them: `<params|metrics|tags|attributes>.\`<key>\``.
COLUMNS = (
    "metrics.`val_accuracy`",
    "metrics.`test_accuracy`",
    "metrics.`best_val_accuracy`",  # a sweep's best trial
    "tags.`kind`",
    "tags.`model`",
    "tags.`data`",
    "tags.`overrides`",
    "params.`optimizer.lr`",
    "params.`trainer.epochs`",
    "metrics.`train_seconds`",
)


VIEW_STATE = json.dumps(
    {
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
        "selectedColumns": list(COLUMNS),
    }
)


def runs_view() -> str:
    """The saved view's tag value: a named envelope around the runs table's state."""
    now = int(time.time() * 1000)
    return json.dumps(
        {"name": "cnnlab runs", "createdAt": now, "updatedAt": now, "state": VIEW_STATE}
    )


def view_is_current(tag_value: str | None) -> bool:
    try:
        return json.loads(tag_value)["state"] == VIEW_STATE
    except (TypeError, ValueError, KeyError):
        return False


def prepare_experiment(experiment_id: str, client: mlflow.MlflowClient | None = None) -> None:
    """Mark the experiment as model training and give it the current cnnlab runs view."""
    client = client or mlflow.MlflowClient()
    tags = client.get_experiment(experiment_id).tags
    if tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    if not view_is_current(tags.get(VIEW_TAG_PREFIX + VIEW_ID)):
        client.set_experiment_tag(experiment_id, VIEW_TAG_PREFIX + VIEW_ID, runs_view())


def runs_url(address: str, experiment_id: str) -> str:
    """The link that opens an experiment's runs table in the cnnlab view, in the UI's model
    training mode (its sidebar otherwise starts in GenAI mode, whatever the experiment)."""
    query = f"workflowType=machine_learning&viewStateShareKey={VIEW_ID}"
    return f"http://{address}/#/experiments/{experiment_id}/runs?{query}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default=DEFAULT_URI, help="the MLflow store (tracking URI)")
    parser.add_argument("--address", default="127.0.0.1:5000", help="where the UI will listen")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    client = mlflow.MlflowClient(args.uri)
    for experiment in client.search_experiments(view_type=ViewType.ACTIVE_ONLY):
        if experiment.name == "Default" and not client.search_runs([experiment.experiment_id]):
            continue  # MLflow's empty placeholder
        prepare_experiment(experiment.experiment_id, client)
        log.info("%-24s %s", experiment.name, runs_url(args.address, experiment.experiment_id))


if __name__ == "__main__":
    main()
