"""The run lifecycle, params, metrics and artifacts.

A run is opened with `run(...)`, a context manager that ends it FINISHED on success,
KILLED on Ctrl-C or SIGTERM (`kill`, a scheduler's preemption) and FAILED on any exception,
so no run is ever left RUNNING.
"""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus
from omegaconf import OmegaConf

from cnnlab.config.tracking import TrackingConfig
from cnnlab.errors import ConfigError
from cnnlab.tracking.dashboard import prepare_experiment
from cnnlab.tracking.store import tracking_uri, use_store

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
PARENT_RUN_TAG = "mlflow.parentRunId"  # MLflow's own: the UI nests a run under its parent


def use_experiment(tracking_cfg: TrackingConfig) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id."""
    use_store(tracking_cfg)
    name = tracking_cfg.experiment
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = tracking_cfg.artifact_location
    artifact_uri = Path(location).resolve().as_uri() if location else None
    experiment_id = mlflow.create_experiment(name, artifact_location=artifact_uri)
    prepare_experiment(experiment_id)  # the dashboard opens it on its runs table
    return experiment_id


def run_name(*parts: str) -> str:
    """A readable name: the parts joined by '-', then a short unique id (e.g. lenet5-digits-3f9a1c)."""
    return "-".join([*parts, uuid.uuid4().hex[:6]])


@dataclass
class SweepTrial:
    """One job of a sweep: the run it opens is a nested child of the sweep's parent run,
    named after the job's overrides (set by `cnnlab.tracking.sweeps.SweepParentRun`)."""

    parent_run_id: str
    name: str
    overrides: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None  # the child run, once `run(...)` opened it


_sweep_trial: SweepTrial | None = None


def enter_sweep_trial(trial: SweepTrial | None) -> None:
    """Make the runs opened from now on children of `trial.parent_run_id` (None: plain runs)."""
    global _sweep_trial
    _sweep_trial = trial


def current_sweep_trial() -> SweepTrial | None:
    return _sweep_trial


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that open runs end KILLED."""


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` (Python's default would exit at once,
    skipping every `finally`); outside it, the previous handler is back."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return

    def interrupt(signum, frame):
        raise Terminated(f"terminated by signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def run(
    tracking_cfg: TrackingConfig,
    name: str,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
    resume_id: str | None = None,
    attach: Path | None = None,
) -> Iterator[str]:
    """Open an MLflow run (or reopen `resume_id`) and yield its id; its end status tells how
    the block ended, and a FAILED run carries the error as its `failure_reason` tag.

    Inside a sweep's job the run is the job's child of the sweep's parent run instead.
    `attach` (the job's log file) is logged as an artifact as the run ends, however it ends.
    """
    experiment_id = use_experiment(tracking_cfg)
    tags = dict(tags or {})
    trial = _sweep_trial
    if trial is not None and not nested:
        name = trial.name
        tags |= {PARENT_RUN_TAG: trial.parent_run_id, "overrides": " ".join(trial.overrides)}
        tags |= trial.tags
    active = mlflow.start_run(
        run_id=resume_id,
        experiment_id=experiment_id,
        run_name=None if resume_id else name,
        nested=nested,
        tags=tags,
        log_system_metrics=True,  # CPU, memory, disk (and GPU where present), every 10 s
    )
    if trial is not None and not nested:
        trial.run_id = active.info.run_id
    status = RunStatus.FAILED
    try:
        with sigterm_interrupts():
            yield active.info.run_id
        status = RunStatus.FINISHED
    except KeyboardInterrupt:
        status = RunStatus.KILLED
        raise
    except BaseException as error:
        mlflow.set_tag("failure_reason", f"{type(error).__name__}: {error}"[:MAX_PARAM_LENGTH])
        raise
    finally:
        if attach is not None and attach.exists():
            mlflow.log_artifact(str(attach))
        mlflow.end_run(RunStatus.to_string(status))


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """{'trainer': {'epochs': 3}} -> {'trainer.epochs': 3}; lists stay whole values. `cfg`: a
    mapping, or a config's dataclass."""
    container = (
        cfg
        if isinstance(cfg, Mapping)
        else OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True, enum_to_str=True)
    )
    flat: dict[str, Any] = {}
    for key, value in container.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def log_config(cfg: Any) -> None:
    """The composed config: flattened to dotted params, and the whole YAML as `config.yaml`."""
    params = {k: str(v)[:MAX_PARAM_LENGTH] for k, v in flatten(cfg).items()}
    mlflow.log_params(params)
    mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")


def log_params(params: Mapping[str, Any]) -> None:
    mlflow.log_params({k: str(v)[:MAX_PARAM_LENGTH] for k, v in params.items()})


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)


def log_figure(figure, filename: str) -> None:
    """A matplotlib figure as a PNG artifact."""
    mlflow.log_figure(figure, filename)


def log_artifact(path: str | Path, folder: str | None = None) -> None:
    mlflow.log_artifact(str(path), artifact_path=folder)


def log_dataset(name: str, description: Mapping[str, Any]) -> None:
    """The run's data as an MLflow dataset input (the runs table's Dataset column); the digest
    tells runs on the same data apart from runs on data that only shares its name."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    details = {k: str(v) for k, v in description.items()}
    digest = hashlib.sha256(json.dumps(details, sort_keys=True).encode()).hexdigest()[:8]
    dataset = MetaDataset(source=CodeDatasetSource(details), name=name, digest=digest)
    mlflow.log_input(dataset, context="training")


def log_text(text: str, filename: str) -> None:
    mlflow.log_text(text, filename)


def git_commit() -> str:
    """The current commit (with '-dirty' for uncommitted changes), or 'unknown' outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def get_run(run_id: str, tracking_cfg: TrackingConfig):
    """The stored run (status, params, metrics, tags), for reports and tests."""
    use_store(tracking_cfg)
    return mlflow.get_run(run_id)


def list_artifacts(
    run_id: str, tracking_cfg: TrackingConfig, folder: str | None = None
) -> list[str]:
    use_store(tracking_cfg)
    return [a.path for a in mlflow.MlflowClient().list_artifacts(run_id, folder)]


def check_store(tracking_cfg: TrackingConfig) -> None:
    """Fail now, in one line, when the tracking store cannot be opened or written."""
    uri = tracking_uri(tracking_cfg)
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(uri[len(prefix) :])
        folder = path if path.exists() else path.parent
        if not os.access(folder if folder.exists() else folder.parent, os.W_OK):
            raise ConfigError(f"tracking.uri={uri} is invalid: expected a writable location")
    try:
        use_experiment(tracking_cfg)
    except Exception as error:  # MLflow raises many kinds; the user needs one line
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ConfigError(
            f"tracking.uri={uri} is invalid: expected a reachable, writable MLflow store "
            f"({type(error).__name__}: {first_line})"
        ) from error


def latest_unfinished_run(tracking_cfg: TrackingConfig, tags: Mapping[str, str]) -> Any | None:
    """The newest run of the experiment with these tags that did not end FINISHED
    (killed by a signal it is still RUNNING), or None."""
    experiment_id = use_experiment(tracking_cfg)
    condition = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
    runs = mlflow.search_runs(
        [experiment_id],
        filter_string=condition,
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    return next((r for r in runs if r.info.status != "FINISHED"), None)


def logged_steps(run_id: str, key: str) -> list[int]:
    """The steps at which `key` was logged in `run_id` (in the active store)."""
    return [m.step for m in mlflow.MlflowClient().get_metric_history(run_id, key)]
