"""A Hydra multirun as one MLflow parent run (tag kind=sweep) with each job a nested child run.

`SweepParentRun` keeps the books of the Hydra callback `cnnlab.cli.SweepTracking`
(`hydra.callbacks` in conf/train.yaml), so it works with any sweeper and launcher: it opens the parent when the multirun starts, makes the run that each
job opens (`tracking.run`) its child, named after the job's overrides, and at the end records
on the parent the number of trials, the failed and pruned ones, the best trial and plots of the
objective. The callback object travels to each job's process with the launcher (pickled), so
the parent run id reaches joblib and Ray workers without environment variables.

A sweep that runs an Optuna study has one parent run per study, found by its tag
`optuna.study`: rerunning the sweep with `sweep.study_name=<name>` continues that parent, so
that every trial of the study, from every invocation, is its child and the summary describes
the whole study. A parent that a killed sweep left RUNNING is taken over by the resume, or
marked KILLED when another sweep starts on the same host and its process is gone.
"""

import atexit
import logging
import math
import os
import socket
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from mlflow.entities import Param, Run, RunStatus, RunTag

from cnnlab.config.sweep import SWEEPER_KEYS, Multirun
from cnnlab.config.tracking import TrackingConfig
from cnnlab.errors import ConfigError
from cnnlab.tracking.runs import (
    MAX_PARAM_LENGTH,
    PARENT_RUN_TAG,
    SweepTrial,
    current_sweep_trial,
    enter_sweep_trial,
    flatten,
    git_commit,
    run_name,
    use_experiment,
)
from cnnlab.tracking.store import tracking_uri, use_store
from cnnlab.viz.sweeps import plot_objective_per_trial, plot_objective_vs_param

log = logging.getLogger(__name__)

# Trial states as Optuna names them; a run's tag `trial_state`.
COMPLETE, PRUNED, FAIL = "COMPLETE", "PRUNED", "FAIL"
# The study a parent run or trial belongs to, and a trial's number in it.
STUDY_TAG, TRIAL_TAG = "optuna.study", "optuna.trial"
# Where the process that runs a sweep lives, to tell a live sweep from one that was killed.
HOST_TAG, PID_TAG = "sweep.host", "sweep.pid"
INTERRUPTED = "interrupted: the sweep stopped while this trial ran; it is retried on resume"
RUNNING = RunStatus.to_string(RunStatus.RUNNING)


def override_key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def trial_overrides(job: Multirun) -> list[str]:
    """The job's command-line overrides (without a sweeper's bookkeeping keys)."""
    return [o for o in job.overrides if override_key(o) not in SWEEPER_KEYS]


def fixed_keys(sweep_overrides: Sequence[str]) -> set[str]:
    """Keys that a sweep's command line sets to one value (not `a,b`, `choice(...)`, ...);
    a key given twice counts as its last value, as Hydra applies it."""
    parsed = OverridesParser.create().parse_overrides(list(sweep_overrides))
    last = {o.get_key_element().lstrip("+~"): o for o in parsed}
    return {key for key, o in last.items() if not o.is_sweep_override()}


def trial_name(overrides: Sequence[str]) -> str:
    """`optimizer.lr=0.0123,trainer.batch_size=32`: floats at 4 significant digits, for reading."""

    def short(override: str) -> str:
        key, _, value = override.partition("=")
        try:
            number = float(value)
        except ValueError:
            return override
        return f"{key}={number:.4g}" if "." in value or "e" in value.lower() else override

    return ",".join(short(o) for o in overrides) or "defaults"


def job_state(job_return: JobReturn) -> tuple[str, str | None]:
    """(COMPLETE | PRUNED | FAIL, the error as one line or None)."""
    if job_return.status == JobStatus.COMPLETED:
        return COMPLETE, None
    error = job_return._return_value  # `.return_value` would re-raise it
    line = f"{type(error).__name__}: {error}".splitlines()[0][:MAX_PARAM_LENGTH]
    # optuna.TrialPruned, raised by the pruning callback; matched by name so that tracking
    # does not depend on Optuna, which only the Optuna sweeper needs.
    return (PRUNED if type(error).__name__ == "TrialPruned" else FAIL), line


