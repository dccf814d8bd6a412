"""ResNet (He, Zhang, Ren & Sun, 2016, "Deep residual learning for image recognition"): the
ImageNet models of Table 1, the 6n+2-layer CIFAR-10 models of Sec. 4.2, and the plain nets they
are compared with (the same layers without shortcuts, Fig. 6 left: the degradation problem).

Every convolution is followed by batch norm and has no bias, as in the released models (and
torchvision: ResNet-50 has 25,557,032 trainable parameters). keras.applications' ResNets add a
bias to every convolution: its ResNet-50 has 25,636,712 parameters, ours 25,610,152 (with BN's
moving statistics), the 26,560 difference being exactly those biases.
"""

from collections.abc import Callable

import keras
from keras import ops

from cnnlab.checks import require_choice
from cnnlab.choices import SHORTCUTS
from cnnlab.models._registry import CIFAR10, IMAGENET, register
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import softmax_classifier
from cnnlab.models.blocks.recursion import graph_limit, recursion_limit
from cnnlab.models.blocks.stems import ANY_SIDE, uses_small_stem
from cnnlab.models.blocks.units import ConvUnit

IMAGENET_WIDTHS = (64, 128, 256, 512)  # conv2_x .. conv5_x
CIFAR_WIDTHS = (16, 32, 64)  # Sec. 4.2: feature maps of 32, 16 and 8


@keras.saving.register_keras_serializable(package="cnnlab")
class ZeroPadShortcut(keras.layers.Layer):
    """Option A's shortcut: the identity, subsampled by `strides` and zero-padded to `filters`
    channels, so it adds no parameter (Sec. 3.3 and the CIFAR models of Sec. 4.2)."""

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)

    def call(self, inputs):
        x = inputs[:, :: self.strides, :: self.strides, :]
        return ops.pad(x, [(0, 0), (0, 0), (0, 0), (0, self.filters - inputs.shape[-1])])

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        side = [None if d is None else -(-d // self.strides) for d in (height, width)]
        return (batch, *side, self.filters)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


def basic_branch(x, unit: ConvUnit, filters: int, strides: int, name: str):
    """Fig. 5 (left), the 'building block': two 3x3 convolutions, `filters` outputs."""
    x = unit(x, filters, 3, strides, name=f"{name}_1")
    return unit.linear(x, filters, 3, name=f"{name}_2")


def bottleneck_branch(x, unit: ConvUnit, filters: int, strides: int, name: str):
    """Fig. 5 (right): 1x1 reduce, 3x3, 1x1 expand to 4 x `filters`. The stride sits on the
    first 1x1, as in the released models, which gives Table 1's FLOPs."""
    x = unit(x, filters, 1, strides, name=f"{name}_1")
    x = unit(x, filters, 3, name=f"{name}_2")
    return unit.linear(x, 4 * filters, 1, name=f"{name}_3")


Branch = Callable[..., keras.KerasTensor]
EXPANSION: dict[Branch, int] = {basic_branch: 1, bottleneck_branch: 4}  # output width / filters

# Table 1: the residual branch of each ImageNet depth and its blocks in conv2_x .. conv5_x.
IMAGENET_DEPTHS: dict[int, tuple[Branch, tuple[int, ...]]] = {
    18: (basic_branch, (2, 2, 2, 2)),
    34: (basic_branch, (3, 4, 6, 3)),
    50: (bottleneck_branch, (3, 4, 6, 3)),
    101: (bottleneck_branch, (3, 4, 23, 3)),
    152: (bottleneck_branch, (3, 8, 36, 3)),
}


def identity_block(x, unit: ConvUnit, branch: Branch, filters: int, name: str):
    """A residual unit whose shortcut is the identity: act(x + F(x)) (Eq. 1)."""
    y = branch(x, unit, filters, 1, name)
    return unit.activation(keras.layers.Add(name=f"{name}_add")([x, y]), name=f"{name}_out")


def conv_block(
    x, unit: ConvUnit, branch: Branch, filters: int, strides: int, shortcut: str, name: str
):
    """A residual unit that changes the shape: act(W_s x + F(x)) (Eq. 2), W_s by `shortcut`."""
    y = branch(x, unit, filters, strides, name)
    if shortcut == "B":
        s = unit.linear(x, y.shape[-1], 1, strides, name=f"{name}_0")
    else:
        s = ZeroPadShortcut(y.shape[-1], strides, name=f"{name}_0")(x)
    return unit.activation(keras.layers.Add(name=f"{name}_add")([s, y]), name=f"{name}_out")


def residual_stages(x, unit: ConvUnit, branch: Branch, widths, depths, shortcut: str, first: int):
    """Stages of residual units; each stage after the first halves the feature map. With
    `shortcut='none'` each unit is its branch alone, act(F(x)): a plain net (Sec. 4.1)."""
    for stage, (filters, blocks) in enumerate(zip(widths, depths, strict=True)):
        for block in range(blocks):
            name = f"conv{stage + first}_block{block + 1}"
            strides = 2 if stage > 0 and block == 0 else 1
            if shortcut == "none":
                x = unit.activation(branch(x, unit, filters, strides, name), name=f"{name}_out")
            elif strides == 1 and x.shape[-1] == filters * EXPANSION[branch]:
                x = identity_block(x, unit, branch, filters, name)
            else:
                x = conv_block(x, unit, branch, filters, strides, shortcut, name)
    return x


def _unit(conv_impl: str, activation: str, model: str) -> ConvUnit:
    act = Activation.keeping_width(activation, model, "a residual sum keeps its width")
    return ConvUnit(ConvLayers(conv_impl), act, batch_norm=True)


def imagenet_resnet(
    input_shape,
    num_classes: int,
    depth: int,
    conv_impl: str,
    activation: str,
    shortcut: str,
    stem: str,
) -> keras.Model:
    """Table 1: conv1 7x7/2 64, 3x3/2 max-pool, conv2_x .. conv5_x, average pool, FC, softmax.

    Small inputs: conv1 runs at stride 1 and the max-pool is dropped (32x32 -> 4x4 at conv5_x).
    """
    require_choice("model.shortcut", shortcut, SHORTCUTS)
    name = f"resnet{depth}"
    unit = _unit(conv_impl, activation, name)
    branch, depths = IMAGENET_DEPTHS[depth]
    small = uses_small_stem(stem, input_shape, name, ANY_SIDE)
    x = inputs = keras.Input(input_shape, name="image")
    if small:
        x = unit(x, 64, 7, name="conv1")
    else:
        # Padded evenly, as the released models (and torchvision, keras.applications) pad:
        # 'same' would pad 2 before and 3 after at stride 2 and shift every window by a pixel,
        # so keras.applications' weights would not give its outputs. Same output sizes.
        x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = unit(x, 64, 7, strides=2, padding="valid", name="conv1")
        x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)  # after ReLU zeros never win
        x = unit.layers.max_pool2d(3, 2, padding="valid", name="pool1")(x)
    x = residual_stages(x, unit, branch, IMAGENET_WIDTHS, depths, shortcut, first=2)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, softmax_classifier(x, num_classes), name=name)


