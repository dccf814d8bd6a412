"""Every option of the data, augment, optimizer, schedule and model groups trains with
`debug=fast` through the real train() and leaves a FINISHED MLflow run (offline: the TFDS
datasets under `tfds.testing.mock_data`, the folder source on images written here)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from model_builds import REPRESENTATIVES
from PIL import Image

from cnnlab import tracking
from cnnlab.cli import group_options
from cnnlab.data.sources import tfds as tfds_source
from cnnlab.training import train

GROUPS = ("data", "augment", "optimizer", "schedule", "model")

# What an option needs beyond `debug=fast` on the digits to run here, offline and small.
NEEDS = {
    ("data", "tfds"): ["data.name=mnist"],
    ("data", "imagenette"): ["data.image_size=[64,64]", "data.load_size=[72,72]"],
    # ten crops need a larger load size; PCA lighting acts on RGB
    ("augment", "alexnet"): ["data.channels=3", "data.load_size=[32,32]"],
    ("augment", "imagenet"): ["data.channels=3"],  # colour jitter and PCA lighting act on RGB
    ("augment", "vgg_multiscale"): ["data.channels=3", "data.load_size=[32,32]"],
}
TFDS_SOURCES = {
    "tfds",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "svhn_cropped",
    "imagenette",
}


def every_option():
    for group in GROUPS:
        for option in group_options(group):
            slow = group == "model" and option not in REPRESENTATIVES
            yield pytest.param(
                group, option, id=f"{group}={option}", marks=[pytest.mark.slow] if slow else []
            )


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Two classes of 12 small PNGs each."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (root / label).mkdir()
        for index in range(12):
            pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{index}.png")
    return root


@pytest.mark.parametrize(("group", "option"), every_option())
def test_option_trains_and_its_run_finishes(
    make_cfg, tmp_path, monkeypatch, image_folder, group, option
):
    monkeypatch.setattr(tfds_source, "network_reachable", lambda *args: False)
    # Logging the MLflow model is tested once, in test_serving.py; here it would only add time.
    overrides = [
        f"{group}={option}",
        "debug=fast",
        "trainer.batch_size=8",
        "tracking.log_model=false",
    ]
    overrides += NEEDS.get((group, option), [])
    if (group, option) == ("data", "folder"):
        overrides.append(f"data.path={image_folder}")
    overrides.append(f"data.stats_cache={tmp_path / 'stats'}")
    cfg = make_cfg(*overrides)
    if group == "data" and option in TFDS_SOURCES:
        with tfds.testing.mock_data(num_examples=24):
            result = train(cfg, output_dir=tmp_path / "run")
    else:
        result = train(cfg, output_dir=tmp_path / "run")
    run = tracking.get_run(result.run_id, cfg.tracking)
    assert run.info.status == "FINISHED"
    assert run.data.params[f"{group}.name"] == cfg[group].name
    assert np.isfinite(result.test_metrics["test_loss"])