def owner_alive(run: Run) -> bool | None:
    """Whether the process that runs sweep `run` is alive: None when it cannot be told (another
    host, or a run without the tags)."""
    host, pid = run.data.tags.get(HOST_TAG), run.data.tags.get(PID_TAG)
    if host != socket.gethostname() or pid is None:
        return None
    if int(pid) == os.getpid():  # an earlier multirun of this process: over
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def owner_tags() -> dict[str, str]:
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def study_parent(experiment_id: str, study: str) -> Run | None:
    """The newest parent run of `study` in the experiment, or None for a new study."""
    runs = mlflow.MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.kind = 'sweep' and tags.`{STUDY_TAG}` = '{study}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def mark_interrupted(runs: Iterable[Run]) -> None:
    """Trial runs that a stopped sweep never recorded: trial_state FAIL (the Optuna sweeper
    marks their trials FAIL and runs their values again); a run still RUNNING ends KILLED."""
    client = mlflow.MlflowClient()
    for run in runs:
        client.set_tag(run.info.run_id, "trial_state", FAIL)
        client.set_tag(run.info.run_id, "error", INTERRUPTED)
        if run.info.status == RUNNING:
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))


def end_interrupted_trials(parent_run_id: str) -> None:
    """The child runs that a killed sweep left RUNNING."""
    client = mlflow.MlflowClient()
    parent = client.get_run(parent_run_id)
    running = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}' and "
        f"attributes.status = '{RUNNING}'",
        max_results=10000,
    )
    mark_interrupted(running)


def mark_trials_interrupted(
    tracking_cfg: TrackingConfig, study: str, numbers: Collection[int]
) -> None:
    """The runs of the trials `numbers` of `study`, which the study marked FAIL: the workers of
    a parallel launcher outlive a killed sweep and may finish runs that no sweeper recorded."""
    experiment_id = use_experiment(tracking_cfg)
    runs = mlflow.MlflowClient().search_runs(
        [experiment_id], filter_string=f"tags.`{STUDY_TAG}` = '{study}'", max_results=10000
    )
    wanted = {str(n) for n in numbers}
    mark_interrupted(r for r in runs if r.data.tags.get(TRIAL_TAG) in wanted)


def end_abandoned_sweeps(experiment_id: str, keep: str | None) -> None:
    """Parent runs (other than `keep`) left RUNNING by a sweep process of this host that no
    longer exists: summarized and KILLED, with their running trials."""
    client = mlflow.MlflowClient()
    for run in client.search_runs(
        [experiment_id],
        filter_string=f"tags.kind = 'sweep' and attributes.status = '{RUNNING}'",
        max_results=10000,
    ):
        if run.info.run_id == keep or owner_alive(run) is not False:
            continue
        end_interrupted_trials(run.info.run_id)
        summarize(run.info.run_id, run.data.tags["sweep.metric"], run.data.tags["sweep.direction"])
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        log.warning(
            "sweep run %s was left RUNNING by process %s, which is gone: marked KILLED",
            run.info.run_name,
            run.data.tags[PID_TAG],
        )


def still_running(parent: Run) -> bool:
    """Whether the sweep of parent run `parent` runs in another live process of this host."""
    return parent.info.status == RUNNING and bool(owner_alive(parent))


def require_study_idle(tracking_cfg: TrackingConfig, study: str) -> None:
    """Refuse to run `study` while another sweep runs it: it would fail that sweep's trials.
    (Raised by the sweeper: Hydra turns a callback's errors into warnings.)"""
    parent = study_parent(use_experiment(tracking_cfg), study)
    if parent is not None and still_running(parent):
        raise ConfigError(
            f"sweep.study_name={study} is invalid: its sweep run {parent.info.run_name} is "
            f"still running (process {parent.data.tags[PID_TAG]}); wait for it or stop it"
        )


