"""`model.init` seen: a deep plain network's activations at initialization (`make bench-init`).

The notes' claims, on 10 dense layers: normal:0.01 makes the activations vanish, normal:1
saturates tanh, Glorot keeps tanh's spread and He keeps ReLU's, which Glorot halves per layer.
"""

import keras
import numpy as np
import pytest

from cnnlab.viz import activations

WIDTH = 200
INPUTS = np.random.default_rng(0).normal(size=(256, WIDTH)).astype("float32")


def stds(activation: str, init: str) -> np.ndarray:
    keras.utils.set_random_seed(0)
    model = activations.plain_network(10, WIDTH, activation, WIDTH, init)
    return np.array([v.std() for v in activations.layer_activations(model, INPUTS)])


def test_small_gaussian_weights_make_activations_vanish():
    spread = stds("tanh", "normal:0.01")
    # each layer multiplies the spread by about 0.01 * sqrt(200) = 0.14
    assert spread[-1] < 1e-7 and np.all(np.diff(np.log(spread)) < np.log(0.2))


def test_unit_gaussian_weights_saturate_tanh():
    keras.utils.set_random_seed(0)
    model = activations.plain_network(10, WIDTH, "tanh", WIDTH, "normal:1")
    last = activations.layer_activations(model, INPUTS)[-1]
    assert np.mean(np.abs(last) > 0.99) > 0.8


@pytest.mark.parametrize(("activation", "init"), [("tanh", "glorot_normal"), ("relu", "he_normal")])
def test_the_matching_scheme_keeps_the_spread_through_ten_layers(activation, init):
    spread = stds(activation, init)
    assert spread[-1] > 0.15 and spread[-1] / spread[0] > 0.25


def test_glorot_halves_a_relu_networks_variance_per_layer():
    spread = stds("relu", "glorot_normal")
    ratio = (spread[-1] / spread[0]) ** (1 / 9)  # per layer: std x 1/sqrt(2) for variance x 1/2
    assert ratio == pytest.approx(1 / np.sqrt(2), rel=0.1)


def test_histogram_figure_has_a_row_per_network_and_a_tile_per_layer():
    keras.utils.set_random_seed(0)
    model = activations.plain_network(3, 50, "tanh", WIDTH, "glorot_normal")
    layers = activations.layer_activations(model, INPUTS)
    figure = activations.plot_histograms(
        {"tanh, glorot_normal": layers, "tanh, again": layers}, "t"
    )
    assert len(figure.axes) == 2 * (3 + 1)
    assert figure.axes[2].get_title() == f"layer 3: std {layers[2].std():.2g}"
    counts = sum(patch.get_height() for patch in figure.axes[0].patches)
    assert counts == layers[0].size  # every activation of layer 1 is in its histogram