def cifar_resnet(
    input_shape, num_classes: int, depth: int, conv_impl: str, activation: str, shortcut: str
) -> keras.Model:
    """Sec. 4.2: conv 3x3 16, then 3 stages of n = (depth - 2) / 6 building blocks with 16, 32
    and 64 filters, global average pooling, FC, softmax. Option A shortcuts in the paper;
    `shortcut='none'` builds the plain net of the same depth (named plain<depth>)."""
    require_choice("model.shortcut", shortcut, SHORTCUTS)
    name = f"{'plain' if shortcut == 'none' else 'resnet'}{depth}"
    unit = _unit(conv_impl, activation, name)
    blocks = (depth - 2) // 6
    with recursion_limit(graph_limit(4 * depth)):  # about 3.5 layers per unit of depth
        x = inputs = keras.Input(input_shape, name="image")
        x = unit(x, 16, 3, name="conv1")
        x = residual_stages(x, unit, basic_branch, CIFAR_WIDTHS, (blocks,) * 3, shortcut, first=2)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.Model(inputs, softmax_classifier(x, num_classes), name=name)


@register(paper_input=IMAGENET)
def resnet18(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="B", stem="auto"
) -> keras.Model:
    """ResNet-18 (Table 1): 11.7M parameters, 1.8 x 10^9 multiply-adds at 224x224."""
    return imagenet_resnet(input_shape, num_classes, 18, conv_impl, activation, shortcut, stem)


@register(paper_input=IMAGENET)
def resnet34(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="B", stem="auto"
) -> keras.Model:
    """ResNet-34 (Table 1): 21.8M parameters, 3.6 x 10^9 multiply-adds at 224x224."""
    return imagenet_resnet(input_shape, num_classes, 34, conv_impl, activation, shortcut, stem)


