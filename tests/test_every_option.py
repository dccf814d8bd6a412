"""Every option of the data, augment, optimizer, schedule and model groups trains with
`debug=fast` through the real train() and leaves a FINISHED MLflow run (offline: the TFDS
datasets under `tfds.testing.mock_data`, the folder source on images written here)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from cnnlab import tracking
from cnnlab.cli import group_options
from cnnlab.data.sources import tfds as tfds_source
from cnnlab.training import train

GROUPS = ("data", "augment", "optimizer", "schedule", "model")

# Each run below trains one option of each of the data, augment, optimizer and schedule groups
# at once (each option in at least one run: 10 runs instead of 34); the models run one each.
# The augment options that need RGB or a larger load size go with a 28x28 source, as on digits.
PAIRS = [
    ("digits", "alexnet"),
    ("mnist", "imagenet"),
    ("fashion_mnist", "vgg_multiscale"),
    ("imagenette", "translate"),
    ("cifar10", "cifar"),
    ("cifar100", "cutmix"),
    ("svhn_cropped", "cutout"),
    ("synthetic", "mixup"),
    ("folder", "random_erasing"),
    ("tfds", "none"),
]

# What an option needs beyond `debug=fast` to run here, offline and small.
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


# Models whose debug run takes a few seconds train in `make test`; the others (10-30 s each on
# 2 cores, mostly tracing their graphs) in `make test-all`. `make test` still builds every
# family's representative from its config and trains it a step (test_models.py).
MODELS_IN_MAKE_TEST = {"lenet5", "simple_convnet", "resnet20"}


def combinations() -> list[dict[str, str]]:
    """Runs that together take every data, augment, optimizer and schedule option (an option
    added later gets a run of its own pairing)."""
    data, augment = group_options("data"), group_options("augment")
    pairs = [*PAIRS]
    pairs += [(d, "translate") for d in data if d not in {p[0] for p in PAIRS}]
    pairs += [("digits", a) for a in augment if a not in {p[1] for p in PAIRS}]
    optimizers, schedules = group_options("optimizer"), group_options("schedule")
    return [
        {
            "data": pairs[i % len(pairs)][0],
            "augment": pairs[i % len(pairs)][1],
            "optimizer": optimizers[i % len(optimizers)],
            "schedule": schedules[i % len(schedules)],
        }
        for i in range(max(len(pairs), len(optimizers), len(schedules)))
    ]


def every_option():
    for choice in combinations():
        yield pytest.param(choice, id=",".join(f"{g}={o}" for g, o in choice.items()))
    for option in group_options("model"):
        slow = option not in MODELS_IN_MAKE_TEST
        yield pytest.param(
            {"model": option}, id=f"model={option}", marks=[pytest.mark.slow] if slow else []
        )


def test_the_runs_take_every_option_of_every_group():
    taken = {group: set() for group in GROUPS}
    for param in every_option():
        for group, option in param.values[0].items():
            taken[group].add(option)
    assert taken == {group: set(group_options(group)) for group in GROUPS}


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


@pytest.mark.parametrize("choice", every_option())
def test_option_trains_and_its_run_finishes(make_cfg, tmp_path, monkeypatch, image_folder, choice):
    monkeypatch.setattr(tfds_source, "network_reachable", lambda *args: False)
    # Logging the MLflow model is tested once, in test_serving.py; here it would only add time.
    overrides = [f"{group}={option}" for group, option in choice.items()]
    overrides += ["debug=fast", "trainer.batch_size=8", "tracking.log_model=false"]
    for group, option in choice.items():
        overrides += NEEDS.get((group, option), [])
    if choice.get("data") == "folder":
        overrides.append(f"data.path={image_folder}")
    overrides.append(f"data.stats_cache={tmp_path / 'stats'}")
    cfg = make_cfg(*overrides)
    if choice.get("data") in TFDS_SOURCES:
        with tfds.testing.mock_data(num_examples=24):
            result = train(cfg, output_dir=tmp_path / "run")
    else:
        result = train(cfg, output_dir=tmp_path / "run")
    run = tracking.get_run(result.run_id, cfg.tracking)
    assert run.info.status == "FINISHED"
    for group in choice:
        assert run.data.params[f"{group}.name"] == cfg[group].name
    assert np.isfinite(result.test_metrics["test_loss"])
