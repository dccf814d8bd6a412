"""Style transfer's losses as Gatys et al. (2016) and the notes write them: content
1/2 sum (F - P)^2, style per layer 1/(4 N^2 M^2) sum (G - A)^2, total alpha L_c + beta L_s."""

import keras
import numpy as np
import pytest

from cnnlab.viz import style

RNG = np.random.default_rng(0)


def test_gram_sums_the_channels_products_over_positions():
    features = RNG.normal(size=(1, 3, 4, 5)).astype("float32")
    flat = features.reshape(12, 5)  # M = 12 positions, N = 5 channels
    assert np.allclose(np.asarray(style.gram(features))[0], flat.T @ flat, atol=1e-5)


def test_style_layer_loss_of_a_worked_example():
    # One channel (N = 1) at 2x2 positions (M = 4) holding 1, 2, 3, 4: G = 1 + 4 + 9 + 16 = 30.
    # Against A = 0: (30 - 0)^2 / (4 * 1^2 * 4^2) = 900 / 64.
    features = np.arange(1.0, 5.0, dtype="float32").reshape(1, 2, 2, 1)
    assert float(style.style_layer_loss(features, np.zeros((1, 1, 1), "float32"))) == 900 / 64


def test_content_loss_is_half_the_summed_squared_error():
    features, target = (RNG.normal(size=(1, 4, 4, 3)).astype("float32") for _ in range(2))
    expected = 0.5 * np.sum((features.astype(np.float64) - target) ** 2)
    assert float(style.content_loss(features, target)) == pytest.approx(expected, rel=1e-5)


def test_total_is_alpha_content_plus_beta_times_the_mean_style_layer_loss():
    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 3))
    c1 = keras.layers.Conv2D(4, 3, padding="same", name="c1")(image)
    c2 = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="c2")(c1)
    model = keras.Model(image, c2)
    content, style_image, generated = (
        RNG.uniform(size=(8, 8, 3)).astype("float32") for _ in range(3)
    )
    loss = style.StyleLoss(
        model,
        model.get_layer("c2"),
        [model.get_layer("c1"), model.get_layer("c2")],
        content,
        style_image,
        alpha=2.0,
        beta=1e3,
    )
    total, content_loss, style_loss = (float(v) for v in loss(generated[None]))

    def features(x, layer):  # the layer's output in float64, by NumPy
        return np.asarray(keras.Model(image, model.get_layer(layer).output)(x[None]), np.float64)[0]

    def e(layer):
        f, a = features(generated, layer), features(style_image, layer)
        m, n = f.shape[0] * f.shape[1], f.shape[2]
        g_f, g_a = f.reshape(m, n).T @ f.reshape(m, n), a.reshape(m, n).T @ a.reshape(m, n)
        return np.sum((g_f - g_a) ** 2) / (4 * n**2 * m**2)

    expected_content = 0.5 * np.sum((features(generated, "c2") - features(content, "c2")) ** 2)
    expected_style = (e("c1") + e("c2")) / 2
    assert content_loss == pytest.approx(expected_content, rel=1e-4)
    assert style_loss == pytest.approx(expected_style, rel=1e-4)
    assert total == pytest.approx(2.0 * expected_content + 1e3 * expected_style, rel=1e-4)
