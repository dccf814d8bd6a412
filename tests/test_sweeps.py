"""Sweeps end to end: `pipelines/train.py --multirun` with Hydra's basic sweeper, cnnlab's Optuna
sweeper (pruning, a failing trial, resumption from storage) and the joblib launcher; each
sweep is one MLflow parent run (kind=sweep) with a nested child run per trial, and a resumed
study keeps its parent."""

import contextlib
import importlib.util
import io
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from support.in_process import run_pipeline

from cnnlab.config.tracking import TrackingConfig
from cnnlab.errors import ConfigError
from cnnlab.tracking import get_run
from cnnlab.tracking.sweeps import end_abandoned_sweeps, require_study_idle
from cnnlab.training import train
from cnnlab.training.objective import require_validation_split, sweep_objective
from hydra_plugins.cnnlab_optuna_sweeper._impl import open_study, search_space

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipelines" / "train.py"

pytestmark = pytest.mark.xdist_group("sweeps")  # these share the worker's SQLite store


@pytest.fixture(scope="session")
def prepared_digits(tfds_dir) -> None:
    """Prepare the digits once, before parallel jobs would race to prepare the same folder."""
    from support.compose import compose_config

    from cnnlab.data import build_datasets

    build_datasets(compose_config("train", f"data.data_dir={tfds_dir}"))


@pytest.fixture
def sweep_args(tfds_dir, mlflow_dir, request, tmp_path, prepared_digits):
    """Overrides for tiny trials (one epoch of three batches) into this test's own experiment."""
    experiment = re.sub(r"[^\w.-]", "_", request.node.name)  # plain characters for Hydra
    return [
        f"data.data_dir={tfds_dir}",
        f"tracking.uri=sqlite:///{mlflow_dir}/mlflow.db",
        f"tracking.artifact_location={mlflow_dir}/artifacts",
        f"tracking.experiment={experiment}",
        "trainer.verbose=0",
        "trainer.epochs=1",
        "trainer.steps_per_epoch=4",
        "augment=none",
        "optimizer=adam",
        "tracking.log_model=false",
        f"sweep.storage=sqlite:///{tmp_path}/optuna.db",
    ]


def multirun_in_process(monkeypatch, *args: str) -> None:
    """`python pipelines/train.py --multirun ARGS` in this process (TF is imported once)."""
    spec = importlib.util.spec_from_file_location("train", PIPELINE)  # Hydra's job name
    pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pipeline)
    argv = [str(PIPELINE), "--multirun", f"--config-path={ROOT / 'conf'}", *args]
    monkeypatch.setattr(sys, "argv", argv)
    try:
        pipeline.main()
    finally:  # leave no Hydra state behind for the tests that follow in this process
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None


def sweep_runs(args: list[str]) -> dict:
    """{parent run: [its child runs, in start order]} of the experiment that `args` name."""
    values = dict(a.split("=", 1) for a in args if "=" in a)
    mlflow.set_tracking_uri(values["tracking.uri"])
    runs = mlflow.search_runs(
        experiment_names=[values["tracking.experiment"]],
        order_by=["attributes.start_time ASC"],
        output_format="list",
    )
    parents = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    return {
        p: [r for r in runs if r.data.tags.get("mlflow.parentRunId") == p.info.run_id]
        for p in parents
    }


