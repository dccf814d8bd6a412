"""Inception v2, or BN-Inception (Ioffe & Szegedy, 2015, "Batch normalization", Sec. 4.2 and
Fig. 5): GoogLeNet with batch normalization after every convolution, each 5x5 convolution
replaced by two 3x3 (the "double 3x3" branch), 28x28 modules 3a-3c, average pooling beside the
max pooling, and grid reductions by stride-2 modules (3c, 4e) instead of pools between stages.
Like the paper's accelerated network (Sec. 4.2.1), it has no LRN and no dropout; as in the
released Caffe model it has no auxiliary classifier.
"""

from dataclasses import dataclass

import keras

from cnnlab.models._registry import IMAGENET, register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.stems import ANY_SIDE, uses_small_stem
from cnnlab.models.blocks.units import ConvUnit


@dataclass(frozen=True)
class BNInceptionFilters:
    """The columns of Fig. 5 for one module. `strides=2`: a reduction module (no 1x1 branch,
    the pool branch passes its input through a stride-2 max-pool)."""

    n1x1: int
    n3x3_reduce: int
    n3x3: int
    double_reduce: int
    double_3x3: int
    pool: str  # "avg" | "max"
    pool_proj: int
    strides: int = 1


# Fig. 5, from inception (3a) on.
BN_INCEPTION_TABLE: tuple[tuple[str, BNInceptionFilters], ...] = (
    ("3a", BNInceptionFilters(64, 64, 64, 64, 96, "avg", 32)),
    ("3b", BNInceptionFilters(64, 64, 96, 64, 96, "avg", 64)),
    ("3c", BNInceptionFilters(0, 128, 160, 64, 96, "max", 0, strides=2)),
    ("4a", BNInceptionFilters(224, 64, 96, 96, 128, "avg", 128)),
    ("4b", BNInceptionFilters(192, 96, 128, 96, 128, "avg", 128)),
    ("4c", BNInceptionFilters(160, 128, 160, 128, 160, "avg", 128)),
    ("4d", BNInceptionFilters(96, 128, 192, 160, 192, "avg", 128)),
    ("4e", BNInceptionFilters(0, 128, 192, 192, 256, "max", 0, strides=2)),
    ("5a", BNInceptionFilters(352, 192, 320, 160, 224, "avg", 128)),
    ("5b", BNInceptionFilters(352, 192, 320, 192, 224, "max", 128)),
)


def bn_inception_module(x, unit: ConvUnit, filters: BNInceptionFilters, name: str):
    """Fig. 5's module: 1x1; 1x1-3x3; 1x1-3x3-3x3 (the 5x5 factorized); pool-1x1. A stride-2
    module puts its stride on the last 3x3 of each branch and passes the pooled input through."""
    s = filters.strides
    branches = []
    if filters.n1x1:
        branches.append(unit(x, filters.n1x1, 1, name=f"inception_{name}_1x1"))
    y = unit(x, filters.n3x3_reduce, 1, name=f"inception_{name}_3x3_reduce")
    branches.append(unit(y, filters.n3x3, 3, s, name=f"inception_{name}_3x3"))
    y = unit(x, filters.double_reduce, 1, name=f"inception_{name}_double_3x3_reduce")
    y = unit(y, filters.double_3x3, 3, name=f"inception_{name}_double_3x3_1")
    branches.append(unit(y, filters.double_3x3, 3, s, name=f"inception_{name}_double_3x3_2"))
    pool = unit.layers.max_pool2d if filters.pool == "max" else unit.layers.avg_pool2d
    y = pool(3, s, padding="same", name=f"inception_{name}_pool")(x)
    if filters.pool_proj:
        y = unit(y, filters.pool_proj, 1, name=f"inception_{name}_pool_proj")
    branches.append(y)
    return keras.layers.Concatenate(name=f"inception_{name}")(branches)


@register(paper_input=IMAGENET)
def inception_v2(
    input_shape, num_classes, conv_impl="native", activation="relu", stem="auto"
) -> keras.Model:
    """BN-Inception: 7x7/2 conv 64, 3x3/2 max-pool, 1x1 64 - 3x3 192, 3x3/2 max-pool, the ten
    modules of Fig. 5 (224 -> 112 -> 56 -> 28 -> 14 -> 7), global average pooling, softmax.

    Every convolution is followed by batch norm and has no bias (BN's beta replaces it,
    Sec. 3.2): 11,285,224 trainable parameters and 2.03G multiply-adds at 224x224, the
    released Caffe model's 11,295,240 less its 10,016 conv biases. Pools pad 'same' (Caffe's
    ceil rounding). Small inputs: conv1 runs at stride 1 and the max-pool after it is dropped.
    """
    small = uses_small_stem(stem, input_shape, "inception_v2", ANY_SIDE)
    unit = ConvUnit(ConvLayers(conv_impl), Activation(activation), batch_norm=True)
    x = inputs = keras.Input(input_shape, name="image")
    x = unit(x, 64, 7, strides=1 if small else 2, name="conv1")
    if not small:
        x = unit.layers.max_pool2d(3, 2, padding="same", name="pool1")(x)
    x = unit(x, 64, 1, name="conv2_reduce")
    x = unit(x, 192, 3, name="conv2")
    x = unit.layers.max_pool2d(3, 2, padding="same", name="pool2")(x)
    for name, filters in BN_INCEPTION_TABLE:
        x = bn_inception_module(x, unit, filters, name)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="inception_v2")
