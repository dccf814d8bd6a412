"""Inception-ResNet-v2 (Szegedy, Ioffe, Vanhoucke & Alemi, 2017, "Inception-v4, Inception-ResNet
and the impact of residual connections on learning"): inception blocks as residual branches.

The filters follow the released TF-slim model (which keras.applications.InceptionResNetV2 also
builds: 55,873,736 parameters): its stem is Inception v3's plus a 35x35 inception module
(mixed_5b, 320 channels) instead of the paper's Fig. 3 stem (384 channels), so the 1x1 convs
that close the residual branches of Fig. 16 produce 320 channels, not 384.
"""

import keras

from cnnlab.errors import ConfigError
from cnnlab.models._registry import register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.stems import uses_small_stem
from cnnlab.models.blocks.units import ConvUnit
from cnnlab.models.inception_v3 import (
    MINIMUM_SIDE,
    concatenate,
    conv_branch,
    inception_stem,
    inception_unit,
    pool_branch,
)

# The residual branches of the three block types (Figs. 16, 17, 19) and their residual scale.
INCEPTION_RESNET_A = ([(32, 1)], [(32, 1), (32, 3)], [(32, 1), (48, 3), (64, 3)])  # 35x35
INCEPTION_RESNET_B = ([(192, 1)], [(128, 1), (160, (1, 7)), (192, (7, 1))])  # 17x17
INCEPTION_RESNET_C = ([(192, 1)], [(192, 1), (224, (1, 3)), (256, (3, 1))])  # 8x8


def mixed_5b(x, unit: ConvUnit):
    """The reference stem's last layer: an Inception v3 Fig. 5 module with 96/64/96/64 outputs."""
    branches = [
        conv_branch(x, unit, [(96, 1)], "mixed_5b_b1"),
        conv_branch(x, unit, [(48, 1), (64, 5)], "mixed_5b_b2"),
        conv_branch(x, unit, [(64, 1), (96, 3), (96, 3)], "mixed_5b_b3"),
        pool_branch(x, unit, 64, "mixed_5b_b4"),
    ]
    return concatenate(branches, "mixed_5b")


def inception_resnet_block(x, unit: ConvUnit, branches, scale: float, name: str, activate=True):
    """Figs. 16, 17, 19: act(x + scale * conv1x1(concat(branches))), the 1x1 linear with bias."""
    mixed = concatenate(
        [conv_branch(x, unit, b, f"{name}_b{i}") for i, b in enumerate(branches, 1)],
        f"{name}_mixed",
    )
    up = unit.layers.conv2d(x.shape[-1], 1, use_bias=True, name=f"{name}_conv")(mixed)
    up = keras.layers.Rescaling(scale, name=f"{name}_scale")(up)
    x = keras.layers.Add(name=f"{name}_add")([x, up])
    return unit.activation(x, name=f"{name}_out") if activate else x


def reduction_a(x, unit: ConvUnit):
    """Fig. 7 with k, l, m, n = 256, 256, 384, 384 (Table 1): 35x35 -> 17x17."""
    branches = [
        conv_branch(x, unit, [(384, 3, 2)], "mixed_6a_b1"),
        conv_branch(x, unit, [(256, 1), (256, 3), (384, 3, 2)], "mixed_6a_b2"),
        unit.layers.max_pool2d(3, 2, name="mixed_6a_pool")(x),
    ]
    return concatenate(branches, "mixed_6a")


def reduction_b(x, unit: ConvUnit):
    """Fig. 18: 17x17 -> 8x8."""
    branches = [
        conv_branch(x, unit, [(256, 1), (384, 3, 2)], "mixed_7a_b1"),
        conv_branch(x, unit, [(256, 1), (288, 3, 2)], "mixed_7a_b2"),
        conv_branch(x, unit, [(256, 1), (288, 3), (320, 3, 2)], "mixed_7a_b3"),
        unit.layers.max_pool2d(3, 2, name="mixed_7a_pool")(x),
    ]
    return concatenate(branches, "mixed_7a")


# Fig. 15 after the stem: each block type, its residual branches, its residual scale (Sec. 3.3:
# scaling residuals by 0.1-0.3 stabilizes training; the released model's values) and the
# reduction that follows its blocks.
INCEPTION_RESNET_V2_BODY = (
    ("block35", INCEPTION_RESNET_A, 0.17, reduction_a),
    ("block17", INCEPTION_RESNET_B, 0.1, reduction_b),
    ("block8", INCEPTION_RESNET_C, 0.2, None),
)


@register(paper_input=((299, 299, 3), 1000))
def inception_resnet_v2(
    input_shape,
    num_classes,
    conv_impl="native",
    activation="relu",
    blocks=(10, 20, 10),
    stem="auto",
) -> keras.Model:
    """Inception-ResNet-v2 (Fig. 15): stem, 10 x A, reduction A, 20 x B, reduction B, 10 x C,
    1x1 conv 1536, average pool, softmax. The last C block has scale 1 and no activation.

    `blocks` sets how many A, B and C blocks: (10, 20, 10) is the paper's network; fewer give a
    smaller variant of the same blocks. Small inputs: Inception v3's small stem.
    """
    if len(blocks) != 3 or not all(isinstance(b, int) and b >= 0 for b in blocks):
        raise ConfigError(
            f"model.blocks={list(blocks)!r} is invalid: expected three integers >= 0 "
            "(Inception-ResNet-A, -B and -C blocks)"
        )
    act = Activation.keeping_width(
        activation, "inception_resnet_v2", "a residual sum keeps its width"
    )
    unit = inception_unit(conv_impl, act)
    x = inputs = keras.Input(input_shape, name="image")
    x = inception_stem(
        x, unit, uses_small_stem(stem, input_shape, "inception_resnet_v2", MINIMUM_SIDE)
    )
    x = mixed_5b(x, unit)
    for (kind, branches, scale, reduction), repeats in zip(
        INCEPTION_RESNET_V2_BODY, blocks, strict=True
    ):
        for index in range(1, repeats + 1):
            # As in the released model, the very last block adds its residual unscaled, no ReLU.
            last = reduction is None and index == repeats
            x = inception_resnet_block(
                x, unit, branches, 1.0 if last else scale, f"{kind}_{index}", activate=not last
            )
        if reduction is not None:
            x = reduction(x, unit)
    x = unit(x, 1536, 1, name="conv_7b")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="inception_resnet_v2")