def test_grid_sweep_is_one_parent_run_with_a_nested_child_per_trial(
    monkeypatch, sweep_args, tmp_path
):
    grid = ["optimizer.lr=0.003,0.001", "trainer.batch_size=16,32"]
    multirun_in_process(monkeypatch, *sweep_args, *grid, f"hydra.sweep.dir={tmp_path}/grid")

    ((parent, children),) = sweep_runs(sweep_args).items()
    assert parent.info.status == "FINISHED" and parent.data.tags["sweeper"] == "BasicSweeper"
    assert set(grid) <= set(parent.data.tags["overrides"].split())
    assert parent.data.metrics["trials"] == 4 and parent.data.metrics["failed_trials"] == 0
    assert sorted(c.info.run_name for c in children) == sorted(
        f"optimizer.lr={lr},trainer.batch_size={bs}"
        for lr in ("0.003", "0.001")
        for bs in ("16", "32")
    )
    for child in children:
        assert child.info.status == "FINISHED" and child.data.tags["trial_state"] == "COMPLETE"
        assert child.data.tags["kind"] == "train"
        assert set(child.info.run_name.split(",")) <= set(child.data.tags["overrides"].split())
        job_log = mlflow.artifacts.load_text(f"runs:/{child.info.run_id}/train.log")
        assert "[cnnlab.training.fit][INFO] - run " in job_log  # Hydra's log of the job
        assert "model lenet5 (61,706 parameters, float32, 1 replica(s))" in job_log
    values = [c.data.metrics["val_accuracy"] for c in children]
    best = next(c for c in children if c.info.run_id == parent.data.tags["best_run_id"])
    assert (
        best.data.metrics["val_accuracy"] == max(values) == parent.data.metrics["best_val_accuracy"]
    )
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    plots = {
        a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id, "objective_vs")
    }
    assert {"objective_per_trial.png", "overrides.txt"} <= artifacts
    assert plots == {"objective_vs/optimizer.lr.png", "objective_vs/trainer.batch_size.png"}


OPTUNA = [
    "hydra/sweeper=cnnlab_optuna",
    # A trial that learns, one that stays at chance (pruned after its first epoch by the
    # threshold) and one with an invalid value (fails; the sweep goes on).
    "optimizer.lr=choice(0.003,0.0000001,-1)",
    "hydra.sweeper.sampler._target_=optuna.samplers.RandomSampler",
    "hydra.sweeper.sampler.seed=5",  # draws 1e-7, 0.003, 0.003, -1 (optuna 5.0)
    "hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
    "~hydra.sweeper.pruner.n_startup_trials",
    "~hydra.sweeper.pruner.n_warmup_steps",
    "+hydra.sweeper.pruner.lower=0.2",
    "trainer.epochs=1",
    "sweep.study_name=resumable",
]


def test_optuna_sweep_prunes_fails_and_resumes_from_storage(monkeypatch, sweep_args, tmp_path):
    args = sweep_args + OPTUNA
    multirun_in_process(
        monkeypatch, *args, "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={tmp_path}/a"
    )

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.load_study(study_name="resumable", storage=storage)
    states = [t.state.name for t in study.trials]
    assert states == ["PRUNED", "COMPLETE", "COMPLETE", "FAIL"]
    ((parent, children),) = sweep_runs(args).items()
    assert parent.info.status == "FINISHED" and parent.data.tags["sweeper"] == "CnnlabOptunaSweeper"
    assert [c.data.tags["trial_state"] for c in children] == states
    assert [c.info.status for c in children] == ["KILLED", "FINISHED", "FINISHED", "FAILED"]
    assert parent.data.metrics["failed_trials"] == 1 and parent.data.metrics["pruned_trials"] == 1
    assert "optimizer.lr=-1.0 is invalid" in children[3].data.tags["error"]
    # The value each trial returned to the sweeper is its run's logged validation accuracy.
    for trial, child in zip(study.trials[1:3], children[1:3], strict=True):
        assert child.data.tags["optuna.trial"] == str(trial.number)
        assert trial.value == child.data.metrics["val_accuracy"]
    assert parent.data.metrics["best_val_accuracy"] == study.best_value
    results = OmegaConf.load(tmp_path / "a" / "optimization_results.yaml")
    assert results.best_trial == study.best_trial.number and results.best_value == study.best_value
    assert results.best_params == study.best_params and results.name == "resumable"

    # A sweep stopped mid-trial leaves that trial RUNNING; the rerun retries it first.
    study.enqueue_trial({"optimizer.lr": 0.003})
    interrupted = study.ask(
        {"optimizer.lr": optuna.distributions.CategoricalDistribution([0.003, 1e-7, -1])}
    )
    multirun_in_process(
        monkeypatch, *args, "hydra.sweeper.n_trials=6", f"hydra.sweep.dir={tmp_path}/b"
    )

    trials = optuna.load_study(study_name="resumable", storage=storage).trials
    assert len(trials) == 7  # 4 + the interrupted one + its retry + one new
    assert trials[4].state.name == "FAIL" and trials[4].user_attrs["interrupted"]
    assert trials[5].params == interrupted.params and trials[5].state.name == "COMPLETE"
    ((same_parent, children),) = sweep_runs(args).items()  # the study's one parent, continued
    assert same_parent.info.run_id == parent.info.run_id and same_parent.info.status == "FINISHED"
    assert [c.data.tags["optuna.trial"] for c in children] == ["0", "1", "2", "3", "5", "6"]
    assert same_parent.data.metrics["trials"] == 6
    # Trials 1, 2 and 5 ran the same value: of equal values, both name the lowest number.
    results = OmegaConf.load(tmp_path / "b" / "optimization_results.yaml")
    assert same_parent.data.tags["best_trial"].startswith(f"{results.best_trial} (")
    assert same_parent.data.metrics["best_val_accuracy"] == results.best_value


