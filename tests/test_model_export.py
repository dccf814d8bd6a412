"""The exported model's preprocessing layers against the input pipeline's own transforms."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnlab.data.pipeline import ImageSizes
from cnnlab.data.test_views import center_crop
from cnnlab.tracking import with_preprocessing


def identity(input_shape) -> keras.Model:
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Identity()(inputs), name="identity")


@pytest.mark.parametrize(
    ("source_size", "load_size"),
    [((8, 8), (28, 28)), ((60, 44), (36, 36)), ((36, 36), (36, 36))],
    ids=["upsample", "shrink-then-crop", "crop-only"],
)
def test_preprocessing_layers_match_the_evaluation_pipeline(source_size, load_size):
    image_size, mean, std = (
        (32, 32) if load_size[0] >= 32 else (28, 28),
        (0.2, 0.5, 0.7),
        (0.3, 0.2, 0.1),
    )
    images = np.random.default_rng(0).integers(0, 256, (4, *source_size, 3), dtype=np.uint8)
    geometry = ImageSizes(image_size, load_size, 3, "stretch")
    expected = (center_crop(geometry.load_batch(tf.constant(images)), image_size) - mean) / std
    model = with_preprocessing(
        identity((*image_size, 3)), (*image_size, 3), load_size, "stretch", (mean, std)
    )
    np.testing.assert_allclose(
        model.predict(images.astype(np.float32), verbose=0), expected, atol=1e-4
    )
