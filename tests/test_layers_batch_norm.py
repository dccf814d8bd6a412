"""FusedBatchNormalization against Keras's BatchNormalization, the layer it replaces."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnlab.layers import FusedBatchNormalization


def twins(shape, **options):
    """Keras's layer and the fused one, built with the same random weights and statistics."""
    rng = np.random.default_rng(0)
    layers = keras.layers.BatchNormalization(**options), FusedBatchNormalization(**options)
    for layer in layers:
        layer.build(shape)
    for variables in zip(*(layer.weights for layer in layers), strict=True):
        value = rng.uniform(0.5, 1.5, variables[0].shape).astype("float32")
        for variable in variables:
            variable.assign(value)
    return layers


def train_step(layer, x, upstream):
    """One training-mode call: output, gradients (input and weights), moving statistics."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * upstream)
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return y, grads, [v.numpy() for v in layer.non_trainable_weights]


@pytest.mark.parametrize(
    "options", [{}, {"scale": False}, {"center": False, "momentum": 0.9, "epsilon": 1e-5}]
)
def test_training_matches_keras_batch_norm(options):
    x = tf.random.stateless_normal((6, 5, 4, 7), seed=(1, 2)) * 3.0 + 1.0
    upstream = tf.random.stateless_normal(x.shape, seed=(3, 4))
    keras_bn, fused = twins(x.shape, **options)
    (y0, g0, s0), (y1, g1, s1) = (train_step(layer, x, upstream) for layer in (keras_bn, fused))
    np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(g1, g0, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    for ours, theirs in zip(s1, s0, strict=True):  # moving mean and (biased) variance
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_inference_and_other_ranks_are_keras_batch_norm():
    for shape in [(4, 3, 3, 5), (4, 5)]:  # 2-D: not fusable, Keras's computation
        x = tf.random.stateless_normal(shape, seed=(5, 6))
        keras_bn, fused = twins(shape)
        np.testing.assert_allclose(fused(x), keras_bn(x), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            fused(x, training=True), keras_bn(x, training=True), rtol=1e-5, atol=1e-5
        )


def test_a_model_with_it_saves_and_loads_back(tmp_path):
    inputs = keras.Input((6, 6, 3))
    outputs = FusedBatchNormalization(momentum=0.9, name="bn")(keras.layers.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 3)).astype("float32")
    model(x, training=True)  # moves the statistics away from their initial values
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("bn")) is FusedBatchNormalization
    assert loaded.get_layer("bn").get_config() == model.get_layer("bn").get_config()
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6)


def test_exported_copy_has_keras_batch_norm_and_predicts_the_same():
    from cnnlab import models
    from cnnlab.tracking.models import uses_custom_layers

    model = models.build("mobilenet", (32, 32, 3), 10, alpha=0.25)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # statistics and scales away from their initial 0 and 1
        if isinstance(layer, FusedBatchNormalization):
            for variable in layer.weights:
                variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    exported = models.with_keras_batch_norm(model)
    assert uses_custom_layers(model) and not uses_custom_layers(exported)
    x = rng.random((4, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(
        exported.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
