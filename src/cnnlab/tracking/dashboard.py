"""What `make ui` opens: experiments that land on their training runs, with the columns that matter.

cnnlab marks each experiment as model training (MLflow's `mlflow.experimentKind` tag) and stores
a saved view of its runs table (an `mlflow.sharedViewState.<id>` experiment tag, the format of
the UI's own saved views): newest first, sweeps expandable into their trials, with validation
and test accuracy, model, data, kind and the Hydra overrides as columns.

MLflow 3.17's page ignores that tag when it picks an experiment's first tab: it follows its
GenAI/Model training switch, kept in the browser (localStorage, GenAI until the user flips it),
so a plain `#/experiments/<id>` opens a GenAI overview of traces. `create_app` is the `mlflow.app`
plugin `cnnlab` (`mlflow ui --app-name cnnlab`, what `make ui` runs): MLflow's own server whose
page starts, for a browser that has not chosen yet, in Model training mode and with the cnnlab
view as the runs table's state of each cnnlab experiment the browser has not opened before.

    python -m cnnlab.tracking.dashboard --uri sqlite:///mlflow.db   # prints each experiment's link
"""

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
from mlflow.entities import ViewType

from cnnlab.tracking.store import DEFAULT_URI

if TYPE_CHECKING:
    from fastapi import FastAPI
    from flask import Flask

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


# The page's own localStorage settings (JSON values), as it writes them (mlflow/server/js:
# useLocalStorage, LocalStorageUtils): Model training mode for its GenAI/Model training switch; its
# assistant panel, which a first visit opens over the runs table, left closed (a button opens it).
PAGE_DEFAULTS = {
    "mlflow.workflowType_v1": "machine_learning",
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True,
}
# The runs table's state of one experiment, from the page's search and table settings.
RUNS_STATE_KEY = 'MLflowLocalStorage-1.1-ExperimentPage-["{}"]-ReactComponentState'


def page_defaults(experiment_ids: list[str]) -> str:
    """A script for the page's head that fills in what a browser has not chosen yet:
    `PAGE_DEFAULTS`, and the cnnlab view as the runs table's state of the given experiments."""
    settings = {key: json.dumps(value) for key, value in PAGE_DEFAULTS.items()}
    state_key = json.dumps(RUNS_STATE_KEY).replace("{}", '"+id+"')
    return (
        "<script>(function(){try{var s=window.localStorage;"
        "function init(k,v){if(s.getItem(k)===null)s.setItem(k,v);}"
        f"var d={json.dumps(settings)};for(var k in d)init(k,d[k]);"
        f"{json.dumps(experiment_ids)}.forEach(function(id){{init({state_key},{json.dumps(VIEW_STATE)});}});"
        "}catch(e){}})();</script>"
    )


def cnnlab_experiments(client: mlflow.MlflowClient) -> list[str]:
    """The ids of the experiments that carry the cnnlab view."""
    experiments = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    return [e.experiment_id for e in experiments if VIEW_TAG_PREFIX + VIEW_ID in e.tags]


def create_app() -> "FastAPI | Flask":
    """The `mlflow.app` plugin `cnnlab`: MLflow's server app whose page (index.html) starts with
    `page_defaults` for the experiments of the store it serves. An ASGI app under uvicorn (the
    default), else the Flask app, as MLflow's own `basic-auth` plugin does."""
    from flask import Response
    from mlflow.environment_variables import _MLFLOW_SGI_NAME
    from mlflow.server import BACKEND_STORE_URI_ENV_VAR
    from mlflow.server import app as flask_app
    from mlflow.server.fastapi_app import create_fastapi_app

    index = Path(flask_app.static_folder) / "index.html"
    mlflow_page = flask_app.view_functions["serve"]

    def page():
        if not index.exists():  # a source install of MLflow: its own message
            return mlflow_page()
        client = mlflow.MlflowClient(os.environ.get(BACKEND_STORE_URI_ENV_VAR))
        script = page_defaults(cnnlab_experiments(client))
        html = index.read_text().replace("<head>", "<head>" + script, 1)
        return Response(html, mimetype="text/html", headers={"Cache-Control": "no-cache"})

    flask_app.view_functions["serve"] = page
    if _MLFLOW_SGI_NAME.get() == "uvicorn":
        return create_fastapi_app(flask_app)
    return flask_app


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
