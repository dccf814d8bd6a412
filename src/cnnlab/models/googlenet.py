"""GoogLeNet / Inception v1 (Szegedy et al., 2015, "Going deeper with convolutions")."""

from dataclasses import dataclass

import keras

from cnnlab.layers import LRN
from cnnlab.models._registry import IMAGENET, register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.auxiliary import with_auxiliary_outputs
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.stems import ANY_SIDE, uses_small_stem
from cnnlab.models.blocks.units import ConvUnit, dense_unit


@dataclass(frozen=True)
class InceptionFilters:
    """The filter columns of Table 1 for one inception module."""

    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int


@dataclass(frozen=True)
class NaiveFilters:
    """Fig. 2(a), the naive module: 1x1, 3x3 and 5x5 convolutions, no 1x1 reductions."""

    n1x1: int
    n3x3: int
    n5x5: int


# Table 1, top to bottom: the inception modules and the 3x3/2 max-pools between them.
INCEPTION_TABLE: tuple[tuple[str, InceptionFilters] | str, ...] = (
    ("3a", InceptionFilters(64, 96, 128, 16, 32, 32)),
    ("3b", InceptionFilters(128, 128, 192, 32, 96, 64)),
    "maxpool",
    ("4a", InceptionFilters(192, 96, 208, 16, 48, 64)),
    ("4b", InceptionFilters(160, 112, 224, 24, 64, 64)),
    ("4c", InceptionFilters(128, 128, 256, 24, 64, 64)),
    ("4d", InceptionFilters(112, 144, 288, 32, 64, 64)),
    ("4e", InceptionFilters(256, 160, 320, 32, 128, 128)),
    "maxpool",
    ("5a", InceptionFilters(256, 160, 320, 32, 128, 128)),
    ("5b", InceptionFilters(384, 192, 384, 48, 128, 128)),
)
AUXILIARY_AFTER = ("4a", "4d")  # Sec. 5: the two auxiliary classifiers sit on 4a and 4d
# The smallest input side each stem accepts: only the auxiliary heads' 5x5 pools need 5x5 maps.
MINIMUM_SIDE = {"imagenet": 65, "small": 17}


def inception_module(x, unit: ConvUnit, filters: InceptionFilters, name: str):
    """Fig. 2(b): 1x1, 1x1-3x3, 1x1-5x5 and 3x3 max-pool-1x1 branches, concatenated."""
    branch1 = unit(x, filters.n1x1, 1, name=f"inception_{name}_1x1")
    branch2 = unit(x, filters.n3x3_reduce, 1, name=f"inception_{name}_3x3_reduce")
    branch2 = unit(branch2, filters.n3x3, 3, name=f"inception_{name}_3x3")
    branch3 = unit(x, filters.n5x5_reduce, 1, name=f"inception_{name}_5x5_reduce")
    branch3 = unit(branch3, filters.n5x5, 5, name=f"inception_{name}_5x5")
    branch4 = unit.layers.max_pool2d(3, 1, padding="same", name=f"inception_{name}_pool")(x)
    branch4 = unit(branch4, filters.pool_proj, 1, name=f"inception_{name}_pool_proj")
    return keras.layers.Concatenate(name=f"inception_{name}")([branch1, branch2, branch3, branch4])


def naive_inception_module(x, unit: ConvUnit, filters: NaiveFilters, name: str):
    """Fig. 2(a): 1x1, 3x3 and 5x5 convolutions and a 3x3 max-pool side by side. The pool passes
    its input's whole depth through, so stacked naive modules only grow deeper, and the 3x3 and
    5x5 convolutions see that whole depth: the cost that Fig. 2(b)'s 1x1 reductions remove."""
    branch1 = unit(x, filters.n1x1, 1, name=f"inception_{name}_1x1")
    branch2 = unit(x, filters.n3x3, 3, name=f"inception_{name}_3x3")
    branch3 = unit(x, filters.n5x5, 5, name=f"inception_{name}_5x5")
    branch4 = unit.layers.max_pool2d(3, 1, padding="same", name=f"inception_{name}_pool")(x)
    return keras.layers.Concatenate(name=f"inception_{name}")([branch1, branch2, branch3, branch4])


