"""Every option of the data, augment, optimizer, schedule and model groups trains with
`debug=fast` through the real train() and leaves a FINISHED MLflow run (offline: the TFDS
datasets under `tfds.testing.mock_data`, the folder source on images written here)."""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from cnnlab import tracking
from cnnlab.cli import group_options
from cnnlab.data import build_datasets
from cnnlab.data.sources import tfds as tfds_source
from cnnlab.training import train
from cnnlab.training.fit import first_batches
from cnnlab.training.test_time import tta_metrics

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
    # Logging the MLflow model is tested once, in test_inference.py; here it would only add time.
    overrides = [f"{group}={option}" for group, option in choice.items()]
    overrides += ["debug=fast", "trainer.batch_size=8", "tracking.log_model=false"]
    for group, option in choice.items():
        overrides += NEEDS.get((group, option), [])
    if choice.get("data") == "folder":
        overrides.append(f"data.path={image_folder}")
    overrides.append(f"data.stats_cache={tmp_path / 'stats'}")
    cfg = make_cfg(*overrides)
    offline = choice.get("data") in TFDS_SOURCES
    with tfds.testing.mock_data(num_examples=24) if offline else contextlib.nullcontext():
        result = train(cfg, output_dir=tmp_path / "run")
        if cfg.augment.test_time != "none":  # the test views, scored by the saved model
            views = first_batches(build_datasets(cfg).test_views, cfg.trainer.eval_steps)
            expected = tta_metrics(keras.saving.load_model(result.model_path), views)
    run = tracking.get_run(result.run_id, cfg.tracking)
    assert run.info.status == "FINISHED"
    for group in choice:
        assert run.data.params[f"{group}.name"] == getattr(cfg, group).name
    assert np.isfinite(result.test_metrics["test_loss"])
    if cfg.augment.test_time != "none":
        for key, value in expected.items():
            assert run.data.metrics[key] == pytest.approx(value, rel=1e-5), key


# What each augment recipe on digits must do to the batches the run trains on, against the same
# batch without augmentation (same seed, same order): (crop padding, mirrored, a changed box of at
# most this many pixels, mixed labels). The papers' RGB recipes (alexnet, imagenet,
# vgg_multiscale) have their own checks in test_augment_recipes.py.
PROMISES = {
    "translate": (3, False, 0, False),
    "cifar": (4, True, 0, False),
    "cutout": (4, True, 16 * 16, False),
    "random_erasing": (4, True, int(0.4 * 28 * 28), False),
    "mixup": (None, None, None, True),
    "cutmix": (None, None, None, True),
}


def views(image: np.ndarray, padding: int, mirror: bool):
    """Every crop of the zero-padded image (and of its mirror) at the image's size."""
    h, w = image.shape[:2]
    for view in [image, image[:, ::-1]] if mirror else [image]:
        padded = np.pad(view, ((padding, padding), (padding, padding), (0, 0)))
        for top in range(2 * padding + 1):
            for left in range(2 * padding + 1):
                yield padded[top : top + h, left : left + w]


def is_crop_of(augmented: np.ndarray, original: np.ndarray, padding, mirror, box_area) -> bool:
    """`augmented` is a crop of the padded `original` (or its mirror), apart from one box of at
    most `box_area` pixels."""
    for view in views(original, padding, mirror):
        rows, cols = np.nonzero(np.any(augmented != view, axis=-1))
        if not len(rows) or (np.ptp(rows) + 1) * (np.ptp(cols) + 1) <= box_area:
            return True
    return False


def is_mix_of(label: np.ndarray, own: np.ndarray, others: np.ndarray) -> bool:
    """`label` is lam * own + (1 - lam) * one of `others` for some lam in [0, 1]."""
    lam = label[own.argmax()]
    return any(
        np.allclose(label, own if other.argmax() == own.argmax() else lam * own + (1 - lam) * other)
        for other in others
    )


