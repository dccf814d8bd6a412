"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998, Fig. 2) and the notes' SimpleConvNet."""

import keras

from cnnlab.checks import require_choice
from cnnlab.choices import FIRST_PADDINGS, LENET_FLAVORS
from cnnlab.models._registry import register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.units import ConvUnit, dense_unit

FLAVOR_LAYERS = {
    # flavor: (activation, pooling); 'original' uses the paper's tanh-like squashing and
    # average-pool subsampling (without its trainable per-map coefficients).
    "modern": ("relu", "max"),
    "original": ("tanh", "avg"),
}


@register(paper_input=((32, 32, 1), 10), init="keras")
def lenet5(
    input_shape,
    num_classes,
    conv_impl="native",
    flavor="modern",
    first_padding="auto",
    activation=None,
) -> keras.Model:
    """C1 6@5x5 - S2 - C3 16@5x5 - S4 - F5 120 - F6 84 - output.

    The paper feeds 32x32 images to a valid C1; for smaller inputs (MNIST's 28x28)
    `first_padding='auto'` pads C1 'same', which gives the same 5x5x16 S4 and 61,706 parameters.
    `activation` (default: the flavor's) replaces the activation of every layer.
    """
    require_choice("model.flavor", flavor, LENET_FLAVORS)
    require_choice("model.first_padding", first_padding, FIRST_PADDINGS)
    flavor_activation, pooling = FLAVOR_LAYERS[flavor]
    if first_padding == "auto":
        first_padding = "valid" if min(input_shape[:2]) >= 32 else "same"
    layers = ConvLayers(conv_impl)
    act = Activation(activation or flavor_activation)
    unit = ConvUnit(layers, act)
    pool = layers.max_pool2d if pooling == "max" else layers.avg_pool2d

    inputs = keras.Input(input_shape, name="image")
    x = unit(inputs, 6, 5, padding=first_padding, name="c1")
    x = pool(2, name="s2")(x)
    x = unit(x, 16, 5, padding="valid", name="c3")
    x = pool(2, name="s4")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense_unit(x, 120, act, "f5")
    x = dense_unit(x, 84, act, "f6")
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="lenet5")


@register(paper_input=((28, 28, 1), 10))
def simple_convnet(
    input_shape, num_classes, conv_impl="native", filters=30, kernel_size=5, hidden_units=100
) -> keras.Model:
    """Conv - ReLU - Pool - Affine - ReLU - Affine - Softmax (the notes' SimpleConvNet)."""
    layers = ConvLayers(conv_impl)
    inputs = keras.Input(input_shape, name="image")
    x = layers.conv2d(filters, kernel_size, activation="relu", name="conv1")(inputs)
    x = layers.max_pool2d(2, name="pool1")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(hidden_units, activation="relu", name="affine1")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name="simple_convnet")
