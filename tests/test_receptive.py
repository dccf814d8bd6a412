"""Receptive fields in the profile: the notes' stacked 3x3 filters, and empirically, the input
pixels with a nonzero gradient of one central unit span exactly the computed field."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnlab import models
from cnnlab.analysis import profile, shapes_only
from cnnlab.analysis.receptive import Field, receptive_fields


def stack(*kernels: int, strides: int = 1) -> keras.Model:
    inputs = keras.Input((32, 32, 1))
    x = inputs
    for i, k in enumerate(kernels):
        x = keras.layers.Conv2D(1, k, strides=strides, padding="same", name=f"conv{i}")(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize(("depth", "side"), [(1, 3), (2, 5), (3, 7)])
def test_stacked_3x3_filters_see_a_5x5_and_a_7x7_field(depth, side):
    field = profile(stack(*[3] * depth)).rows[-1].receptive_field
    assert field == Field((side, side), (1, 1), (-depth, -depth))  # 'same': starts in the padding


def test_stride_multiplies_the_jump_and_widens_later_windows():
    # Two 3x3/2 convs: r = 1 + 2*1 + 2*2 = 7, j = 4 (Araujo et al., eq. 1-2).
    field = receptive_fields(stack(3, 3, strides=2))["conv1"]
    assert (field.size, field.jump) == ((7, 7), (4, 4))


def test_a_branch_merge_sees_the_union_of_its_paths():
    inputs = keras.Input((16, 16, 1))
    wide = keras.layers.Conv2D(1, 5, padding="same")(inputs)
    narrow = keras.layers.Conv2D(1, 1)(inputs)
    merged = keras.layers.Concatenate(name="merge")([wide, narrow])
    assert receptive_fields(keras.Model(inputs, merged))["merge"] == Field((5, 5), (1, 1), (-2, -2))


@pytest.mark.parametrize(
    ("name", "layer", "size"),
    [("vgg16", "block5_pool", 212), ("resnet50", "conv5_block3_out", 483)],
)
def test_fields_of_classic_models_match_araujo_et_als_table(name, layer, size):
    # Araujo, Norris & Sim (Distill 2019), their table of classic models: VGG-16 212 (at pool5),
    # ResNet-50 483.
    with shapes_only():  # the arithmetic needs the graph, not the weights
        model = models.build(name, (224, 224, 3), 1000, init="keras")
    assert receptive_fields(model)[layer].size == (size, size)


def test_profile_table_shows_the_field_jump_and_start():
    text = profile(models.build("lenet5", (32, 32, 1), 10)).table()
    header, _, *rows = text.splitlines()
    assert header.split()[4:7] == ["field", "jump", "start"]  # after "output shape"
    c1 = next(line.split() for line in rows if line.startswith("c1 "))
    assert c1[3:6] == ["5", "1", "0"]  # 5x5 valid conv on the 32x32 image


def gradient_span(model: keras.Model, layer: str, unit: tuple[int, int], seed: int = 0):
    """(first, last) row and column of the input pixels whose gradient of `layer`'s unit
    (all channels) is nonzero for some image of a random batch (max pooling passes one
    position per window, so one image would show only part of the field)."""
    probe = keras.Model(model.inputs, model.get_layer(layer).output)
    images = tf.Variable(
        np.random.default_rng(seed).normal(size=(8, *model.inputs[0].shape[1:])), dtype="float32"
    )
    with tf.GradientTape() as tape:
        unit_output = tf.reduce_sum(probe(images, training=False)[:, unit[0], unit[1], :])
    seen = np.any(tape.gradient(unit_output, images).numpy() != 0, axis=(0, 3))
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    return (rows[0], rows[-1]), (cols[0], cols[-1])


def deepest_inner_layer(model: keras.Model) -> tuple[str, tuple[int, int], Field]:
    """The deepest layer whose central unit's field lies inside the image (no padding)."""
    side = model.inputs[0].shape[1:3]
    fields = receptive_fields(model)
    for layer in reversed(model.layers):
        field, shape = fields[layer.name], layer.output.shape
        if field is None or len(shape) != 4:
            continue
        unit = (shape[1] // 2, shape[2] // 2)
        span = field.span(unit)
        if all(span[a][0] >= 0 and span[a][1] < side[a] for a in (0, 1)):
            return layer.name, unit, field
    raise AssertionError("no layer's field fits the image")


@pytest.mark.parametrize(
    ("name", "input_shape", "options"),
    [
        ("lenet5", (32, 32, 1), {}),
        ("vgg11", (32, 32, 3), {"init": "keras"}),  # any random weights; He's redraw takes 2 s
        ("resnet20", (32, 32, 3), {}),
        ("googlenet", (32, 32, 3), {"aux_weight": 0.0}),  # up to inception 3b's concatenation
    ],
)
def test_nonzero_input_gradient_of_a_central_unit_spans_the_computed_field(
    name, input_shape, options
):
    keras.utils.set_random_seed(0)
    model = models.build(name, input_shape, 10, **options)
    layer, unit, field = deepest_inner_layer(model)
    assert field.size[0] > 5, layer  # a deep layer, not the first conv
    assert gradient_span(model, layer, unit) == field.span(unit), layer
