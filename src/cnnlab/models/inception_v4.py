"""Inception v4 (Szegedy, Ioffe, Vanhoucke & Alemi, 2017, "Inception-v4, Inception-ResNet and
the impact of residual connections on learning"): the stem of Fig. 3, 4 x Inception-A (Fig. 4),
Reduction-A (Fig. 7, k=192, l=224, m=256, n=384), 7 x Inception-B (Fig. 5), Reduction-B
(Fig. 8), 3 x Inception-C (Fig. 6), average pooling, dropout (keep 0.8), softmax (Fig. 9).

The paper gives no parameter count; timm's `inception_v4` (ported from the TF-slim release)
and keras-hub's `inception_v4_imagenet` preset list 42,679,816, which this model's trainable
parameters equal: convolutions without bias, each followed by batch norm with gamma and beta.
(TF-slim's own release has no BN gamma.) 'V'-marked layers of the figures pad 'valid'.
"""

import keras

from cnnlab.models._registry import register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.stems import uses_small_stem
from cnnlab.models.blocks.units import ConvUnit
from cnnlab.models.inception_v3 import concatenate, conv_branch, pool_branch

# The smallest input side each stem accepts ('valid' convs and pools in the stem and reductions).
MINIMUM_SIDE = {"imagenet": 75, "small": 15}


def inception_v4_stem(x, unit: ConvUnit, small: bool):
    """Fig. 3: 299 -> 149 -> 147 -> 147 -> 73 (pool | conv) -> 71 (two branches) -> 35.

    Small inputs: the first conv runs at stride 1 and the stem pads 'same' up to the last
    reduction (Fig. 3's pool | conv at the 71x71 grid), so 32 -> 15 and 28 -> 13 at Inception-A.
    """
    valid = "same" if small else "valid"
    x = unit(x, 32, 3, 1 if small else 2, valid, name="stem_conv1")
    x = unit(x, 32, 3, 1, valid, name="stem_conv2")
    x = unit(x, 64, 3, name="stem_conv3")
    first = 1 if small else 2
    x = concatenate(
        [
            unit.layers.max_pool2d(3, first, padding=valid, name="stem_pool1")(x),
            unit(x, 96, 3, first, valid, name="stem_conv4"),
        ],
        "stem_mixed1",
    )
    x = concatenate(
        [
            unit(unit(x, 64, 1, name="stem_b1_1"), 96, 3, 1, valid, name="stem_b1_2"),
            unit(
                conv_branch(x, unit, [(64, 1), (64, (7, 1)), (64, (1, 7))], "stem_b2"),
                96,
                3,
                1,
                valid,
                name="stem_b2_4",
            ),
        ],
        "stem_mixed2",
    )
    return concatenate(
        [
            unit(x, 192, 3, 2, "valid", name="stem_conv5"),
            unit.layers.max_pool2d(3, 2, name="stem_pool2")(x),
        ],
        "stem_mixed3",
    )


def inception_a(x, unit: ConvUnit, name: str):
    """Fig. 4 (35x35): 1x1 96; 1x1 64 - 3x3 96; 1x1 64 - 3x3 96 - 3x3 96; avg pool - 1x1 96."""
    branches = [
        conv_branch(x, unit, [(96, 1)], f"{name}_b1"),
        conv_branch(x, unit, [(64, 1), (96, 3)], f"{name}_b2"),
        conv_branch(x, unit, [(64, 1), (96, 3), (96, 3)], f"{name}_b3"),
        pool_branch(x, unit, 96, f"{name}_b4"),
    ]
    return concatenate(branches, name)


def reduction_a(x, unit: ConvUnit, name: str, k=192, l=224, m=256, n=384):  # noqa: E741
    """Fig. 7 (35x35 -> 17x17), with Table 1's k, l, m, n for Inception-v4."""
    branches = [
        conv_branch(x, unit, [(n, 3, 2)], f"{name}_b1"),
        conv_branch(x, unit, [(k, 1), (l, 3), (m, 3, 2)], f"{name}_b2"),
        unit.layers.max_pool2d(3, 2, name=f"{name}_pool")(x),
    ]
    return concatenate(branches, name)


def inception_b(x, unit: ConvUnit, name: str):
    """Fig. 5 (17x17): 7x7 convolutions factorized into 1x7 and 7x1."""
    branches = [
        conv_branch(x, unit, [(384, 1)], f"{name}_b1"),
        conv_branch(x, unit, [(192, 1), (224, (1, 7)), (256, (7, 1))], f"{name}_b2"),
        conv_branch(
            x,
            unit,
            [(192, 1), (192, (7, 1)), (224, (1, 7)), (224, (7, 1)), (256, (1, 7))],
            f"{name}_b3",
        ),
        pool_branch(x, unit, 128, f"{name}_b4"),
    ]
    return concatenate(branches, name)


def reduction_b(x, unit: ConvUnit, name: str):
    """Fig. 8 (17x17 -> 8x8)."""
    branches = [
        conv_branch(x, unit, [(192, 1), (192, 3, 2)], f"{name}_b1"),
        conv_branch(x, unit, [(256, 1), (256, (1, 7)), (320, (7, 1)), (320, 3, 2)], f"{name}_b2"),
        unit.layers.max_pool2d(3, 2, name=f"{name}_pool")(x),
    ]
    return concatenate(branches, name)


def inception_c(x, unit: ConvUnit, name: str):
    """Fig. 6 (8x8): 3x3 convolutions split into parallel 1x3 and 3x1 (256 each)."""

    def split(y, branch: str):
        return concatenate(
            [
                unit(y, 256, (1, 3), name=f"{name}_{branch}_1x3"),
                unit(y, 256, (3, 1), name=f"{name}_{branch}_3x1"),
            ],
            f"{name}_{branch}",
        )

    branches = [
        conv_branch(x, unit, [(256, 1)], f"{name}_b1"),
        split(conv_branch(x, unit, [(384, 1)], f"{name}_b2"), "b2_split"),
        split(
            conv_branch(x, unit, [(384, 1), (448, (3, 1)), (512, (1, 3))], f"{name}_b3"), "b3_split"
        ),
        pool_branch(x, unit, 256, f"{name}_b4"),
    ]
    return concatenate(branches, name)


# Fig. 9 from the 35x35 grid on: 4 x A, Reduction-A, 7 x B, Reduction-B, 3 x C.
INCEPTION_V4_BODY = (
    *((f"inception_a{i}", inception_a) for i in range(1, 5)),
    ("reduction_a", reduction_a),
    *((f"inception_b{i}", inception_b) for i in range(1, 8)),
    ("reduction_b", reduction_b),
    *((f"inception_c{i}", inception_c) for i in range(1, 4)),
)


@register(paper_input=((299, 299, 3), 1000))
def inception_v4(
    input_shape, num_classes, conv_impl="native", activation="relu", stem="auto", dropout=0.2
) -> keras.Model:
    """Inception v4 at 299x299x3: 42,679,816 trainable parameters (timm, keras-hub), 12.3G
    multiply-adds. `dropout` is Fig. 9's (keep 0.8)."""
    unit = ConvUnit(ConvLayers(conv_impl), Activation(activation), batch_norm=True)
    small = uses_small_stem(stem, input_shape, "inception_v4", MINIMUM_SIDE)
    x = inputs = keras.Input(input_shape, name="image")
    x = inception_v4_stem(x, unit, small)
    for name, module in INCEPTION_V4_BODY:
        x = module(x, unit, name)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="inception_v4")