@register(paper_input=IMAGENET)
def resnet50(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="B", stem="auto"
) -> keras.Model:
    """ResNet-50 (Table 1): 25.6M parameters, 3.8 x 10^9 multiply-adds at 224x224."""
    return imagenet_resnet(input_shape, num_classes, 50, conv_impl, activation, shortcut, stem)


@register(paper_input=IMAGENET)
def resnet101(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="B", stem="auto"
) -> keras.Model:
    """ResNet-101 (Table 1): 44.5M parameters, 7.6 x 10^9 multiply-adds at 224x224."""
    return imagenet_resnet(input_shape, num_classes, 101, conv_impl, activation, shortcut, stem)


@register(paper_input=IMAGENET)
def resnet152(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="B", stem="auto"
) -> keras.Model:
    """ResNet-152 (Table 1): 60.2M parameters, 11.3 x 10^9 multiply-adds at 224x224."""
    return imagenet_resnet(input_shape, num_classes, 152, conv_impl, activation, shortcut, stem)


@register(paper_input=CIFAR10)
def resnet20(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="A"
) -> keras.Model:
    """ResNet-20 for CIFAR-10 (Sec. 4.2, n = 3): 0.27M parameters (Table 6)."""
    return cifar_resnet(input_shape, num_classes, 20, conv_impl, activation, shortcut)


@register(paper_input=CIFAR10)
def resnet32(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="A"
) -> keras.Model:
    """ResNet-32 for CIFAR-10 (Sec. 4.2, n = 5): 0.46M parameters (Table 6)."""
    return cifar_resnet(input_shape, num_classes, 32, conv_impl, activation, shortcut)


@register(paper_input=CIFAR10)
def resnet44(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="A"
) -> keras.Model:
    """ResNet-44 for CIFAR-10 (Sec. 4.2, n = 7): 0.66M parameters (Table 6)."""
    return cifar_resnet(input_shape, num_classes, 44, conv_impl, activation, shortcut)


@register(paper_input=CIFAR10)
def resnet56(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="A"
) -> keras.Model:
    """ResNet-56 for CIFAR-10 (Sec. 4.2, n = 9): 0.85M parameters (Table 6)."""
    return cifar_resnet(input_shape, num_classes, 56, conv_impl, activation, shortcut)


@register(paper_input=CIFAR10)
def resnet110(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="A"
) -> keras.Model:
    """ResNet-110 for CIFAR-10 (Sec. 4.2, n = 18): 1.7M parameters (Table 6)."""
    return cifar_resnet(input_shape, num_classes, 110, conv_impl, activation, shortcut)


@register(paper_input=CIFAR10)
def resnet1202(
    input_shape, num_classes, conv_impl="native", activation="relu", shortcut="A"
) -> keras.Model:
    """ResNet-1202 for CIFAR-10 (Sec. 4.2, n = 200): 19.4M parameters (Table 6)."""
    return cifar_resnet(input_shape, num_classes, 1202, conv_impl, activation, shortcut)


# Fig. 6 (left): the plain nets whose training error grows with depth (the degradation problem).


@register(paper_input=CIFAR10)
def plain20(input_shape, num_classes, conv_impl="native", activation="relu") -> keras.Model:
    """Plain-20 (Sec. 4.2): ResNet-20's 19 convolutions and FC layer without shortcuts."""
    return cifar_resnet(input_shape, num_classes, 20, conv_impl, activation, "none")


@register(paper_input=CIFAR10)
def plain32(input_shape, num_classes, conv_impl="native", activation="relu") -> keras.Model:
    """Plain-32 (Sec. 4.2): ResNet-32 without shortcuts."""
    return cifar_resnet(input_shape, num_classes, 32, conv_impl, activation, "none")


@register(paper_input=CIFAR10)
def plain44(input_shape, num_classes, conv_impl="native", activation="relu") -> keras.Model:
    """Plain-44 (Sec. 4.2): ResNet-44 without shortcuts."""
    return cifar_resnet(input_shape, num_classes, 44, conv_impl, activation, "none")


@register(paper_input=CIFAR10)
def plain56(input_shape, num_classes, conv_impl="native", activation="relu") -> keras.Model:
    """Plain-56 (Sec. 4.2): ResNet-56 without shortcuts; higher training error than plain-20."""
    return cifar_resnet(input_shape, num_classes, 56, conv_impl, activation, "none")