def continue_parent(parent: Run, tags: dict[str, str]) -> None:
    """Take over the parent run of a study for this sweep: its runs that a killed sweep left
    RUNNING end KILLED, and it runs again with this sweep's tags."""
    end_interrupted_trials(parent.info.run_id)
    client = mlflow.MlflowClient()
    client.update_run(parent.info.run_id, status=RUNNING)
    client.log_batch(parent.info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def sweep_tags(multirun: Multirun) -> dict[str, str]:
    """The parent run's tags: what the sweep searches, how, and the process that runs it."""
    return {
        "kind": "sweep",
        "sweeper": str(multirun.sweeper["_target_"]).rsplit(".", 1)[-1],
        "launcher": multirun.launcher.rsplit(".", 1)[-1],
        "overrides": " ".join(multirun.overrides),
        "sweep_dir": str(Path(multirun.sweep_dir).resolve()),
        "sweep.metric": multirun.sweep.metric,
        "sweep.direction": str(multirun.sweep.direction),
        "git_commit": git_commit(),
        "model": str(multirun.choices.get("model")),
        "data": str(multirun.choices.get("data")),
        **owner_tags(),
        **({STUDY_TAG: multirun.study} if multirun.study else {}),
    }


def log_invocation(parent: Run, multirun: Multirun, resumed: bool) -> None:
    """The sweeper's settings as params (search space, n_trials, sampler, pruner; a resumed
    study keeps its first sweep's: MLflow params never change value), and the command line,
    Hydra's overrides included, as one more block of `overrides.txt`."""
    logged = parent.data.params
    params = [
        Param(f"sweeper.{k}", str(v)[:MAX_PARAM_LENGTH])
        for k, v in flatten(multirun.sweeper).items()
        if k not in ("_target_", "_recursive_") and f"sweeper.{k}" not in logged
    ]
    client = mlflow.MlflowClient()
    client.log_batch(parent.info.run_id, params=params)
    lines = [*multirun.hydra_overrides, *multirun.overrides]
    earlier = quiet_load_text(f"{parent.info.artifact_uri}/overrides.txt") if resumed else ""
    text = "\n".join(filter(None, [earlier, "\n".join(lines) + "\n"]))
    client.log_text(parent.info.run_id, text, "overrides.txt")


def quiet_load_text(artifact_uri: str) -> str:
    """A small text artifact ("" when there is none), without MLflow's download progress bar."""
    switch = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    previous = os.environ.get(switch)
    os.environ[switch] = "false"
    try:
        return mlflow.artifacts.load_text(artifact_uri)
    except mlflow.exceptions.MlflowException:
        return ""
    finally:
        if previous is None:
            del os.environ[switch]
        else:
            os.environ[switch] = previous


@dataclass
class Trial:
    """A child run as the summary sees it."""

    run_id: str
    name: str
    state: str
    value: float | None
    overrides: list[str]
    number: int | None = None  # the Optuna trial's number; None for other sweepers

    def label(self) -> str:
        """`3 (optimizer.lr=0.0123)` for an Optuna trial (its number), else the run's name."""
        return self.name if self.number is None else f"{self.number} ({self.name})"


class SweepParentRun:
    """One MLflow parent run per multirun, each job's run nested under it: the Hydra callback
    `cnnlab.cli.SweepTracking` calls these methods with the multirun's or the job's config."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.fixed_keys: set[str] = set()  # keys the command line sets alike for every job
        self.ended = False

    # ---- in the process that runs the sweeper
    def on_multirun_start(self, multirun: Multirun) -> None:
        experiment_id = use_experiment(multirun.tracking)
        study = multirun.study
        parent = study_parent(experiment_id, study) if study else None
        if parent is not None and still_running(parent):
            return  # the sweeper refuses to start (`require_study_idle`)
        end_abandoned_sweeps(experiment_id, keep=parent and parent.info.run_id)
        tags = sweep_tags(multirun)
        resumed = parent is not None
        if not resumed:
            search = multirun.choices.get("hparams_search") or multirun.choices.get("hydra/sweeper")
            parent = mlflow.MlflowClient().create_run(
                experiment_id, run_name=run_name("sweep", search), tags=tags
            )
        else:
            continue_parent(parent, tags)
        self.parent_run_id = parent.info.run_id
        self.fixed_keys = fixed_keys(multirun.overrides)
        log_invocation(parent, multirun, resumed)
        log.info(
            "MLflow sweep run %s%s (%s)",
            parent.info.run_name,
            f", continued for study {study}" if resumed else "",
            tracking_uri(multirun.tracking),
        )
        # Hydra skips on_multirun_end when the sweep raises (its basic sweeper re-raises a
        # failed job's error after the batch): close the parent at exit then.
        atexit.register(self._end, multirun, RunStatus.to_string(RunStatus.FAILED))

    def on_multirun_end(self, multirun: Multirun) -> None:
        self._end(multirun, RunStatus.to_string(RunStatus.FINISHED))

    # ---- in the process that runs the job (the same one, or a launcher's worker)
    def on_job_start(self, job: Multirun) -> None:
        if self.parent_run_id is None:  # a single run: nothing to nest under
            return
        overrides = trial_overrides(job)
        swept = [o for o in overrides if override_key(o) not in self.fixed_keys]
        tags = {}
        if job.sweep.trial is not None:  # an Optuna sweeper's job: where its trial lives
            tags = {STUDY_TAG: job.sweep.study_name, TRIAL_TAG: str(job.sweep.trial)}
        enter_sweep_trial(SweepTrial(self.parent_run_id, trial_name(swept), overrides, tags))

    def on_job_end(self, job: Multirun, job_return: JobReturn) -> None:
        trial = current_sweep_trial()
        enter_sweep_trial(None)
        if trial is None:
            return
        state, error = job_state(job_return)
        client = mlflow.MlflowClient(tracking_uri(job.tracking))
        if trial.run_id is None:  # failed before its run opened (a bad value): record it anyway
            experiment_id = use_experiment(job.tracking)
            tags = {
                PARENT_RUN_TAG: trial.parent_run_id,
                "overrides": " ".join(trial.overrides),
                "kind": "train",
                **trial.tags,
            }
            trial.run_id = client.create_run(
                experiment_id, run_name=trial.name, tags=tags
            ).info.run_id
            client.set_terminated(trial.run_id, RunStatus.to_string(RunStatus.FAILED))
        client.set_tag(trial.run_id, "trial_state", state)
        if error:
            client.set_tag(trial.run_id, "error", error)
        if state == PRUNED:  # stopped on purpose by the pruner, not broken
            client.set_terminated(trial.run_id, RunStatus.to_string(RunStatus.KILLED))

    # ---- the summary
    def _end(self, multirun: Multirun, status: str) -> None:
        if self.parent_run_id is None or self.ended:
            return
        self.ended = True
        use_store(multirun.tracking)
        try:
            summarize(self.parent_run_id, multirun.sweep.metric, multirun.sweep.direction)
        finally:
            mlflow.MlflowClient().set_terminated(self.parent_run_id, status)


def child_trials(parent_run_id: str, metric: str) -> list[Trial]:
    """The parent's child runs in the order they started."""
    client = mlflow.MlflowClient()
    parent = client.get_run(parent_run_id)
    runs = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent_run_id}'",
        order_by=["attributes.start_time ASC"],
        max_results=10000,
    )
    return [
        Trial(
            run_id=r.info.run_id,
            name=r.info.run_name,
            state=r.data.tags.get("trial_state", FAIL),
            value=r.data.metrics.get(metric),
            overrides=r.data.tags.get("overrides", "").split(),
            number=int(r.data.tags[TRIAL_TAG]) if TRIAL_TAG in r.data.tags else None,
        )
        for r in runs
    ]


