"""build_datasets: one tf.data pipeline from a composed config."""

import numpy as np
import pytest

from cnnlab.data import build_datasets


def test_digits_batches_are_resized_scaled_and_one_hot(make_cfg):
    data = build_datasets(make_cfg("trainer.batch_size=32"))
    images, labels = next(iter(data.train))
    assert images.shape == (32, 28, 28, 1) and images.dtype == "float32"
    assert float(np.min(images)) >= 0.0 and float(np.max(images)) <= 1.0
    assert labels.shape == (32, 10)
    np.testing.assert_allclose(np.sum(labels, axis=1), 1.0)
    assert data.info.input_shape == (28, 28, 1) and data.info.num_classes == 10


def test_validation_is_carved_from_train(make_cfg):
    data = build_datasets(make_cfg("data.val_fraction=0.2"))
    assert data.info.split_sizes == {"train": 1150, "val": 287, "test": 360}
    counted = {
        name: sum(int(x.shape[0]) for x, _ in ds)
        for name, ds in [("train", data.train), ("val", data.val), ("test", data.test)]
    }
    assert counted == data.info.split_sizes


def test_image_size_and_channels_follow_the_config(make_cfg):
    data = build_datasets(make_cfg("data.image_size=[32,32]", "data.channels=3"))
    images, _ = next(iter(data.test))
    assert images.shape[1:] == (32, 32, 3)
    np.testing.assert_allclose(images[..., 0], images[..., 2])  # gray replicated to RGB


def test_same_seed_gives_the_same_first_batch(make_cfg):
    first = next(iter(build_datasets(make_cfg("seed=7")).train))[1]
    again = next(iter(build_datasets(make_cfg("seed=7")).train))[1]
    other = next(iter(build_datasets(make_cfg("seed=8")).train))[1]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def epoch_batches(data) -> list[np.ndarray]:
    return [np.concatenate([x.numpy().ravel(), y.numpy().ravel()]) for x, y in data]


@pytest.mark.parametrize("augment", ["none", "translate"])
def test_splits_kept_in_memory_give_the_batches_prepared_per_step(make_cfg, augment):
    """`data.cache` keeps the prepared splits (`PREPARED_CACHE_BYTES`); without it every batch
    is converted, resized and one-hot encoded per step. Both give the same batches."""
    options = (f"augment={augment}", "data.val_fraction=0.2", "trainer.batch_size=256")
    kept = build_datasets(make_cfg(*options))
    per_step = build_datasets(make_cfg(*options, "data.cache=false"))
    for split in ("train", "val"):
        for a, b in zip(
            epoch_batches(getattr(kept, split)),
            epoch_batches(getattr(per_step, split)),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
