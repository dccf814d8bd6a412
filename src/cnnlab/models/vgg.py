"""VGG (Simonyan & Zisserman, 2015): configurations A-E of Table 1, stacks of 3x3 convolutions."""

import keras

from cnnlab.layers import LRN
from cnnlab.models._registry import IMAGENET, register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.units import ConvUnit, dense_unit

# Table 1, one column per configuration: its five stages, each followed by a 2x2/2 max-pool
# ("conv<receptive field>-<channels>"); every column ends with FC-4096, FC-4096, FC-1000, soft-max.
VGG_TABLE: dict[str, tuple[tuple[str, ...], ...]] = {
    "A": (
        ("conv3-64",),
        ("conv3-128",),
        ("conv3-256",) * 2,
        ("conv3-512",) * 2,
        ("conv3-512",) * 2,
    ),
    "A-LRN": (
        ("conv3-64", "LRN"),
        ("conv3-128",),
        ("conv3-256",) * 2,
        ("conv3-512",) * 2,
        ("conv3-512",) * 2,
    ),
    "B": (
        ("conv3-64",) * 2,
        ("conv3-128",) * 2,
        ("conv3-256",) * 2,
        ("conv3-512",) * 2,
        ("conv3-512",) * 2,
    ),
    "C": (
        ("conv3-64",) * 2,
        ("conv3-128",) * 2,
        ("conv3-256", "conv3-256", "conv1-256"),
        ("conv3-512", "conv3-512", "conv1-512"),
        ("conv3-512", "conv3-512", "conv1-512"),
    ),
    "D": (
        ("conv3-64",) * 2,
        ("conv3-128",) * 2,
        ("conv3-256",) * 3,
        ("conv3-512",) * 3,
        ("conv3-512",) * 3,
    ),
    "E": (
        ("conv3-64",) * 2,
        ("conv3-128",) * 2,
        ("conv3-256",) * 4,
        ("conv3-512",) * 4,
        ("conv3-512",) * 4,
    ),
}

# Sec. 3.1: "we initialised the first four convolutional layers and the last three fully-
# connected layers with the layers of net A (the intermediate layers were initialised randomly)".
# A's first four convolutions share their names (and shapes) with those of every deeper column.
STAGEWISE_LAYERS = (
    "block1_conv1",
    "block2_conv1",
    "block3_conv1",
    "block3_conv2",
    "fc1",
    "fc2",
    "predictions_logits",
)
STAGEWISE_SOURCES = ("vgg11", "vgg11_lrn")  # configuration A
STAGEWISE_TARGETS = ("vgg13", "vgg16_c", "vgg16", "vgg19")  # B-E


def stagewise_mapping(source: str, target: str) -> dict[str, str] | None:
    """{layer: A's layer} of the paper's initialization of B-E from A (Sec. 3.1); None if
    `source` is not A or `target` not a deeper configuration."""
    if source in STAGEWISE_SOURCES and target in STAGEWISE_TARGETS:
        return {name: name for name in STAGEWISE_LAYERS}
    return None


def vgg(
    input_shape,
    num_classes: int,
    configuration: str,
    name: str,
    conv_impl: str,
    activation: str,
    batch_norm: bool,
    dropout: float,
) -> keras.Model:
    """The shared builder: the conv stack of one Table 1 column, then the three FC layers.

    The 2x2/2 max-pools pad 'same': at the paper's 224x224 every side is even and nothing
    changes, while odd sides round up, so 28x28 inputs reach 1x1 after the fifth pool.
    The FC layers are dropout-regularised (ratio 0.5, Sec. 3.1). `batch_norm` puts BN
    (Ioffe & Szegedy, 2015) between each convolution and its ReLU, which the paper predates.
    """
    layers = ConvLayers(conv_impl)
    act = Activation(activation)
    unit = ConvUnit(layers, act, batch_norm=batch_norm)
    x = inputs = keras.Input(input_shape, name="image")
    for block, stage in enumerate(VGG_TABLE[configuration], 1):
        for index, entry in enumerate(stage, 1):
            if entry == "LRN":
                x = LRN(name=f"block{block}_lrn")(x)
                continue
            kernel, filters = entry.removeprefix("conv").split("-")
            x = unit(x, int(filters), int(kernel), name=f"block{block}_conv{index}")
        x = layers.max_pool2d(2, 2, padding="same", name=f"block{block}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense_unit(x, 4096, act, "fc1", dropout)
    x = dense_unit(x, 4096, act, "fc2", dropout)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name=name)


@register(paper_input=IMAGENET)
def vgg11(
    input_shape, num_classes, conv_impl="native", activation="relu", batch_norm=False, dropout=0.5
) -> keras.Model:
    """Configuration A: 11 weight layers, 133M parameters (Table 2)."""
    return vgg(input_shape, num_classes, "A", "vgg11", conv_impl, activation, batch_norm, dropout)


@register(paper_input=IMAGENET)
def vgg11_lrn(
    input_shape, num_classes, conv_impl="native", activation="relu", batch_norm=False, dropout=0.5
) -> keras.Model:
    """Configuration A-LRN: A with local response normalization after the first convolution."""
    return vgg(
        input_shape, num_classes, "A-LRN", "vgg11_lrn", conv_impl, activation, batch_norm, dropout
    )


@register(paper_input=IMAGENET)
def vgg13(
    input_shape, num_classes, conv_impl="native", activation="relu", batch_norm=False, dropout=0.5
) -> keras.Model:
    """Configuration B: 13 weight layers, 133M parameters (Table 2)."""
    return vgg(input_shape, num_classes, "B", "vgg13", conv_impl, activation, batch_norm, dropout)


@register(paper_input=IMAGENET)
def vgg16_c(
    input_shape, num_classes, conv_impl="native", activation="relu", batch_norm=False, dropout=0.5
) -> keras.Model:
    """Configuration C: B plus a 1x1 convolution in each of the last three stages, 134M."""
    return vgg(input_shape, num_classes, "C", "vgg16_c", conv_impl, activation, batch_norm, dropout)


@register(paper_input=IMAGENET)
def vgg16(
    input_shape, num_classes, conv_impl="native", activation="relu", batch_norm=False, dropout=0.5
) -> keras.Model:
    """Configuration D: 16 weight layers, 138M parameters (Table 2)."""
    return vgg(input_shape, num_classes, "D", "vgg16", conv_impl, activation, batch_norm, dropout)


@register(paper_input=IMAGENET)
def vgg19(
    input_shape, num_classes, conv_impl="native", activation="relu", batch_norm=False, dropout=0.5
) -> keras.Model:
    """Configuration E: 19 weight layers, 144M parameters (Table 2)."""
    return vgg(input_shape, num_classes, "E", "vgg19", conv_impl, activation, batch_norm, dropout)
