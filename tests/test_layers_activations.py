"""cnnlab's own activation and normalization layers against NumPy and tf.nn references."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnlab import models
from cnnlab.errors import ConfigError
from cnnlab.layers import LRN, Maxout, RReLU


def lrn_reference(a: np.ndarray, size=5, k=2.0, alpha=1e-4, beta=0.75) -> np.ndarray:
    """Krizhevsky et al. (2012), Sec. 3.3, written as the paper's sum over channels."""
    channels = a.shape[-1]
    b = np.empty_like(a, dtype=np.float64)
    for i in range(channels):
        lo, hi = max(0, i - size // 2), min(channels - 1, i + size // 2)
        total = np.sum(a[..., lo : hi + 1].astype(np.float64) ** 2, axis=-1)
        b[..., i] = a[..., i] / (k + alpha * total) ** beta
    return b


def test_lrn_matches_the_papers_formula(rng):
    # Activations of ~30 make alpha * sum ~ 0.5, so the normalization is far from the identity.
    a = rng.normal(0, 30, (2, 5, 5, 12)).astype(np.float32)
    np.testing.assert_allclose(LRN()(a), lrn_reference(a), rtol=1e-5)


def test_lrn_matches_tf_nn_local_response_normalization(rng):
    a = rng.normal(0, 30, (2, 6, 6, 16)).astype(np.float32)
    expected = tf.nn.local_response_normalization(a, depth_radius=3, bias=1.5, alpha=2e-4, beta=0.6)
    np.testing.assert_allclose(LRN(size=7, k=1.5, alpha=2e-4, beta=0.6)(a), expected, rtol=1e-5)


def test_lrn_gradient_matches_tf_nn(rng):
    a = tf.constant(rng.normal(0, 30, (1, 3, 3, 8)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(a)
        ours = tf.reduce_sum(LRN()(a) ** 2)
        reference = tf.reduce_sum(
            tf.nn.local_response_normalization(a, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
            ** 2
        )
    np.testing.assert_allclose(tape.gradient(ours, a), tape.gradient(reference, a), rtol=1e-4)


def test_lrn_sums_squares_in_float32_under_float16():
    # Five squares of 300 are 450,000: float16 (max 65,504) would overflow to inf.
    a = np.full((1, 2, 2, 5), 300.0, np.float32)
    out = LRN(dtype="mixed_float16")(a.astype(np.float16))
    assert out.dtype == "float16"
    np.testing.assert_allclose(np.asarray(out, np.float32), lrn_reference(a), rtol=1e-3)


def test_lrn_refuses_an_even_size():
    with pytest.raises(ValueError, match="odd"):
        LRN(size=4)


def test_maxout_takes_the_max_over_consecutive_channel_groups(rng):
    x = rng.normal(size=(2, 3, 3, 12)).astype(np.float32)
    expected = x.reshape(2, 3, 3, 4, 3).max(axis=-1)
    np.testing.assert_array_equal(Maxout(4)(x), expected)


def test_maxout_on_dense_features(rng):
    x = rng.normal(size=(5, 8)).astype(np.float32)
    np.testing.assert_array_equal(Maxout(2)(x), x.reshape(5, 2, 4).max(axis=-1))


def test_maxout_refuses_channels_not_divisible_by_its_units():
    with pytest.raises(ValueError, match=r"Maxout\(num_units=4\) needs a channel count divisible"):
        Maxout(4)(np.zeros((1, 10), np.float32))


def test_rrelu_at_inference_uses_the_mean_slope(rng):
    x = rng.normal(size=(4, 50)).astype(np.float32)
    expected = np.where(x >= 0, x, x * (0.1 + 0.3) / 2)
    np.testing.assert_allclose(RReLU(0.1, 0.3)(x, training=False), expected, rtol=1e-6)


def test_rrelu_in_training_draws_a_slope_per_element_in_its_range():
    x = -np.ones((200, 100), np.float32)
    slopes = -np.asarray(RReLU(0.125, 1 / 3, seed=1)(x, training=True))
    assert slopes.min() >= 0.125 and slopes.max() <= 1 / 3
    # Uniform on [1/8, 1/3]: mean 0.229, standard deviation (1/3 - 1/8) / sqrt(12) = 0.060.
    assert abs(slopes.mean() - (0.125 + 1 / 3) / 2) < 0.003
    assert abs(slopes.std() - (1 / 3 - 0.125) / np.sqrt(12)) < 0.003


def test_rrelu_keeps_positive_inputs_in_training(rng):
    x = np.abs(rng.normal(size=(10, 10))).astype(np.float32)
    np.testing.assert_array_equal(RReLU()(x, training=True), x)


@pytest.mark.parametrize(("lower", "upper"), [(0.5, 0.1), (0.2, 0.2), (0.1, 1.0), (-0.1, 0.3)])
def test_rrelu_refuses_bounds_outside_the_notes_range(lower, upper):
    # The notes: l < u with l, u in [0, 1).
    with pytest.raises(ConfigError, match=r"is invalid: expected 0 <= lower < upper < 1"):
        RReLU(lower, upper)


@pytest.mark.parametrize("slope", [0.01, 0.1])
def test_leaky_slope_is_a_model_option(slope):
    model = models.build("lenet5", (28, 28, 1), 10, activation="leaky_relu", leaky_slope=slope)
    leaky = [layer for layer in model.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert leaky and all(layer.negative_slope == pytest.approx(slope) for layer in leaky)
    x = np.array([[-2.0, 3.0]], np.float32)
    np.testing.assert_allclose(leaky[0](x), [[-2.0 * slope, 3.0]], rtol=1e-6)


def test_leaky_slope_out_of_range_is_one_line():
    with pytest.raises(
        ConfigError, match=r"^model.leaky_slope=1.5 is invalid: expected a number in \[0, 1\)$"
    ):
        models.build("lenet5", (28, 28, 1), 10, activation="leaky_relu", leaky_slope=1.5)


def test_the_layers_save_and_load_inside_a_model(rng, tmp_path):
    inputs = keras.Input((4, 4, 8))
    x = LRN(size=3, k=1.0, alpha=1e-3, beta=0.5)(inputs)
    x = RReLU(0.2, 0.4)(x)
    outputs = Maxout(4)(x)
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    batch = rng.normal(0, 10, (2, 4, 4, 8)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0))
    assert loaded.layers[1].get_config()["size"] == 3
    assert loaded.layers[2].get_config()["lower"] == 0.2