def best_trial(trials: Sequence[Trial], direction: str) -> Trial | None:
    """The complete trial with the best value; of equal values, the lowest trial number (the
    Optuna sweeper's rule for `optimization_results.yaml`), else the first started."""
    complete = [t for t in trials if t.state == COMPLETE and t.value is not None]
    complete = [t for t in complete if math.isfinite(t.value)]
    if not complete:
        return None
    complete.sort(key=lambda t: math.inf if t.number is None else t.number)
    pick = max if direction == "maximize" else min
    return pick(complete, key=lambda t: t.value)


def swept_values(trials: Sequence[Trial]) -> dict[str, list[str | None]]:
    """{key: each trial's value} for the override keys whose value differs between trials."""
    parsed = [dict(o.lstrip("+").split("=", 1) for o in t.overrides if "=" in o) for t in trials]
    keys = sorted({k for p in parsed for k in p})
    columns = {k: [p.get(k) for p in parsed] for k in keys}
    return {k: v for k, v in columns.items() if len(set(v)) > 1}


def summarize(parent_run_id: str, metric: str, direction: str) -> None:
    """Counts, the best trial and its value, and the objective plots, on the parent run."""
    client = mlflow.MlflowClient()
    trials = child_trials(parent_run_id, metric)
    states = [t.state for t in trials]
    client.log_batch(
        parent_run_id,
        metrics=[
            mlflow.entities.Metric(key, float(value), int(time.time() * 1000), 0)
            for key, value in {
                "trials": len(trials),
                "failed_trials": states.count(FAIL),
                "pruned_trials": states.count(PRUNED),
                "complete_trials": states.count(COMPLETE),
            }.items()
        ],
    )
    best = best_trial(trials, direction)
    if best is not None:
        client.log_metric(parent_run_id, f"best_{metric}", best.value)
        client.set_tag(parent_run_id, "best_trial", best.label())
        client.set_tag(parent_run_id, "best_run_id", best.run_id)
        log.info("best trial %s: %s=%.4f", best.label(), metric, best.value)
    if not trials:
        return
    figures = {"objective_per_trial.png": plot_objective_per_trial(trials, metric, best)}
    for key, values in swept_values(trials).items():
        safe = key.replace("/", "_")
        figures[f"objective_vs/{safe}.png"] = plot_objective_vs_param(trials, values, key, metric)
    for filename, figure in figures.items():
        client.log_figure(parent_run_id, figure, filename)
        plt.close(figure)
