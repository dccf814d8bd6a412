"""TFDS datasets by name, offline: ready configs under `tfds.testing.mock_data`, fast failures
without prepared data, close matches for unknown names."""

import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnnlab import tracking
from cnnlab.data import build_datasets
from cnnlab.data.sources import tfds as tfds_source
from cnnlab.data.sources.digits import prepare
from cnnlab.errors import ConfigError, DataError
from cnnlab.training import train

ROOT = Path(__file__).resolve().parents[1]

READY = {
    # config: (input shape, classes)
    "mnist": ((28, 28, 1), 10),
    "fashion_mnist": ((28, 28, 1), 10),
    "cifar10": ((32, 32, 3), 10),
    "cifar100": ((32, 32, 3), 100),
    "svhn_cropped": ((32, 32, 3), 10),
    "imagenette": ((224, 224, 3), 10),
}


network_reachable = tfds_source.network_reachable  # the real probe, for its own tests


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Never download in tests, whatever the machine's network."""
    monkeypatch.setattr(tfds_source, "network_reachable", lambda *args: False)


def tfds_cfg(make_cfg, tmp_path, *overrides):
    return make_cfg(f"data.stats_cache={tmp_path / 'stats'}", "trainer.batch_size=8", *overrides)


@pytest.mark.parametrize("config", sorted(READY))
def test_ready_config_builds_batches_under_mock_data(make_cfg, tmp_path, config):
    shape, classes = READY[config]
    with tfds.testing.mock_data(num_examples=12):
        data = build_datasets(tfds_cfg(make_cfg, tmp_path, f"data={config}"))
        images, labels = next(iter(data.train))
        test_images, _ = next(iter(data.test))
    assert data.info.input_shape == shape and data.info.num_classes == classes
    assert images.shape == (8, *shape) and test_images.shape[1:] == shape
    assert labels.shape == (8, classes) and np.all(np.isfinite(images))
    # normalized with the train split's own statistics: about zero mean, unit variance
    assert abs(float(np.mean(images))) < 0.5 and 0.5 < float(np.std(images)) < 2.0


def test_generic_tfds_config_takes_any_name_and_label(make_cfg, tmp_path):
    with tfds.testing.mock_data(num_examples=10):
        cfg = tfds_cfg(
            make_cfg, tmp_path, "data=tfds", "data.name=cifar100", "data.label_key=coarse_label"
        )
        data = build_datasets(cfg)
    assert data.info.name == "cifar100" and data.info.num_classes == 20


def test_cifar10_trains_under_mock_data(make_cfg, tmp_path):
    cfg = tfds_cfg(make_cfg, tmp_path, "data=cifar10", "debug=fast", "model=simple_convnet")
    with tfds.testing.mock_data(num_examples=32):
        result = train(cfg, output_dir=tmp_path / "run")
    assert tracking.get_run(result.run_id, cfg.tracking).info.status == "FINISHED"
    assert result.run_name.startswith("simple_convnet-cifar10-")


def test_missing_data_offline_fails_fast_and_says_how_to_provide_it(make_cfg, tmp_path):
    cfg = tfds_cfg(make_cfg, tmp_path, "data=cifar10", f"data.data_dir={tmp_path / 'empty'}")
    with pytest.raises(DataError) as error:
        build_datasets(cfg)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"data.name='cifar10' is not prepared in {tmp_path / 'empty'}")
    assert "no network" in message and "tfds build cifar10" in message
    assert "set data.data_dir=DIR" in message


def test_network_probe_sees_a_listening_address():
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert network_reachable(server.getsockname())


def test_network_probe_of_a_refusing_address_is_false():
    with socket.socket() as bound:  # bound, never listening: the kernel refuses connections
        bound.bind(("127.0.0.1", 0))
        assert not network_reachable(bound.getsockname())


def test_network_probe_gives_up_on_a_hanging_lookup(monkeypatch):
    """A DNS lookup that never answers (no network, a dead resolver) ends at the probe's deadline."""
    release = threading.Event()

    def hanging_lookup(address, timeout=None):
        release.wait()
        raise OSError("resolver released by the test")

    monkeypatch.setattr(tfds_source, "PROBE_SECONDS", 0.05)
    monkeypatch.setattr(tfds_source.socket, "create_connection", hanging_lookup)
    try:
        assert not network_reachable(("example.invalid", 443))
        assert not release.is_set()  # the probe returned while the lookup still hung
    finally:
        release.set()


def test_command_line_without_data_is_one_line_and_exit_2(tmp_path, mlflow_dir):
    result = subprocess.run(
        [
            sys.executable,
            "pipelines/train.py",
            "data=cifar10",
            "data.download=false",  # the same path as no network, on any machine
            f"data.data_dir={tmp_path}",
            f"tracking.uri=sqlite:///{mlflow_dir}/mlflow.db",  # migrated once per worker
            f"hydra.run.dir={tmp_path}/out",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "data.name='cifar10' is not prepared" in errors[0]
    assert "data.download=false" in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "cifar_10",
            r"data.name='cifar_10' is not a TFDS dataset; close matches: cifar10, cifar100",
        ),
        ("fashionmnist", r"close matches: fashion_mnist"),
        ("zzzzzzzz", r"no close match \(all: https://www.tensorflow.org/datasets/catalog"),
        ("imagenette/999px", r"data.name='imagenette/999px': .*; configs: full-size-v2, 320px-v2"),
    ],
)
def test_unknown_tfds_name_lists_close_matches(make_cfg, tmp_path, name, message):
    with pytest.raises(DataError, match=message) as error:
        build_datasets(tfds_cfg(make_cfg, tmp_path, "data=tfds", f"data.name={name}"))
    assert "\n" not in str(error.value)


def test_tfds_config_without_a_name_says_what_to_set(make_cfg, tmp_path):
    with pytest.raises(ConfigError, match=r"^data.name is required: set data.name=...$"):
        build_datasets(tfds_cfg(make_cfg, tmp_path, "data=tfds"))


def test_prepared_builder_is_read_by_name_like_the_digits_source(make_cfg, tmp_path, tfds_dir):
    prepare(str(tfds_dir))  # digits is a TFDS builder: prepared data read by the generic loader
    generic = build_datasets(
        tfds_cfg(
            make_cfg,
            tmp_path,
            "data=tfds",
            "data.name=digits",
            "data.channels=1",
            "data.normalize=false",
        )
    )
    embedded = build_datasets(tfds_cfg(make_cfg, tmp_path, "data.image_size=[32,32]"))
    assert (
        generic.info.split_sizes
        == embedded.info.split_sizes
        == {"train": 1293, "val": 144, "test": 360}
    )
    np.testing.assert_array_equal(next(iter(generic.test))[0], next(iter(embedded.test))[0])


def test_unknown_split_lists_the_splits(make_cfg, tmp_path, tfds_dir):
    prepare(str(tfds_dir))
    cfg = tfds_cfg(
        make_cfg, tmp_path, "data=tfds", "data.name=digits", "data.splits.test=validation"
    )
    with pytest.raises(
        DataError,
        match=r"data.splits.test='validation' is not a split of digits/1.0.0; available: ",
    ):
        build_datasets(cfg)
