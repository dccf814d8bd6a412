"""Starting and stopping the servers the tests talk to over loopback HTTP."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

PORT_TRIES = 3


class ServerExited(RuntimeError):
    """The server process ended before it answered."""


def free_port() -> int:
    """A loopback port the kernel just handed out and released: free now, not reserved."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(output: str) -> bool:
    """Does a server's output say that another process took its port first?"""
    return "address already in use" in output.lower()


def serve_on_a_free_port(
    start: Callable[[int], subprocess.Popen], ping: str, log: Path, seconds: float
) -> tuple[subprocess.Popen, int]:
    """Start a server with `start(port)` and wait until `ping` (a URL with `{port}`) answers.

    Servers that cannot bind port 0 and report the port they got are given a port that was
    free a moment before; when another process takes it in between, the server exits with
    "Address already in use" and this starts it again on a new port (PORT_TRIES in all)."""
    tries = 1
    while True:
        port = free_port()
        server = start(port)
        try:
            wait_for(ping.format(port=port), server, log, seconds)
            return server, port
        except ServerExited:
            if tries == PORT_TRIES or not port_taken(log.read_text()):
                raise
        tries += 1


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
            raise ServerExited(f"server exited:\n{log.read_text()[-3000:]}")
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
