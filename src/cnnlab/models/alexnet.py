"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012, Sec. 3 and Fig. 2) and ZFNet (Zeiler & Fergus,
2014, Fig. 3): five convolutions, three fully connected layers, ReLU, LRN, overlapping pooling.
"""

from dataclasses import dataclass

import keras

from cnnlab.layers import LRN
from cnnlab.models._registry import IMAGENET, register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.stems import uses_small_stem
from cnnlab.models.blocks.units import ConvUnit, dense_unit


@dataclass(frozen=True)
class ConvLayer:
    """One row of the papers' figures: a convolution and what follows its ReLU."""

    filters: int
    kernel: int
    strides: int = 1
    # an int: that many zeros, then a 'valid' conv (Caffe's `pad`); VALID_OR_2: see below
    padding: str | int = "same"
    groups: int = 1  # 2: AlexNet's split of the filters over two GPUs
    then: tuple[str, ...] = ()  # in order: "lrn", "pool" (3x3/2 valid), "pool_ceil" (3x3/2 'same')


# AlexNet's conv1 on the paper's "224x224" input: its 11x11/4 convolution gives the 55x55 maps
# of Fig. 2 only on Caffe's 227 ((227 - 11) / 4 + 1 = 55), where the stride tiles the input
# exactly; there it is 'valid'. On any other side it pads 2 zeros, as torchvision does, so that
# 224 also gives 55 -> 27 -> 13 -> 6 and the paper's parameter count (a 'valid' conv1 at 224
# gives 54 -> 26 -> 12 -> 5 and 49,430,888 parameters).
VALID_OR_2 = "valid_or_2"

# AlexNet, Fig. 2: 227 (or 224) -> 55 -> 27 -> 13 -> 6. Layers 2, 4 and 5 see only their own
# GPU's half of the maps.
ALEXNET = (
    ConvLayer(96, 11, 4, VALID_OR_2, then=("lrn", "pool")),
    ConvLayer(256, 5, groups=2, then=("lrn", "pool")),
    ConvLayer(384, 3),
    ConvLayer(384, 3, groups=2),
    ConvLayer(256, 3, groups=2, then=("pool",)),
)

# ZFNet, Fig. 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6, one GPU, contrast normalization
# after the first two pools. The 110 -> 55 and 26 -> 13 pools round up (Caffe's ceil mode).
ZFNET = (
    ConvLayer(96, 7, 2, padding=1, then=("pool_ceil", "lrn")),
    ConvLayer(256, 5, 2, "valid", then=("pool_ceil", "lrn")),
    ConvLayer(384, 3),
    ConvLayer(384, 3),
    ConvLayer(256, 3, then=("pool",)),
)

# The smallest input side each stem accepts (a test searches for them with the registry).
MINIMUM_SIDE = {"alexnet": {"imagenet": 64, "small": 15}, "zfnet": {"imagenet": 53, "small": 25}}


def alexnet_family(
    input_shape,
    num_classes: int,
    table: tuple[ConvLayer, ...],
    name: str,
    conv_impl: str,
    activation: str,
    grouped: bool,
    stem: str,
    dropout: float,
) -> keras.Model:
    """The shared builder: conv layers from `table`, then FC 4096 - FC 4096 - classifier.

    Small inputs (`stem`): the first convolution runs at stride 1 with 'same' padding.
    """
    small = uses_small_stem(stem, input_shape, name, MINIMUM_SIDE[name])
    layers = ConvLayers(conv_impl)
    act = Activation(activation)
    unit = ConvUnit(layers, act)
    x = inputs = keras.Input(input_shape, name="image")
    for index, spec in enumerate(table, 1):
        strides, padding = spec.strides, spec.padding
        if small and index == 1:
            strides, padding = 1, "same"
        if padding == VALID_OR_2:
            tiles = all((side - spec.kernel) % strides == 0 for side in x.shape[1:3])
            padding = "valid" if tiles else 2
        if isinstance(padding, int):
            x = keras.layers.ZeroPadding2D(padding, name=f"conv{index}_pad")(x)
            padding = "valid"
        groups = spec.groups if grouped else 1
        x = unit(x, spec.filters, spec.kernel, strides, padding, groups=groups, name=f"conv{index}")
        for step in spec.then:
            if step == "lrn":
                x = LRN(name=f"lrn{index}")(x)
            else:
                pool_padding = "same" if step == "pool_ceil" else "valid"
                x = layers.max_pool2d(3, 2, padding=pool_padding, name=f"pool{index}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense_unit(x, 4096, act, "fc6", dropout)
    x = dense_unit(x, 4096, act, "fc7", dropout)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name=name)


@register(paper_input=((227, 227, 3), 1000))
def alexnet(
    input_shape,
    num_classes,
    conv_impl="native",
    activation="relu",
    grouped=True,
    stem="auto",
    dropout=0.5,
) -> keras.Model:
    """AlexNet: 60,965,224 parameters at 227x227x3 or 224x224x3 and 724M multiply-adds at 227
    with `grouped=True` (the two-GPU model); `grouped=False` gives the one-GPU variant
    (62,378,344)."""
    return alexnet_family(
        input_shape, num_classes, ALEXNET, "alexnet", conv_impl, activation, grouped, stem, dropout
    )


@register(paper_input=IMAGENET)
def zfnet(
    input_shape, num_classes, conv_impl="native", activation="relu", stem="auto", dropout=0.5
) -> keras.Model:
    """ZFNet: AlexNet with a 7x7/2 first layer and a stride-2 second layer, on one GPU."""
    return alexnet_family(
        input_shape, num_classes, ZFNET, "zfnet", conv_impl, activation, False, stem, dropout
    )
