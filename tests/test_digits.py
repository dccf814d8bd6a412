"""The embedded digits dataset: a TFDS builder over scikit-learn's load_digits."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnnlab.data.sources.digits import prepare


@pytest.fixture(scope="module")
def digits(tfds_dir):
    builder = prepare(str(tfds_dir))
    return builder, {
        s: tfds.as_numpy(builder.as_dataset(split=s, as_supervised=True, batch_size=-1))
        for s in ("train", "test")
    }


def test_split_sizes_cover_all_1797_digits(digits):
    builder, splits = digits
    assert builder.info.splits["train"].num_examples == 1437
    assert builder.info.splits["test"].num_examples == 360
    assert len(splits["train"][0]) + len(splits["test"][0]) == 1797


def test_images_are_8x8x1_uint8_and_labels_are_the_ten_digits(digits):
    builder, splits = digits
    images, labels = splits["train"]
    assert images.shape[1:] == (8, 8, 1) and images.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0
    assert set(np.unique(labels)) == set(range(10))
    assert builder.info.features["label"].names == [str(d) for d in range(10)]


def test_train_and_test_share_no_image(digits):
    _, splits = digits
    train = {img.tobytes() for img in splits["train"][0]}
    test = {img.tobytes() for img in splits["test"][0]}
    assert len(test) == 360 and not train & test


def test_split_is_stratified(digits):
    _, splits = digits
    counts = np.bincount(splits["test"][1], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 360 / 10 classes


def test_images_and_labels_match_scikit_learn(digits):
    from sklearn.datasets import load_digits

    _, splits = digits
    sk = load_digits()
    expected = {
        np.round(img * 255 / 16).astype(np.uint8)[..., None].tobytes(): int(y)
        for img, y in zip(sk.images, sk.target, strict=True)
    }
    images, labels = splits["test"]
    assert all(expected[img.tobytes()] == y for img, y in zip(images, labels, strict=True))


def test_preparing_twice_reuses_the_prepared_files(tfds_dir):
    first = prepare(str(tfds_dir)).data_dir
    assert prepare(str(tfds_dir)).data_dir == first
