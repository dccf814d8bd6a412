"""Shared fixtures: configs composed from the real conf/ with Hydra's compose API, offline stores."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
from support.compose import compose_config

from cnnlab import native_logs
from cnnlab.config import TrainConfig

native_logs.quiet_by_default()

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` gives each of its 2 workers a core; TensorFlow's own thread pool per worker
    # would make the workers' threads spin and compete for the same cores.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


try:
    from _pytest.nodeid import coerce_node_id  # pytest 9.2's structured test ids
except ImportError:  # older pytest reads the id that pytest-xdist writes
    coerce_node_id = None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """`--dist loadgroup` keeps an `xdist_group` on one worker by suffixing its tests' ids with
    `@group`. pytest-xdist 3.8 writes the suffix to `item._nodeid`, which pytest 9.2 no longer
    reads: the groups were split over both workers, and their module fixtures (trained runs,
    servers) ran twice (pytest-xdist issue #1386). This writes it where pytest 9.2 reads the id."""
    if coerce_node_id is None or not getattr(config.option, "loadgroup", False):  # xdist workers
        return
    for item in items:
        groups = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(groups))
        if groups and not item.nodeid.endswith(suffix):
            item._id = coerce_node_id(item.nodeid + suffix)


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch):
    """Tests choose their own MLflow store; a user's $MLFLOW_TRACKING_URI must not leak in."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(autouse=True)
def _float32_after_each_test():
    """`train()` with a mixed precision sets Keras's global dtype policy; the next test's models
    must not inherit it (a bfloat16 ResNet-20 then missed a float32 parity check at 1e-4)."""
    yield
    import keras

    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(autouse=True, scope="module")
def _no_tracking_env_between_modules():
    """`mlflow.set_tracking_uri` also exports $MLFLOW_TRACKING_URI, which wins over the config:
    a module's own fixtures (set up before the per-test cleanup) must not inherit the store of
    the module before."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory) -> Path:
    """One TFDS data dir per test worker: the digits builder prepares into it once."""
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="session")
def mlflow_dir(tmp_path_factory) -> Path:
    """One SQLite store per worker (creating one runs MLflow's migrations, a few seconds)."""
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture
def make_cfg(tfds_dir, mlflow_dir, request):
    """Compose `conf/train.yaml` with test-safe stores, a tiny budget and the given overrides."""
    # One experiment per test, so its runs are easy to find; Hydra overrides need plain characters.
    experiment = re.sub(r"[^\w.-]", "_", request.node.name)[:200]

    def make(*overrides: str) -> TrainConfig:
        stores = [
            f"tracking.uri=sqlite:///{mlflow_dir}/mlflow.db",
            f"tracking.artifact_location={mlflow_dir}/artifacts",
            f"tracking.experiment={experiment}",
            "trainer.verbose=0",
        ]
        cfg = compose_config("train", *stores, *overrides)
        if getattr(cfg.data, "data_dir", "") is None:  # TFDS sources: a test data dir
            cfg = compose_config("train", f"data.data_dir={tfds_dir}", *stores, *overrides)
        return cfg

    return make


@pytest.fixture
def rng():
    """A NumPy generator seeded afresh for each test: its draws do not depend on which tests ran
    before it on the same worker."""
    return np.random.default_rng(0)
