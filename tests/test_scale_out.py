"""Precision policies and tf.distribute strategies."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from omegaconf import OmegaConf
from support.servers import PORT_TRIES, free_port, port_taken

from cnnlab import models, tracking
from cnnlab.data import build_datasets
from cnnlab.errors import ConfigError
from cnnlab.training.compile import build_compiled_state
from cnnlab.training.precision import set_precision
from cnnlab.training.strategy import build_strategy

ROOT = Path(__file__).resolve().parents[1]

FAMILIES = ["lenet5", "alexnet", "vgg11", "googlenet", "resnet20", "mobilenet"]  # one per family


@pytest.fixture
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


# float16 has no fast CPU kernels (one ResNet-20 step on 4 images: ~3 s, minutes for the larger
# models): beyond LeNet-5 its runs are slow tests; bfloat16 runs every family in `make test`.
SLOW_ON_CPU = {
    ("resnet20", "mixed_float16"),
    ("mobilenet", "mixed_float16"),
    ("alexnet", "mixed_float16"),
    ("vgg11", "mixed_float16"),
    ("googlenet", "mixed_float16"),
}
CASES = [
    pytest.param(name, policy, marks=[pytest.mark.slow] * ((name, policy) in SLOW_ON_CPU))
    for name in FAMILIES
    for policy in ("mixed_float16", "mixed_bfloat16")
]


@pytest.mark.parametrize(("name", "policy"), CASES)
def test_mixed_precision_trains_with_a_float32_softmax(name, policy, restore_policy):
    """Computation in 16 bits, the last softmax in float32 (as Keras's guide says); float16
    trains through a loss-scaling optimizer, which compile() puts in by itself."""
    set_precision(policy)
    keras.utils.set_random_seed(0)
    model = models.build(name, (32, 32, 3), 10)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
    images = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    labels = np.eye(10, dtype=np.float32)[:4]
    targets = dict.fromkeys(models.loss_weights(model), labels) or labels
    build_compiled_state(model, (images, targets))  # one trace of the step instead of two
    losses = [float(np.ravel(model.train_on_batch(images, targets))[0]) for _ in range(2)]
    assert all(np.isfinite(losses))
    outputs = keras.tree.flatten(model(images))
    assert all(keras.backend.standardize_dtype(o.dtype) == "float32" for o in outputs)
    conv = next(layer for layer in model.layers if "conv" in type(layer).__name__.lower())
    assert conv.compute_dtype == policy.removeprefix("mixed_")
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")


def test_multi_worker_without_tf_config_is_one_line(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(
        ConfigError, match=r"^trainer.strategy=multi_worker is invalid: expected TF_CONFIG"
    ):
        build_strategy("multi_worker")


MIRRORED = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from omegaconf import OmegaConf
from cnnlab.config import typed
from cnnlab.training import train
print("run", train(typed(OmegaConf.load(sys.argv[1])), output_dir=sys.argv[2]).run_id)
"""


def test_mirrored_trains_over_two_cpu_devices_and_logs_one_run(make_cfg, tmp_path):
    cfg = make_cfg(
        "trainer.strategy=mirrored",
        "optimizer.scale_lr=linear",
        "schedule=constant",
        "debug=fast",
        "trainer.batch_size=16",
        "tracking.log_model=false",
    )
    OmegaConf.save(cfg, tmp_path / "cfg.yaml")
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path / "cfg.yaml"), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tracking.use_store(cfg.tracking)
    (run,) = mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")
    assert run.info.status == "FINISHED" and run.data.tags["replicas"] == "2"
    assert run.data.metrics["lr"] == pytest.approx(2 * cfg.optimizer.lr)  # scale_lr: linear


@pytest.mark.slow
def test_multi_worker_trains_as_two_local_processes_and_the_chief_logs_one_run(make_cfg, tmp_path):
    cfg = make_cfg("trainer.strategy=multi_worker", "debug=fast", "trainer.batch_size=16")
    build_datasets(cfg)  # prepared once: two processes preparing one TFDS folder would race
    command = [
        sys.executable,
        str(ROOT / "pipelines" / "train.py"),
        f"data.data_dir={cfg.data.data_dir}",
        f"tracking.uri={cfg.tracking.uri}",
        f"tracking.artifact_location={cfg.tracking.artifact_location}",
        f"tracking.experiment={cfg.tracking.experiment}",
        "trainer.strategy=multi_worker",
        "debug=fast",
        "trainer.batch_size=16",
        "trainer.verbose=0",
    ]

    def launch(workers: list[str]) -> list[subprocess.Popen]:
        return [
            subprocess.Popen(
                [*command, f"hydra.run.dir={tmp_path}/worker{index}"],
                env={
                    **os.environ,
                    "TF_CONFIG": json.dumps(
                        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
                    ),
                },
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(2)
        ]

    for tries in range(1, PORT_TRIES + 1):  # again on new ports if another process took one
        children = launch([f"127.0.0.1:{free_port()}" for _ in range(2)])
        errors = [child.communicate(timeout=900)[1] for child in children]
        clash = any(
            child.returncode and port_taken(error)
            for child, error in zip(children, errors, strict=True)
        )
        if not clash or tries == PORT_TRIES:
            break
    for index, child in enumerate(children):
        assert child.returncode == 0, f"worker {index}: {errors[index][-3000:]}"
    tracking.use_store(cfg.tracking)
    (run,) = mlflow.search_runs(experiment_names=[cfg.tracking.experiment], output_format="list")
    assert run.info.status == "FINISHED" and run.data.tags["replicas"] == "2"
    assert run.data.tags["output_dir"] == str((tmp_path / "worker0").resolve())
    # synchronous data parallelism: both workers end with the same weights
    chief, other = (
        keras.models.load_model(folder / "model.keras")
        for folder in (tmp_path / "worker0", tmp_path / "worker1" / "worker-1")
    )
    for mine, theirs in zip(chief.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
