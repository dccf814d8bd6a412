"""MobileNet v1 (Howard et al., 2017, "MobileNets: Efficient convolutional neural networks for
mobile vision applications"): depthwise separable convolutions, width and resolution multipliers.
"""

import keras

from cnnlab.errors import ConfigError
from cnnlab.models._registry import IMAGENET, register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.units import ConvUnit

# Table 1 after the first full convolution (3x3/2, 32 filters): each depthwise separable layer
# as (stride of its 3x3 depthwise conv, filters of its 1x1 pointwise conv). The table's second
# to last 'Conv dw / s2' is a typo: its input and output are both 7x7, so its stride is 1.
MOBILENET_LAYERS: tuple[tuple[int, int], ...] = (
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    *((1, 512),) * 5,
    (2, 1024),
    (1, 1024),
)


def depthwise_separable(x, unit: ConvUnit, filters: int, strides: int, name: str):
    """Fig. 3 (right): 3x3 depthwise conv - BN - ReLU - 1x1 pointwise conv - BN - ReLU."""
    x = unit.depthwise(x, 3, strides, name=f"{name}_dw")
    return unit(x, filters, 1, name=f"{name}_pw")


@register(paper_input=IMAGENET)
def mobilenet(
    input_shape,
    num_classes,
    conv_impl="native",
    activation="relu",
    alpha=1.0,
    resolution_multiplier=1.0,
    dropout=0.0,
) -> keras.Model:
    """MobileNet: 4.2M parameters and 569M multiply-adds at 224x224 (Table 8).

    `alpha` thins every layer to int(alpha * filters) (Sec. 3.3, Table 6); a
    `resolution_multiplier` rho < 1 resizes the input to rho x its side first (Sec. 3.4,
    Table 7: 224, 192, 160, 128). Every conv pads 'same', so any input size works
    (28x28 -> 1x1 after the five stride-2 layers).
    """
    if not alpha > 0:
        raise ConfigError(f"model.alpha={alpha!r} is invalid: expected a number > 0")
    if not 0 < resolution_multiplier <= 1:
        raise ConfigError(
            f"model.resolution_multiplier={resolution_multiplier!r} is invalid: "
            "expected a number in (0, 1]"
        )
    act = Activation.keeping_width(activation, "mobilenet", "a depthwise conv keeps its width")
    unit = ConvUnit(ConvLayers(conv_impl), act, batch_norm=True)
    x = inputs = keras.Input(input_shape, name="image")
    if resolution_multiplier != 1:
        side = [max(1, round(d * resolution_multiplier)) for d in input_shape[:2]]
        x = keras.layers.Resizing(*side, name="resolution_multiplier")(x)
    x = unit(x, int(32 * alpha), 3, strides=2, name="conv1")
    for index, (strides, filters) in enumerate(MOBILENET_LAYERS, 1):
        x = depthwise_separable(x, unit, int(filters * alpha), strides, name=f"conv{index + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="mobilenet")