def single_module(
    input_shape, filters: InceptionFilters | NaiveFilters, conv_impl: str = "native"
) -> keras.Model:
    """One inception module (with 1x1 reductions, or naive) alone on `input_shape`, ReLU, no
    batch norm: what `cnnlab.analysis.profile` costs in the notes' example (28x28x256 input)."""
    unit = ConvUnit(ConvLayers(conv_impl), Activation("relu"))
    x = inputs = keras.Input(input_shape, name="image")
    module = naive_inception_module if isinstance(filters, NaiveFilters) else inception_module
    return keras.Model(inputs, module(x, unit, filters, "module"), name="inception_module")


def auxiliary_classifier(x, unit: ConvUnit, num_classes: int, name: str):
    """Sec. 5: 5x5/3 average pool, 1x1 conv 128, FC 1024, dropout 70%, softmax."""
    x = unit.layers.avg_pool2d(5, 3, name=f"{name}_pool")(x)
    x = unit(x, 128, 1, name=f"{name}_conv")
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = dense_unit(x, 1024, unit.activation, f"{name}_fc", dropout=0.7)
    return softmax_classifier(x, num_classes, name=name)


@register(paper_input=IMAGENET)
def googlenet(
    input_shape,
    num_classes,
    conv_impl="native",
    activation="relu",
    batch_norm=False,
    aux_weight=0.3,
    stem="auto",
    dropout=0.4,
) -> keras.Model:
    """GoogLeNet: the stem of Table 1 (with Fig. 3's two LRNs), nine inception modules, global
    average pooling, dropout 40%, a linear softmax layer.

    `aux_weight > 0` adds the two auxiliary classifiers as extra outputs of a training network
    whose losses count with that weight (the paper's 0.3); `models.inference_model` and the
    exported model have the main output only, and `aux_weight=0` builds no auxiliary heads. Pools pad 'same', Caffe's ceil rounding
    (224 -> 112 -> 56 -> 28 -> 14 -> 7). Small inputs: conv1 runs at stride 1 and the max-pool
    after it is dropped. `batch_norm` adds BN after every convolution (Inception v2's change).
    """
    small = uses_small_stem(
        stem, input_shape, "googlenet", MINIMUM_SIDE if aux_weight else ANY_SIDE
    )
    layers = ConvLayers(conv_impl)
    unit = ConvUnit(layers, Activation(activation), batch_norm=batch_norm)
    x = inputs = keras.Input(input_shape, name="image")
    x = unit(x, 64, 7, strides=1 if small else 2, name="conv1")
    if not small:
        x = layers.max_pool2d(3, 2, padding="same", name="pool1")(x)
    x = LRN(name="lrn1")(x)
    x = unit(x, 64, 1, name="conv2_reduce")
    x = unit(x, 192, 3, name="conv2")
    x = LRN(name="lrn2")(x)
    x = layers.max_pool2d(3, 2, padding="same", name="pool2")(x)
    auxiliary = {}
    pools = 2
    for entry in INCEPTION_TABLE:
        if entry == "maxpool":
            pools += 1
            x = layers.max_pool2d(3, 2, padding="same", name=f"pool{pools}")(x)
            continue
        name, filters = entry
        x = inception_module(x, unit, filters, name)
        if aux_weight and name in AUXILIARY_AFTER:
            key = f"aux{len(auxiliary) + 1}"
            auxiliary[key] = auxiliary_classifier(x, unit, num_classes, key)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    predictions = softmax_classifier(x, num_classes)
    if auxiliary:
        return with_auxiliary_outputs(inputs, predictions, auxiliary, aux_weight, "googlenet")
    return keras.Model(inputs, predictions, name="googlenet")
