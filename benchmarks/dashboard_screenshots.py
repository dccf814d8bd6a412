"""Screenshots of a sweep and an ensemble in the real dashboard: `make screenshots`.

Trains a tiny 4-trial grid sweep and a 2-member ensemble on the digits into a scratch store,
serves it as `make ui` does (`mlflow ui --app-name cnnlab` on 127.0.0.1), opens the experiment's
plain URL (`#/experiments/<id>`, what a click in MLflow's experiment list opens) in headless
Chromium with a fresh profile, as a new user would, expands the sweep, then the ensemble, and
saves 1400x900 PNGs in benchmarks/screenshots/. Needs Debian's chromium (`apt-get install -y
chromium`); Chromium is driven over its DevTools protocol on loopback (aiohttp, which MLflow
installs).

    python benchmarks/dashboard_screenshots.py [--store DIR] [--out benchmarks/screenshots]
"""

import argparse
import asyncio
import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp

log = logging.getLogger("dashboard_screenshots")
ROOT = Path(__file__).resolve().parents[1]
SIZE = (1400, 900)
TINY = ("trainer.epochs=2", "trainer.verbose=0")
RUNS_TABLE = "document.body.innerText.includes('val_accuracy')"  # a cnnlab column is shown


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def store_overrides(store: Path) -> list[str]:
    return [
        f"tracking.uri=sqlite:///{store}/mlflow.db",
        f"tracking.artifact_location={store}/mlartifacts",
        f"data.data_dir={store}/tfds",
        *TINY,
    ]


def make_runs(store: Path) -> None:
    """A 4-trial grid sweep and a 2-member ensemble, as README's commands run them."""
    python = [sys.executable]
    stores = store_overrides(store)
    sweep = ["optimizer.lr=0.1,0.01", "model=lenet5,simple_convnet"]
    for command in (
        [
            *python,
            "pipelines/train.py",
            "--multirun",
            *sweep,
            *stores,
            f"hydra.sweep.dir={store}/multirun",
        ],
        [
            *python,
            "pipelines/ensemble.py",
            "ensemble.members=2",
            *stores,
            f"hydra.run.dir={store}/ensemble",
        ],
    ):
        log.info("%s", " ".join(command[1:3]))
        subprocess.run(command, cwd=ROOT, check=True)


@contextlib.contextmanager
def dashboard(uri: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`mlflow ui --app-name cnnlab` over `uri` on a free loopback port; yields its address."""
    port = free_port()
    env = dict(env or os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # its uvicorn
    command = [sys.executable, "-m", "mlflow", "ui", "--app-name", "cnnlab", "--workers", "1"]
    command += ["--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as output:
        server = subprocess.Popen(
            command, env=env, stdout=output, stderr=output, start_new_session=True
        )
        try:
            address = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    raise RuntimeError(
                        f"mlflow ui did not start:\n{output.read().decode()[-3000:]}"
                    )
                try:
                    with urllib.request.urlopen(f"{address}/health", timeout=2):
                        break
                except OSError:
                    time.sleep(0.5)
            yield address
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


class Page:
    """One Chromium tab over the DevTools protocol: navigate, evaluate JavaScript, screenshot."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse):
        self.socket = socket
        self.calls = 0

    async def send(self, method: str, **params) -> dict:
        self.calls += 1
        await self.socket.send_json({"id": self.calls, "method": method, "params": params})
        while True:
            message = await self.socket.receive_json()
            if message.get("id") == self.calls:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str):
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)

    async def wait_for(self, expression: str, seconds: float = 60) -> None:
        """Until the JavaScript `expression` is true (the page renders as its data arrives)."""
        deadline = time.monotonic() + seconds
        while not await self.evaluate(expression):
            if time.monotonic() > deadline:
                text = await self.evaluate("document.body.innerText")
                raise TimeoutError(f"{expression} stayed false on {await self.url()}:\n{text}")
            await asyncio.sleep(0.5)

    async def url(self) -> str:
        return await self.evaluate("location.href")

    async def text(self) -> str:
        return await self.evaluate("document.body.innerText")

    async def screenshot(self, path: Path) -> None:
        data = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(data["data"]))


@contextlib.asynccontextmanager
async def chromium():
    """Headless Chromium with a fresh profile (a new user's browser), DevTools on loopback."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise FileNotFoundError("chromium is not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        command += ["--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=0"]
        command += [f"--window-size={SIZE[0]},{SIZE[1]}", "about:blank"]
        browser = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text().strip():
                if browser.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chromium did not start")
                await asyncio.sleep(0.2)
            port = port_file.read_text().split()[0]
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = await response.json()
                tab = next(t for t in targets if t["type"] == "page")
                async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    page = Page(ws)
                    await page.send(
                        "Emulation.setDeviceMetricsOverride",
                        width=SIZE[0],
                        height=SIZE[1],
                        deviceScaleFactor=1,
                        mobile=False,
                    )
                    yield page
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGTERM)
            browser.wait(timeout=30)


async def open_experiment(page: Page, address: str, experiment_id: str) -> None:
    """The plain experiment URL, until its runs table shows cnnlab's columns."""
    await page.goto(f"{address}/#/experiments/{experiment_id}")
    await page.wait_for(RUNS_TABLE)


async def click_experiment(page: Page, address: str, experiment_id: str) -> None:
    """MLflow's list of experiments, then a click on one, until its runs table shows cnnlab's
    columns."""
    await page.goto(f"{address}/#/experiments")
    link = f"document.querySelector('a[href$=\"/experiments/{experiment_id}\"]')"
    await page.wait_for(f"!!{link}")
    await page.evaluate(f"{link}.click()")
    await page.wait_for(RUNS_TABLE)


async def expand(page: Page, run_name_prefix: str) -> None:
    """Expand the parent run whose name starts with `run_name_prefix` (sweep-, ensemble-)."""
    clicked = await page.evaluate(
        "(() => { for (const row of document.querySelectorAll('[role=row]')) {"
        f" const link = [...row.querySelectorAll('a')].find(a => a.textContent.startsWith('{run_name_prefix}'));"
        " const button = link && row.querySelector('button');"
        " if (button) { button.click(); return true; } } return false; })()"
    )
    if not clicked:
        raise RuntimeError(f"no parent run {run_name_prefix}* to expand:\n{await page.text()}")
    await asyncio.sleep(2)


async def take(address: str, experiment_id: str, out: Path) -> None:
    async with chromium() as page:
        await open_experiment(page, address, experiment_id)
        await expand(page, "sweep-")
        await page.screenshot(out / "sweep_dashboard.png")
        await expand(page, "sweep-")  # collapse it again
        await expand(page, "ensemble-")
        await page.screenshot(out / "ensemble_dashboard.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a store made by an earlier call (else train)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "screenshots")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with contextlib.ExitStack() as stack:
        store = args.store or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.store is None:
            make_runs(store)
        import mlflow

        uri = f"sqlite:///{store.resolve()}/mlflow.db"
        experiment = mlflow.MlflowClient(uri).get_experiment_by_name("cnnlab")
        with dashboard(uri) as address:
            asyncio.run(take(address, experiment.experiment_id, args.out))
    log.info("wrote %s/{sweep,ensemble}_dashboard.png", args.out)


if __name__ == "__main__":
    main()