@pytest.mark.slow  # 30 s idle: two processes each start TensorFlow (`make test-all`)
@pytest.mark.xdist_group("sweep-subprocess")  # its own store: it can run beside the others
def test_joblib_launcher_runs_trials_in_parallel_under_one_parent(sweep_args, tmp_path):
    args = [
        *sweep_args,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "optimizer.lr=0.003,0.001",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    subprocess.run(
        [sys.executable, str(PIPELINE), "--multirun", *args, f"hydra.sweep.dir={tmp_path}/j"],
        check=True,
        env=env,
        capture_output=True,
        timeout=300,
    )
    ((parent, children),) = sweep_runs(args).items()
    assert parent.info.status == "FINISHED" and parent.data.tags["launcher"] == "JoblibLauncher"
    assert sorted(c.info.run_name for c in children) == ["optimizer.lr=0.001", "optimizer.lr=0.003"]
    assert all(c.info.status == "FINISHED" for c in children)
    first, second = children
    assert second.info.start_time < first.info.end_time  # they overlapped: run in parallel


def test_sweep_objective_is_the_runs_logged_validation_metric_and_the_run_its_data(
    make_cfg, tmp_path
):
    cfg = make_cfg("trainer.epochs=2", "trainer.steps_per_epoch=3", "tracking.log_model=false")
    result = train(cfg, output_dir=tmp_path)
    run = get_run(result.run_id, cfg.tracking)
    logged = run.data.metrics
    assert sweep_objective(result, cfg.sweep) == logged["val_accuracy"] != logged["test_accuracy"]
    assert run.data.tags["kind"] == "train"
    (dataset,) = [i.dataset for i in run.inputs.dataset_inputs]  # the dashboard's Dataset column
    assert dataset.name == "digits" and "1293" in dataset.source


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "sweep.metric=test_accuracy",
            r"sweep.metric='test_accuracy' is invalid: expected a validation",
        ),
        ("data.val_fraction=0", r"data.val_fraction=0 is invalid in a sweep: expected > 0"),
    ],
)
def test_a_sweep_needs_a_validation_objective(make_cfg, override, message):
    with pytest.raises(ConfigError, match=message):
        require_validation_split(make_cfg(override))