def first_train_batch(make_cfg, augment: str) -> tuple[np.ndarray, np.ndarray]:
    cfg = make_cfg(f"augment={augment}", "data.normalize=false", "trainer.batch_size=16")
    images, labels = next(iter(build_datasets(cfg).train))
    return images.numpy(), labels.numpy()


@pytest.mark.parametrize("augment", sorted(PROMISES))
def test_augment_option_changes_the_training_batches_as_its_ops_promise(make_cfg, augment):
    originals, labels = first_train_batch(make_cfg, "none")
    images, mixed = first_train_batch(make_cfg, augment)
    assert not np.array_equal(images, originals)
    padding, mirror, box_area, mixes_labels = PROMISES[augment]
    if mixes_labels:
        assert all(is_mix_of(y, own, labels) for y, own in zip(mixed, labels, strict=True))
        assert np.any(mixed.max(axis=1) < 1)  # some labels are mixed
    else:
        np.testing.assert_array_equal(mixed, labels)
        for image, original in zip(images, originals, strict=True):
            assert is_crop_of(image, original, padding, mirror, box_area)


def mixed_and_unmixed_batch(make_cfg, augment: str):
    """The first train batch of the recipe with its mixing op on every batch, and the same batch
    with that op off (p=0: the crops and flips before it take the same seeds), on noise images
    whose pixels differ between any two examples."""
    common = (
        "data=synthetic",
        "data.normalize=false",
        "trainer.batch_size=16",
        f"augment={augment}",
    )
    unmixed, labels = next(iter(build_datasets(make_cfg(*common, "augment.ops.2.p=0.0")).train))
    mixed, mixed_labels = next(iter(build_datasets(make_cfg(*common, "augment.ops.2.p=1.0")).train))
    return mixed.numpy(), mixed_labels.numpy(), unmixed.numpy(), labels.numpy()


def test_mixup_label_weight_is_the_image_weight_of_each_source(make_cfg):
    images, mixed, originals, labels = mixed_and_unmixed_batch(make_cfg, "mixup")
    weights = []
    for image, label, own, own_label in zip(images, mixed, originals, labels, strict=True):
        # image = lam * own + (1 - lam) * partner: lam by least squares against each candidate
        fits = []
        for partner, partner_label in zip(originals, labels, strict=True):
            gap = (own - partner).ravel()
            lam = 1.0 if not gap.any() else float(gap @ (image - partner).ravel() / (gap @ gap))
            error = np.abs(lam * own + (1 - lam) * partner - image).max()
            fits.append((error, lam, partner_label))
        error, lam, partner_label = min(fits, key=lambda fit: fit[0])
        assert error < 1e-5
        np.testing.assert_allclose(label, lam * own_label + (1 - lam) * partner_label, atol=1e-5)
        weights.append(lam)
    assert 0 < min(weights) < 0.99  # the batch is mixed


def test_cutmix_label_weight_is_the_share_of_pixels_from_each_source(make_cfg):
    images, mixed, originals, labels = mixed_and_unmixed_batch(make_cfg, "cutmix")
    # One box for the batch: the rectangle around every pixel that differs from its own image
    # (a pixel of the zero padding can be zero in both images, so one image alone may not show it).
    rows, cols = np.nonzero(np.any(images != originals, axis=(0, -1)))
    box = np.zeros(images.shape[1:3], bool)
    box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    share = box.mean()
    assert 0.01 < share < 1  # the batch is mixed
    for image, label, own, own_label in zip(images, mixed, originals, labels, strict=True):
        np.testing.assert_array_equal(image[~box], own[~box])
        partner = min(
            range(len(originals)), key=lambda j: np.abs(originals[j][box] - image[box]).sum()
        )
        np.testing.assert_array_equal(image[box], originals[partner][box])
        expected = (1 - share) * own_label + share * labels[partner]
        np.testing.assert_allclose(label, expected, atol=1e-6)
