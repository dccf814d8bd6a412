"""A team's store: a real PostgreSQL and a real `mlflow server --app-name basic-auth` on it.

The fixture starts Debian's PostgreSQL server binaries in a temporary folder on a loopback
port (as the `postgres` user when the tests run as root, since PostgreSQL refuses root), and
the MLflow server on another loopback port, with its users in a second database. The tests
run a small sweep-like parent with trained children and an ensemble through the HTTP tracking
URI as one user, read them back with MLflow's REST client, and check that requests without
credentials or from a user without permission are refused and write nothing.
"""

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
import pytest
import requests
from support.compose import compose_config
from support.servers import (
    PORT_TRIES,
    free_port,
    port_taken,
    serve_on_a_free_port,
    stop,
    with_env_bin,
)

from cnnlab import tracking
from cnnlab.ensemble import build_ensemble
from cnnlab.training import train

# `make test-services` (and .ci/run after `make test`): the servers' set-up takes minutes of
# CPU; one worker, so the module's fixtures run once.
pytestmark = [pytest.mark.team_store, pytest.mark.xdist_group("team_store")]


ADMIN, ALICE, BOB = (
    ("admin", "admin-password-1"),
    ("alice", "alice-password-1"),
    ("bob", "bob-password-12"),
)


def postgres_bin() -> Path | None:
    """Debian keeps the server binaries in /usr/lib/postgresql/<version>/bin (not on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; Debian's package creates the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server on 127.0.0.1 with the databases `mlflow` and `mlflow_auth`."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing: apt-get install -y postgresql")
        pytest.skip("PostgreSQL's server binaries are missing (apt-get install -y postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-postgres-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    data, log = folder / "data", folder / "log"
    subprocess.run(
        as_postgres(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "cnnlab", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    for tries in range(1, PORT_TRIES + 1):  # again on a new port if another process took it
        port = free_port()
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log)]
        if subprocess.run(as_postgres([*start, "-w", "start"]), capture_output=True).returncode:
            if tries < PORT_TRIES and port_taken(log.read_text()):
                continue
            raise RuntimeError(f"PostgreSQL did not start:\n{log.read_text()[-3000:]}")
        break
    try:
        import psycopg  # SQLAlchemy 2.1's driver for postgresql:// URIs

        with psycopg.connect(
            host="127.0.0.1", port=port, user="cnnlab", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute("CREATE DATABASE mlflow")
            connection.execute("CREATE DATABASE mlflow_auth")
        yield f"postgresql://cnnlab@127.0.0.1:{port}"
    finally:
        subprocess.run(
            as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def team_server(postgres, tmp_path_factory):
    """`mlflow server --app-name basic-auth` on PostgreSQL, with users alice and bob."""
    folder = tmp_path_factory.mktemp("team")
    auth_ini = folder / "basic_auth.ini"
    auth_ini.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {postgres}/mlflow_auth\n"
        f"admin_username = {ADMIN[0]}\n"
        f"admin_password = {ADMIN[1]}\n"
    )
    log = folder / "server.log"
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "cnnlab-test-secret",
    }

    def serve(port: int) -> subprocess.Popen:
        with log.open("w") as output:
            return subprocess.Popen(
                [
                    *(sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth"),
                    *("--backend-store-uri", f"{postgres}/mlflow"),
                    *("--artifacts-destination", str(folder / "artifacts")),
                    *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
                ],
                env=with_env_bin(env),
                cwd=folder,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    server, port = serve_on_a_free_port(serve, "http://127.0.0.1:{port}/health", log, seconds=180)
    url = f"http://127.0.0.1:{port}"
    try:
        for user in (ALICE, BOB):
            response = requests.post(
                f"{url}/api/2.0/mlflow/users/create",
                json={"username": user[0], "password": user[1]},
                auth=ADMIN,
                timeout=30,
            )
            assert response.ok, response.text
        yield url
    finally:
        stop(server)


@pytest.fixture(scope="module")
def team_work(team_server, tfds_dir, tmp_path_factory):
    """As alice: a sweep-like parent with two trained children, then an ensemble of its best
    two children, all through the HTTP tracking URI."""
    store = [
        f"tracking.uri={team_server}",
        "tracking.artifact_location=null",  # the server's proxied artifact store
        "tracking.experiment=team",
        f"data.data_dir={tfds_dir}",
        "trainer.verbose=0",
        "debug=fast",
        "tracking.experiment=team",
    ]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_USERNAME", ALICE[0])
        env.setenv("MLFLOW_TRACKING_PASSWORD", ALICE[1])
        cfg = compose_config("train", *store)
        ensemble_cfg = compose_config("ensemble", *store)
        with tracking.run(cfg.tracking, "sweep", {"kind": "sweep"}) as sweep_id:
            pass
        children = []
        for seed in (1, 2):
            cfg.seed = seed
            result = train(cfg, output_dir=tmp_path_factory.mktemp("child"))
            tracking.set_run_tags(result.run_id, {"mlflow.parentRunId": sweep_id}, cfg.tracking)
            children.append(result.run_id)
        ensemble_cfg.ensemble.sweep_parent = sweep_id
        ensemble_cfg.ensemble.top_k = 2
        ensemble = build_ensemble(ensemble_cfg, output_dir=tmp_path_factory.mktemp("ensemble"))
        yield cfg, sweep_id, children, ensemble


def client_as(user: tuple[str, str], url: str, monkeypatch) -> mlflow.MlflowClient:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
    return mlflow.MlflowClient(tracking_uri=url)


def test_sweep_and_ensemble_read_back_through_the_rest_client(team_server, team_work, monkeypatch):
    cfg, sweep_id, children, ensemble = team_work
    client = client_as(ALICE, team_server, monkeypatch)
    assert client.get_run(sweep_id).data.tags["kind"] == "sweep"
    found = client.search_runs(
        [client.get_experiment_by_name("team").experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{sweep_id}'",
    )
    assert {run.info.run_id for run in found} == set(children)
    for run in found:
        assert run.data.params["model.name"] == "lenet5" and "test_accuracy" in run.data.metrics
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {
            "config.yaml",
            "curves.png",
        }
    parent = client.get_run(ensemble.run_id)
    assert parent.data.tags["kind"] == "ensemble"
    assert parent.data.metrics["test_accuracy"] == pytest.approx(ensemble.accuracy["mean"])
    assert parent.data.params["ensemble.sweep_parent"] == sweep_id
    assert {a.path for a in client.list_artifacts(ensemble.run_id)} >= {
        "ensemble.md",
        "ensemble.png",
    }
    for child in children:
        assert client.get_run(child).data.tags[f"ensemble.{ensemble.run_id}"] == "member"
    model = tracking.load_model(ensemble.run_id, cfg.tracking)  # artifacts through the server
    assert model.outputs[0].shape[-1] == 10


def test_requests_without_credentials_are_refused(team_server, team_work):
    _, sweep_id, _, _ = team_work
    response = requests.post(
        f"{team_server}/api/2.0/mlflow/runs/log-metric",
        json={"run_id": sweep_id, "key": "anonymous", "value": 1.0, "timestamp": 0},
        timeout=30,
    )
    assert response.status_code == 401
    response = requests.get(f"{team_server}/api/2.0/mlflow/runs/get", params={"run_id": sweep_id})
    assert response.status_code == 401


def test_a_user_without_permission_cannot_write_to_the_experiment(
    team_server, team_work, monkeypatch
):
    _, sweep_id, _, _ = team_work
    alice = client_as(ALICE, team_server, monkeypatch)
    experiment_id = alice.get_experiment_by_name("team").experiment_id
    runs_before = len(alice.search_runs([experiment_id]))
    refused = [
        requests.post(
            f"{team_server}/api/2.0/mlflow/runs/create",
            json={"experiment_id": experiment_id, "run_name": "intruder"},
            auth=BOB,
            timeout=30,
        ),
        requests.post(
            f"{team_server}/api/2.0/mlflow/runs/log-metric",
            json={"run_id": sweep_id, "key": "intruder", "value": 1.0, "timestamp": 0},
            auth=BOB,
            timeout=30,
        ),
    ]
    assert [r.status_code for r in refused] == [403, 403]
    # bob may read (the server's default permission is READ) but wrote nothing
    readable = requests.get(
        f"{team_server}/api/2.0/mlflow/runs/get", params={"run_id": sweep_id}, auth=BOB, timeout=30
    )
    assert readable.status_code == 200
    assert len(alice.search_runs([experiment_id])) == runs_before
    assert "intruder" not in alice.get_run(sweep_id).data.metrics
