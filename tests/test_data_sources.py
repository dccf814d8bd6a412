"""Synthetic data, normalization statistics, sizes, evaluation transforms and per-batch seeding."""

import json
import logging
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from cnnlab.data import build_datasets
from cnnlab.data.images import resize
from cnnlab.data.normalize import DataStats, cached_stats, compute_stats
from cnnlab.data.sources.digits import prepare
from cnnlab.errors import ConfigError
from cnnlab.training.test_time import tta_metrics
from cnnlab.viz.augment import plot_augmentation

CONF_DATA = Path(__file__).resolve().parents[1] / "conf" / "data"


def all_batches(ds):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds), strict=True)
    return np.concatenate(images), np.concatenate(labels)


@pytest.mark.parametrize("config", sorted(p.stem for p in CONF_DATA.glob("*.yaml")))
def test_every_data_config_composes_and_validates(make_cfg, config, tmp_path):
    needs = {"tfds": ["data.name=mnist"], "folder": [f"data.path={tmp_path}"]}
    cfg = make_cfg(f"data={config}", *needs.get(config, []))  # typed: every check ran
    if config == "folder":  # null: the images' own size and channels
        assert cfg.data.image_size is None and cfg.data.channels is None
    else:
        assert len(cfg.data.image_size) == 2 and cfg.data.channels in (1, 3)
    assert 0 <= cfg.data.val_fraction < 1


# -- synthetic ---------------------------------------------------------------------------------


def test_synthetic_data_has_the_asked_shape_classes_and_sizes(make_cfg):
    cfg = make_cfg(
        "data=synthetic", "data.image_size=[12,10]", "data.channels=1", "data.num_classes=5",
        "data.train_size=100", "data.test_size=30", "data.val_fraction=0.2",
    )  # fmt: skip
    data = build_datasets(cfg)
    images, labels = all_batches(data.train)
    assert data.info.split_sizes == {"train": 80, "val": 20, "test": 30}
    assert images.shape == (80, 12, 10, 1) and labels.shape == (80, 5)
    assert images.min() >= 0 and images.max() <= 1
    assert set(labels.argmax(axis=1)) == set(range(5))


def test_synthetic_examples_depend_on_the_seed_only(make_cfg):
    def test_images(seed):
        return all_batches(build_datasets(make_cfg("data=synthetic", f"seed={seed}")).test)[0]

    np.testing.assert_array_equal(test_images(3), test_images(3))
    assert not np.array_equal(test_images(3), test_images(4))


def test_synthetic_classes_are_learnable_templates(make_cfg):
    data = build_datasets(
        make_cfg("data=synthetic", "augment=none", "data.train_size=400", "data.signal=0.5")
    )
    images, labels = all_batches(data.train)
    classes = labels.argmax(axis=1)
    means = np.stack([images[classes == k].mean(axis=0) for k in range(10)])
    nearest = np.argmin(((images[:, None] - means[None]) ** 2).sum(axis=(2, 3, 4)), axis=1)
    assert np.mean(nearest == classes) > 0.95  # nearest class mean recovers the label


def test_synthetic_with_too_few_classes_is_an_error(make_cfg):
    with pytest.raises(
        ConfigError, match=r"data.num_classes=1 is invalid: expected an integer >= 2"
    ):
        build_datasets(make_cfg("data=synthetic", "data.num_classes=1"))


# -- statistics and normalization --------------------------------------------------------------


def test_stats_match_numpy_over_every_pixel():
    pixels = np.random.default_rng(0).random((50, 6, 7, 3), dtype=np.float32) * [1.0, 0.5, 0.2]
    stats = compute_stats(tf.data.Dataset.from_tensor_slices(pixels).batch(16))
    flat = pixels.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(stats.mean, flat.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats.std, flat.std(axis=0), rtol=1e-5)
    np.testing.assert_allclose(stats.covariance, np.cov(flat.T, bias=True), atol=1e-7)
    values, vectors = stats.principal_components()
    np.testing.assert_allclose(np.asarray(stats.covariance) @ vectors, vectors * values, atol=1e-7)
    assert np.all(np.diff(values) <= 0)


def test_stats_are_computed_once_then_read_from_the_cache(tmp_path):
    stats = DataStats((0.1, 0.2), (0.3, 0.4), ((1.0, 0.0), (0.0, 2.0)))
    assert cached_stats(str(tmp_path), "key", lambda: stats) == stats
    assert cached_stats(str(tmp_path), "key", lambda: pytest.fail("recomputed")) == stats
    (file,) = tmp_path.glob("*.json")
    assert json.loads(file.read_text())["key"] == "key"
    other = DataStats((0.5, 0.5), (1.0, 1.0), ((1.0, 0.0), (0.0, 1.0)))
    assert cached_stats(str(tmp_path), "other key", lambda: other) == other


