"""Inception v3 (Szegedy et al., 2016, "Rethinking the Inception architecture for computer
vision"): factorized 7x7 and 3x3 convolutions (n x 1 and 1 x n) and efficient grid reduction.

Table 1 names the module types and grid sizes but not their filters; the filters here are the
reference implementation's (TF-slim, which keras.applications.InceptionV3 also builds), so the
parameter count equals keras.applications' 23,851,784. Like that implementation, the model has
3 + 4 + 2 inception modules (Table 1 says 3 + 5 + 2) and no auxiliary classifier.
"""

import functools

import keras

from cnnlab.models._registry import register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.stems import uses_small_stem
from cnnlab.models.blocks.units import ConvUnit

# The smallest input side each stem accepts ('valid' convs and pools in the stem and reductions).
MINIMUM_SIDE = {"imagenet": 75, "small": 15}


def conv_branch(x, unit: ConvUnit, convs, name: str):
    """A chain of conv-BN-ReLU units, each `(filters, kernel)` or `(filters, kernel, 2)`: a
    stride-2 'valid' convolution that reduces the grid (Fig. 10)."""
    for index, (filters, kernel, *strides) in enumerate(convs, 1):
        stride = strides[0] if strides else 1
        padding = "valid" if stride > 1 else "same"
        x = unit(x, filters, kernel, stride, padding, name=f"{name}_{index}")
    return x


def pool_branch(x, unit: ConvUnit, filters: int, name: str):
    """3x3 average pool, then a 1x1 projection."""
    x = unit.layers.avg_pool2d(3, 1, padding="same", name=f"{name}_pool")(x)
    return unit(x, filters, 1, name=f"{name}_proj")


def concatenate(branches, name: str):
    return keras.layers.Concatenate(name=name)(branches)


def inception_stem(x, unit: ConvUnit, small: bool):
    """The reference stem: 299 -> 149 -> 147 -> 147 -> 73 -> 73 -> 71 -> 35.

    Small inputs: the first conv runs at stride 1, every stem conv pads 'same' and the first
    pool is dropped (32 -> 15 at the first module, 28 -> 13).
    """
    padding = "same" if small else "valid"
    x = unit(x, 32, 3, 1 if small else 2, padding, name="stem_conv1")
    x = unit(x, 32, 3, 1, padding, name="stem_conv2")
    x = unit(x, 64, 3, name="stem_conv3")
    if not small:
        x = unit.layers.max_pool2d(3, 2, name="stem_pool1")(x)
    x = unit(x, 80, 1, 1, padding, name="stem_conv4")
    x = unit(x, 192, 3, 1, padding, name="stem_conv5")
    return unit.layers.max_pool2d(3, 2, name="stem_pool2")(x)


def inception_a(x, unit: ConvUnit, name: str, pool_filters: int):
    """Fig. 5 (35x35): the 5x5 branch of GoogLeNet factorized into two 3x3 convolutions."""
    branches = [
        conv_branch(x, unit, [(64, 1)], f"{name}_b1"),
        conv_branch(x, unit, [(48, 1), (64, 5)], f"{name}_b2"),
        conv_branch(x, unit, [(64, 1), (96, 3), (96, 3)], f"{name}_b3"),
        pool_branch(x, unit, pool_filters, f"{name}_b4"),
    ]
    return concatenate(branches, name)


def reduction_a(x, unit: ConvUnit, name: str):
    """Fig. 10 (35x35 -> 17x17): stride-2 conv branches beside a stride-2 max-pool."""
    branches = [
        conv_branch(x, unit, [(384, 3, 2)], f"{name}_b1"),
        conv_branch(x, unit, [(64, 1), (96, 3), (96, 3, 2)], f"{name}_b2"),
        unit.layers.max_pool2d(3, 2, name=f"{name}_pool")(x),
    ]
    return concatenate(branches, name)


def inception_b(x, unit: ConvUnit, name: str, channels: int):
    """Fig. 6 (17x17): 7x7 convolutions factorized into 1x7 and 7x1 (n = 7)."""
    c = channels
    branches = [
        conv_branch(x, unit, [(192, 1)], f"{name}_b1"),
        conv_branch(x, unit, [(c, 1), (c, (1, 7)), (192, (7, 1))], f"{name}_b2"),
        conv_branch(
            x, unit, [(c, 1), (c, (7, 1)), (c, (1, 7)), (c, (7, 1)), (192, (1, 7))], f"{name}_b3"
        ),
        pool_branch(x, unit, 192, f"{name}_b4"),
    ]
    return concatenate(branches, name)


def reduction_b(x, unit: ConvUnit, name: str):
    """17x17 -> 8x8, the second grid reduction."""
    branches = [
        conv_branch(x, unit, [(192, 1), (320, 3, 2)], f"{name}_b1"),
        conv_branch(x, unit, [(192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2)], f"{name}_b2"),
        unit.layers.max_pool2d(3, 2, name=f"{name}_pool")(x),
    ]
    return concatenate(branches, name)


def inception_c(x, unit: ConvUnit, name: str):
    """Fig. 7 (8x8): expanded filter banks, 3x3 split into parallel 1x3 and 3x1 convolutions."""

    def split(y, branch: str):
        return concatenate(
            [
                unit(y, 384, (1, 3), name=f"{name}_{branch}_1x3"),
                unit(y, 384, (3, 1), name=f"{name}_{branch}_3x1"),
            ],
            f"{name}_{branch}",
        )

    branches = [
        conv_branch(x, unit, [(320, 1)], f"{name}_b1"),
        split(conv_branch(x, unit, [(384, 1)], f"{name}_b2"), "b2_split"),
        split(conv_branch(x, unit, [(448, 1), (384, 3)], f"{name}_b3"), "b3_split"),
        pool_branch(x, unit, 192, f"{name}_b4"),
    ]
    return concatenate(branches, name)


# Table 1 from the 35x35 grid on: 3 x Fig. 5, reduction, 4 x Fig. 6, reduction, 2 x Fig. 7.
INCEPTION_V3_BODY = (
    ("mixed0", functools.partial(inception_a, pool_filters=32)),
    ("mixed1", functools.partial(inception_a, pool_filters=64)),
    ("mixed2", functools.partial(inception_a, pool_filters=64)),
    ("mixed3", reduction_a),
    ("mixed4", functools.partial(inception_b, channels=128)),
    ("mixed5", functools.partial(inception_b, channels=160)),
    ("mixed6", functools.partial(inception_b, channels=160)),
    ("mixed7", functools.partial(inception_b, channels=192)),
    ("mixed8", reduction_b),
    ("mixed9", inception_c),
    ("mixed10", inception_c),
)


def inception_unit(conv_impl: str, activation: Activation) -> ConvUnit:
    """conv (no bias) - BN without gamma - activation, the reference implementation's unit."""
    return ConvUnit(ConvLayers(conv_impl), activation, batch_norm=True, bn_scale=False)


@register(paper_input=((299, 299, 3), 1000))
def inception_v3(
    input_shape, num_classes, conv_impl="native", activation="relu", stem="auto"
) -> keras.Model:
    """Inception v3 at 299x299: 23,851,784 parameters, 5.71G multiply-adds (the paper rounds
    to "5 billion", Sec. 10; torchvision lists 5.71 GFLOPS for the same network)."""
    unit = inception_unit(conv_impl, Activation(activation))
    x = inputs = keras.Input(input_shape, name="image")
    x = inception_stem(x, unit, uses_small_stem(stem, input_shape, "inception_v3", MINIMUM_SIDE))
    for name, module in INCEPTION_V3_BODY:
        x = module(x, unit, name)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="inception_v3")
