"""Starting and stopping the servers the tests talk to over loopback HTTP."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_env_bin(env: dict[str, str]) -> dict[str, str]:
    """MLflow's servers run `uvicorn` from PATH: this interpreter's bin folder goes first, as
    when the environment is activated. MLflow's job runner (a process and seven huey consumers
    for GenAI scorers, which cnnlab never queues) stays off: it took CPU from the tests."""
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }


def wait_for(url: str, server: subprocess.Popen, log: Path, seconds: float) -> None:
    """Poll `url` until it answers; fail with the server's log if it exits or times out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (its workers too), SIGKILL if it lingers."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