def test_normalized_train_split_has_zero_mean_and_unit_std(make_cfg, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="cnnlab")
    overrides = (
        "data=synthetic",
        "augment=none",
        "data.normalize=true",
        f"data.stats_cache={tmp_path}",
    )
    images, _ = all_batches(build_datasets(make_cfg(*overrides)).train)
    pixels = images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(pixels.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(pixels.std(axis=0), 1.0, atol=1e-5)
    assert caplog.text.count("computing per-channel statistics") == 1
    caplog.clear()
    build_datasets(make_cfg(*overrides))
    assert "computing" not in caplog.text  # cached


def test_mean_and_std_from_the_config_are_used_as_given(make_cfg):
    plain = make_cfg("data=synthetic", "data.train_size=64")
    given = make_cfg(
        "data=synthetic", "data.train_size=64", "data.normalize=true",
        "data.mean=[0.1,0.2,0.3]", "data.std=[0.5,0.25,2.0]",
    )  # fmt: skip
    raw, _ = all_batches(build_datasets(plain).test)
    normalized, _ = all_batches(build_datasets(given).test)
    expected = (raw - [0.1, 0.2, 0.3]) / [0.5, 0.25, 2.0]
    np.testing.assert_allclose(normalized, expected, rtol=1e-5, atol=1e-6)


def test_mean_of_the_wrong_length_is_a_config_error(make_cfg):
    with pytest.raises(ConfigError, match=r"data.mean=\[0.5\] is invalid: expected a list of 3"):
        make_cfg("data=synthetic", "data.normalize=true", "data.mean=[0.5]", "data.std=[0.2]")


# -- sizes and evaluation transforms -----------------------------------------------------------


def test_resize_crop_keeps_the_aspect_ratio_and_stretch_does_not():
    image = np.zeros((10, 20, 1), np.float32)
    image[:, 10:] = 1.0  # left half black, right half white
    cropped = resize(tf.constant(image), (10, 10), "crop").numpy()
    np.testing.assert_array_equal(cropped, image[:, 5:15])
    stretched = resize(tf.constant(image), (10, 10), "stretch").numpy()
    assert (
        stretched[:, 0].max() == 0
        and stretched[:, -1].min() == 1
        and stretched.shape == (10, 10, 1)
    )


def test_evaluation_takes_the_centre_crop_of_the_loaded_image(make_cfg, tfds_dir):
    cfg = make_cfg("data.image_size=[6,6]", "data.load_size=[8,8]", "trainer.batch_size=400")
    images, _ = next(iter(build_datasets(cfg).test))
    raw = tfds.as_numpy(prepare(str(tfds_dir)).as_dataset(split="test", batch_size=-1))["image"]
    np.testing.assert_allclose(images, raw[:, 1:7, 1:7] / 255.0, atol=1e-6)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "data.load_size=[20,20]",
            r"data.load_size=\[20, 20\] is invalid: expected at least data.image_size",
        ),
        ("data.load_size=[30]", r"data.load_size=\[30\] is invalid: expected \[height, width\]"),
        (
            "augment.test_time=ten_crop",
            r"ten_crop needs data.load_size larger than data.image_size",
        ),
    ],
)
def test_bad_size_settings_are_config_errors(make_cfg, override, message):
    with pytest.raises(ConfigError, match=message):
        build_datasets(make_cfg(override))


def test_ten_crop_views_average_into_the_test_metrics(make_cfg):
    cfg = make_cfg(
        "data.image_size=[6,6]",
        "data.load_size=[8,8]",
        "augment.test_time=ten_crop",
        "trainer.batch_size=40",
    )
    data = build_datasets(cfg)
    views, labels = next(iter(data.test_views))
    assert views.shape == (10 * 4, 6, 6, 1) and labels.shape == (4, 10)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    probabilities, truth = [], []
    for batch_views, batch_labels in data.test_views:
        predictions = model.predict_on_batch(batch_views).reshape(10, len(batch_labels), 10)
        probabilities.append(predictions.mean(axis=0))
        truth.append(batch_labels.numpy())
    probabilities, truth = np.concatenate(probabilities), np.concatenate(truth)
    metrics = tta_metrics(model, data.test_views)
    expected_accuracy = np.mean(probabilities.argmax(1) == truth.argmax(1))
    expected_loss = -np.mean(np.sum(truth * np.log(probabilities), axis=1))
    assert metrics["test_tta_accuracy"] == pytest.approx(expected_accuracy)
    assert metrics["test_tta_loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_no_test_time_augmentation_means_no_views(make_cfg):
    data = build_datasets(make_cfg())
    assert data.test_views is None and tta_metrics(None, data.test_views) == {}


# -- per-batch seeds ---------------------------------------------------------------------------


def test_same_seed_same_augmented_batch_and_each_epoch_new_augmentation(make_cfg):
    overrides = (
        "data=synthetic",
        "augment=cifar",
        "data.shuffle_buffer=1",
        "trainer.batch_size=32",
    )
    data = build_datasets(make_cfg(*overrides))
    epoch_one, epoch_two = (next(iter(data.train))[0].numpy() for _ in range(2))
    again = next(iter(build_datasets(make_cfg(*overrides)).train))[0].numpy()
    np.testing.assert_array_equal(epoch_one, again)
    assert not np.array_equal(epoch_one, epoch_two)  # same images (no shuffle), new crops and flips


def test_preview_shows_the_loaded_and_the_augmented_images(make_cfg):
    data = build_datasets(make_cfg("data=synthetic", "augment=mixup"))
    sample = data.preview(6)
    test_images, _ = next(iter(data.train.take(1)))
    assert sample.before.shape == sample.after.shape == (6, *test_images.shape[1:])
    assert sample.after.min() >= 0 and sample.after.max() <= 1
    np.testing.assert_allclose(sample.labels_after.sum(axis=1), 1.0, rtol=1e-6)
    assert not np.array_equal(sample.before, sample.after)
    figure = plot_augmentation(sample, data.info.class_names)
    assert len(figure.axes) == 12
    unaugmented = build_datasets(make_cfg("data=synthetic", "augment=none"))
    assert unaugmented.preview is None  # nothing to show