def test_search_space_reads_the_optuna_plugin_syntax():
    space, fixed = search_space(
        {
            "optimizer.lr": "tag(log, interval(1e-4, 1e-1))",
            "trainer.batch_size": "choice(16, 32)",
            "model.alpha": "range(1, 5)",
            "model.width": "tag(int, interval(2, 8))",
        },
        ["model.dropout=interval(0, 0.5)", "trainer.epochs=3", "trainer.batch_size=64"],
    )
    d = optuna.distributions
    assert space == {
        "optimizer.lr": d.FloatDistribution(1e-4, 1e-1, log=True),
        "model.alpha": d.IntDistribution(1, 4),  # Hydra's range excludes its stop
        "model.width": d.IntDistribution(2, 8),
        "model.dropout": d.FloatDistribution(0, 0.5),
    }
    assert fixed == ["trainer.epochs=3", "trainer.batch_size=64"]  # the command line wins


@pytest.mark.slow
@pytest.mark.xdist_group("sweep-subprocess")
def test_ray_launcher_runs_a_sweep_on_a_local_ray_instance(sweep_args, tmp_path):
    """The cluster route on one machine: a loopback-only Ray instance started by the launcher."""
    args = [
        *sweep_args,
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",
        "+hydra.launcher.ray.init.include_dashboard=false",
        "+hydra.launcher.ray.init._node_ip_address=127.0.0.1",
        "optimizer.lr=0.003,0.001",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    subprocess.run(
        [sys.executable, str(PIPELINE), "--multirun", *args, f"hydra.sweep.dir={tmp_path}/r"],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    ((parent, children),) = sweep_runs(args).items()
    assert parent.info.status == "FINISHED" and parent.data.tags["launcher"] == "RayLauncher"
    assert sorted(c.info.run_name for c in children) == ["optimizer.lr=0.001", "optimizer.lr=0.003"]
    assert all(c.info.status == "FINISHED" for c in children)


@pytest.fixture
def summary_log():
    """What the sweep summary logs (to Hydra's console); caplog's handler does not survive
    the logging configuration that Hydra applies when the sweep starts."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("cnnlab.tracking.sweeps")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def printed_best(log_text: str) -> tuple[int, float]:
    """(number, value) of the summary's line `best trial 3 (...): val_accuracy=0.9861`."""
    number, value = re.findall(r"best trial (\d+) \(.*\): val_accuracy=([\d.]+)", log_text)[-1]
    return int(number), float(value)


TPE_ON_LR = [
    "hydra/sweeper=cnnlab_optuna",
    "hydra.sweeper.sampler.seed=0",
    "optimizer.lr=tag(log,interval(0.0001,0.01))",
]


@pytest.mark.slow  # 4 trials in 2 sweeps: 30 s idle (`make test-all`)
def test_a_resumed_study_draws_new_points_under_its_one_parent_run(
    monkeypatch, sweep_args, tmp_path, summary_log
):
    args = [*sweep_args, *TPE_ON_LR, "trainer.steps_per_epoch=2", "sweep.study_name=continued"]
    multirun_in_process(
        monkeypatch, *args, "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={tmp_path}/a"
    )
    multirun_in_process(
        monkeypatch, *args, "hydra.sweeper.n_trials=4", f"hydra.sweep.dir={tmp_path}/b"
    )

    study = optuna.load_study(study_name="continued", storage=f"sqlite:///{tmp_path}/optuna.db")
    lrs = [t.params["optimizer.lr"] for t in study.trials]
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert len(set(lrs)) == 4  # the same seed would have replayed trials 0 and 1
    ((parent, children),) = sweep_runs(args).items()
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials"] == 4
    assert [c.data.tags["optuna.trial"] for c in children] == ["0", "1", "2", "3"]
    overrides = mlflow.artifacts.load_text(f"{parent.info.artifact_uri}/overrides.txt")
    assert "hydra.sweeper.n_trials=2\n" in overrides and "hydra.sweeper.n_trials=4\n" in overrides
    # One best trial: the study's, in the console, the parent's tag and the YAML alike.
    results = OmegaConf.load(tmp_path / "b" / "optimization_results.yaml")
    assert results.best_trial == study.best_trial.number and results.best_value == study.best_value
    assert parent.data.tags["best_trial"].startswith(f"{results.best_trial} (")
    assert parent.data.metrics["best_val_accuracy"] == results.best_value
    number, value = printed_best(summary_log.getvalue())
    assert number == results.best_trial and value == round(results.best_value, 4)


@pytest.mark.parametrize(
    "storage", ["sqlite:///{}/optuna.db", "journal:{}/optuna.log"], ids=["rdb", "journal"]
)
@pytest.mark.parametrize("sampler", ["optuna.samplers.TPESampler", "optuna.samplers.RandomSampler"])
def test_a_reopened_study_samples_points_it_has_not_drawn(tmp_path, storage, sampler):
    url = storage.format(tmp_path)
    spec = OmegaConf.create({"_target_": sampler, "seed": 0})
    nop = OmegaConf.create({"_target_": "optuna.pruners.NopPruner"})
    lr = {"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}

    def run_three() -> list[float]:
        study = open_study("s", url, "maximize", spec, nop)
        trials = [study.ask(lr) for _ in range(3)]
        for trial in trials:
            study.tell(trial, trial.params["lr"])
        return [t.params["lr"] for t in trials]

    first, second = run_three(), run_three()
    assert not set(first) & set(second)
    assert len(open_study("s", url, "maximize", spec, nop).trials) == 6


def test_a_sweep_left_running_by_a_dead_process_is_killed_and_a_live_one_left_alone(
    mlflow_dir, tmp_path
):
    tracking = TrackingConfig(uri=f"sqlite:///{mlflow_dir}/mlflow.db", experiment="abandoned")
    mlflow.set_tracking_uri(tracking.uri)
    experiment_id = mlflow.create_experiment("abandoned", f"{tmp_path.as_uri()}/artifacts")
    client = mlflow.MlflowClient()
    gone = subprocess.Popen(["true"])
    gone.wait()

    def sweep(pid: int) -> str:
        tags = {
            "kind": "sweep",
            "sweep.host": socket.gethostname(),
            "sweep.pid": str(pid),
            "sweep.metric": "val_accuracy",
            "sweep.direction": "maximize",
            "optuna.study": f"study-of-{pid}",
        }
        return client.create_run(experiment_id, tags=tags).info.run_id

    dead, live = sweep(gone.pid), sweep(os.getppid())
    trial = client.create_run(experiment_id, tags={"mlflow.parentRunId": dead}).info.run_id
    end_abandoned_sweeps(experiment_id, keep=None)

    assert client.get_run(dead).info.status == "KILLED"
    assert client.get_run(dead).data.metrics["failed_trials"] == 1
    assert client.get_run(trial).info.status == "KILLED"
    assert client.get_run(trial).data.tags["trial_state"] == "FAIL"
    assert client.get_run(live).info.status == "RUNNING"
    with pytest.raises(ConfigError, match=r"sweep.study_name=study-of-\d+ is invalid: its sweep"):
        require_study_idle(tracking, f"study-of-{os.getppid()}")  # a resume now would fail it
    require_study_idle(tracking, f"study-of-{gone.pid}")


def trial_runs(args: list[str], status: str) -> list:
    """The experiment's trial runs (tag `optuna.trial`) that have `status`."""
    values = dict(a.split("=", 1) for a in args if "=" in a)
    mlflow.set_tracking_uri(values["tracking.uri"])
    return mlflow.search_runs(
        experiment_names=[values["tracking.experiment"]],
        filter_string=f"tags.`optuna.trial` != '' and attributes.status = '{status}'",
        output_format="list",
    )


@pytest.mark.slow  # two processes start TensorFlow for 4-5 trials: over a minute (`make test-all`)
@pytest.mark.xdist_group("sweep-subprocess")
@pytest.mark.parametrize(
    ("launcher", "killed_during"),
    [
        ([], {"1"}),  # the second trial
        (
            ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2"],
            {"0", "1"},
        ),
    ],
    ids=["basic", "joblib"],
)
def test_a_sweep_killed_during_trials_resumes_as_one_study(
    sweep_args, tmp_path, launcher, killed_during
):
    args = [
        *sweep_args,
        *TPE_ON_LR,
        *launcher,
        "trainer.steps_per_epoch=40",
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    command = [sys.executable, str(PIPELINE), "--multirun", *args, "hydra.sweeper.n_trials=3"]
    trial_runs(args, "RUNNING")  # create the MLflow store here, not racing the sweep to it
    sweep = subprocess.Popen(
        [*command, f"hydra.sweep.dir={tmp_path}/a"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "killed.err").open("w"),
        start_new_session=True,  # its own process group, with the workers it leaves behind
    )
    deadline = time.monotonic() + 300
    while not {r.data.tags["optuna.trial"] for r in trial_runs(args, "RUNNING")} >= killed_during:
        ended = sweep.poll() is not None or time.monotonic() > deadline
        assert not ended, f"no trial to interrupt: {(tmp_path / 'killed.err').read_text()[-3000:]}"
        time.sleep(0.1)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    (killed_sweep,) = sweep_runs(args)  # tagged with the study it named, as a user reads it
    name = killed_sweep.data.tags["optuna.study"]

    try:  # joblib's workers outlive the sweep and may finish their trials' runs meanwhile
        resumed = subprocess.run(
            [*command, f"hydra.sweep.dir={tmp_path}/b", f"sweep.study_name={name}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep.pid, signal.SIGKILL)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    interrupted = [t for t in study.trials if t.user_attrs.get("interrupted")]
    assert len(complete) == 3 and len({t.params["optimizer.lr"] for t in complete}) == 3
    assert {str(t.number) for t in interrupted} == killed_during
    assert all(t.state.name == "FAIL" for t in interrupted)
    ((parent, children),) = sweep_runs(args).items()
    killed = len(killed_during)
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials"] == 3 + killed
    states = sorted(c.data.tags["trial_state"] for c in children)
    assert states == ["COMPLETE"] * 3 + ["FAIL"] * killed
    assert not trial_runs(args, "RUNNING")
    results = OmegaConf.load(tmp_path / "b" / "optimization_results.yaml")
    printed = printed_best(resumed.stdout + resumed.stderr)
    assert printed == (results.best_trial, round(results.best_value, 4))


def test_basic_sweep_runs_every_job_then_exits_non_zero_naming_the_failed_one(
    monkeypatch, sweep_args, tmp_path
):
    status, stderr = run_pipeline(
        monkeypatch,
        "train",
        "--multirun",
        *sweep_args,
        "optimizer.lr=-1,-2",  # both fail on their value, before any training
        f"hydra.sweep.dir={tmp_path}/failing",
    )
    assert status == 2
    assert "Error executing job with overrides: [" in stderr
    assert "'optimizer.lr=-1']" in stderr  # the first failed job, by its overrides
    assert "error: optimizer.lr=-1.0 is invalid: expected a number > 0" in stderr
    ((_, children),) = sweep_runs(sweep_args).items()
    assert sorted(c.info.run_name for c in children) == ["optimizer.lr=-1", "optimizer.lr=-2"]
    assert all(c.info.status == "FAILED" for c in children)  # every job ran


def test_optuna_sweep_keeps_its_study_in_a_journal_file(monkeypatch, sweep_args, tmp_path):
    journal = tmp_path / "study.log"
    args = [a for a in sweep_args if not a.startswith("sweep.storage=")]
    multirun_in_process(
        monkeypatch,
        *args,
        "hydra/sweeper=cnnlab_optuna",
        "optimizer.lr=choice(-1,-2)",  # trials that fail on their value: no training
        "hydra.sweeper.n_trials=2",
        "sweep.study_name=journaled",
        f"sweep.storage=journal:{journal}",
        f"hydra.sweep.dir={tmp_path}/sweep",
    )
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    trials = optuna.load_study(study_name="journaled", storage=storage).trials
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert {t.params["optimizer.lr"] for t in trials} <= {-1, -2}
