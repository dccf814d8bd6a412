"""Run a pipeline's command line in the test process, as `python pipelines/<name>.py ARGS` would.

A fresh interpreter costs seconds of CPU to import TensorFlow and MLflow; the pipelines' own
behaviour (Hydra's parsing, `cli.run`'s one-line errors and exit codes) is the same in process.
Tests of what only a fresh process shows (TensorFlow's start-up lines, loading a model without
cnnlab) keep their subprocess.
"""

import contextlib
import importlib.util
import io
import sys
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from cnnlab import cli

ROOT = Path(__file__).resolve().parents[2]
# Hydra's logging set-up (logging.config.dictConfig) would close the test runner's own log
# handlers in this process; the pipelines' errors are written to stderr, not logged.
NO_LOGGING_SETUP = ("hydra/job_logging=none", "hydra/hydra_logging=none")


def run_pipeline(monkeypatch: pytest.MonkeyPatch, name: str, *args: str) -> tuple[int, str]:
    """Exit status and stderr of `pipelines/<name>.py ARGS`, run through `cli.run` here."""
    path = ROOT / "pipelines" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_pipeline", path)
    pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pipeline)
    flags = [a for a in args if a.startswith("--")]  # before the overrides, as argparse wants
    overrides = [a for a in args if not a.startswith("--")]
    argv = [str(path), f"--config-path={ROOT / 'conf'}", *flags, *NO_LOGGING_SETUP, *overrides]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")  # what cli.run sets in its own process
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            cli.run(pipeline.main, config_name=name)
        return 0, stderr.getvalue()
    except SystemExit as exit_:
        return exit_.code, stderr.getvalue()
    finally:  # leave no Hydra state behind for the tests that follow in this process
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
