"""What `make ui` opens: experiments marked as model training, with the cnnlab runs view."""

import asyncio
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import sys
from pathlib import Path

import mlflow
import pytest

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
    uri = tracking.use_store(cfg.tracking)
    experiment_id = mlflow.create_experiment(f"{cfg.tracking.experiment}-old")
    dashboard.main(["--uri", uri])
    tags = mlflow.MlflowClient().get_experiment(experiment_id).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
    assert dashboard.runs_url("127.0.0.1:5000", experiment_id) in caplog.text


def test_served_page_starts_new_browsers_on_the_training_runs_of_cnnlab_experiments(
    make_cfg, monkeypatch
):
    from mlflow.server import BACKEND_STORE_URI_ENV_VAR

    cfg = make_cfg()
    uri = tracking.tracking_uri(cfg.tracking)
    experiment_id = tracking.use_experiment(cfg.tracking)
    other_id = mlflow.create_experiment(f"{cfg.tracking.experiment}-not-cnnlab")
    monkeypatch.setenv(BACKEND_STORE_URI_ENV_VAR, uri)
    monkeypatch.delenv("_MLFLOW_SGI_NAME", raising=False)  # the Flask app, not uvicorn's
    page = dashboard.create_app().test_client().get("/").get_data(as_text=True)
    head = page[: page.index("</head>")]
    assert '"mlflow.workflowType_v1": "\\"machine_learning\\""' in head
    assert f'"{experiment_id}"' in head and f'"{other_id}"' not in head
    assert 'ExperimentPage-[\\""+id+"\\"]-ReactComponentState' in head
    assert "metrics.`val_accuracy`" in head
    assert "static-files/static/js/main." in page  # MLflow's own page


@pytest.mark.browser
def test_experiment_opens_on_its_runs_table_with_the_accuracy_columns_in_a_real_browser(
    make_cfg, tmp_path
):
    """The plain experiment URL, and a click in MLflow's list of experiments, each in a new
    user's headless Chromium."""
    if shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium (apt-get install -y chromium)")
    cfg = make_cfg()
    experiment_id = tracking.use_experiment(cfg.tracking)
    with mlflow.start_run(experiment_id=experiment_id, tags={"kind": "train"}):
        mlflow.log_metrics({"val_accuracy": 0.5, "test_accuracy": 0.25})
    screenshots = load_screenshots()
    env = dict(os.environ)
    if "cnnlab" not in {e.name for e in importlib.metadata.entry_points(group="mlflow.app")}:
        # cnnlab installed before pyproject.toml declared the plugin: declare it beside
        info = tmp_path / "cnnlab_plugin-0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cnnlab-plugin\nVersion: 0\n")
        (info / "entry_points.txt").write_text(
            "[mlflow.app]\ncnnlab = cnnlab.tracking.dashboard:create_app\n"
        )
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *sys.path])

    async def browse(address: str, how) -> tuple[str, str]:
        async with screenshots.chromium() as page:  # a fresh profile each time
            await how(page, address, experiment_id)
            return await page.url(), await page.text()

    with screenshots.dashboard(tracking.tracking_uri(cfg.tracking), env) as address:
        for how in screenshots.open_experiment, screenshots.click_experiment:
            url, text = asyncio.run(browse(address, how))
            runs = f"{address}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
            assert url.startswith(runs), how
            assert {"Model training", "val_accuracy", "test_accuracy", "kind"} <= set(
                text.split("\n")
            )
            assert "Overview" not in text  # GenAI's trace overview
            assert "Ask questions about your experiments" not in text  # the assistant stays closed


def load_screenshots():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "dashboard_screenshots.py"
    spec = importlib.util.spec_from_file_location("dashboard_screenshots", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
