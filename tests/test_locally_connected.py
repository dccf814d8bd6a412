"""LocallyConnected2D: unshared weights, against the NumPy reference and Conv2D."""

import keras
import numpy as np
import pytest

from cnnlab import reference
from cnnlab.analysis import profile
from cnnlab.errors import GeometryError
from cnnlab.layers import LocallyConnected2D

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _same_draws_in_any_order():
    """Each test draws the same values whichever tests ran before it on its worker."""
    RNG.bit_generator.state = np.random.default_rng(0).bit_generator.state


def built(layer: LocallyConnected2D, input_shape) -> keras.Model:
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize(
    ("kernel_size", "strides", "padding", "pads"),
    [
        (3, 1, "valid", 0),
        (3, 2, "valid", 0),
        (3, 1, "same", 1),
        (
            4,
            2,
            "same",
            ((1, 1), (1, 1)),
        ),  # 'same' on 8 with 4/2: (4 - 1)*2 + 4 - 8 = 2, one each side
        ((2, 3), (1, 2), "valid", 0),
    ],
)
def test_outputs_equal_the_reference(kernel_size, strides, padding, pads):
    x = RNG.normal(size=(2, 8, 8, 3)).astype("float32")
    layer = LocallyConnected2D(4, kernel_size, strides, padding, bias_initializer="random_normal")
    out = built(layer, (8, 8, 3))(x)
    w, b = (np.asarray(v) for v in (layer.kernel, layer.bias))
    expected = reference.locally_connected_forward(x, w, b, kernel_size, strides, pads)
    assert np.allclose(np.asarray(out), expected, atol=1e-5)


def test_with_one_filter_copied_to_every_position_it_is_a_convolution():
    x = RNG.normal(size=(2, 9, 9, 2)).astype("float32")
    conv = keras.layers.Conv2D(3, 3, strides=2, use_bias=False)
    expected = np.asarray(built(conv, (9, 9, 2))(x))
    local = LocallyConnected2D(3, 3, strides=2, use_bias=False)
    built(local, (9, 9, 2))
    shared = np.asarray(conv.kernel).reshape(1, 3 * 3 * 2, 3)  # (kh, kw, C) patch order
    local.kernel.assign(np.repeat(shared, 16, axis=0))  # 4 x 4 positions
    assert np.allclose(np.asarray(local(x)), expected, atol=1e-5)


def test_parameters_are_one_filter_bank_per_position():
    # 10x10x3 input, 3x3 windows, 'valid': 8x8 positions, each 3*3*3 weights per filter.
    layer = LocallyConnected2D(5, 3)
    row = profile(built(layer, (10, 10, 3))).rows[-1]
    assert row.params == 8 * 8 * (27 * 5) + 8 * 8 * 5
    assert row.macs == 8 * 8 * 27 * 5  # each weight used once per image
    assert row.receptive_field.size == (3, 3)
    shared = profile(built(keras.layers.Conv2D(5, 3), (10, 10, 3))).rows[-1]
    assert shared.params == 27 * 5 + 5 and shared.macs == row.macs  # same work, 64x fewer weights


def test_saves_and_loads_with_its_weights(tmp_path):
    x = RNG.normal(size=(1, 6, 6, 2)).astype("float32")
    model = built(LocallyConnected2D(2, 3, padding="same", activation="relu"), (6, 6, 2))
    model.save(tmp_path / "local.keras")
    loaded = keras.models.load_model(tmp_path / "local.keras")
    assert np.array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def test_an_unknown_padding_is_one_line():
    with pytest.raises(
        GeometryError, match=r"padding='full' is invalid: expected one of valid, same"
    ):
        LocallyConnected2D(2, 3, padding="full")
