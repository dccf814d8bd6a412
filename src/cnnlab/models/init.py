"""Weight initialization of a built model (`model.init`).

Keras draws every kernel from Glorot's uniform distribution, which keeps the variance of a
linear or tanh layer's output but halves it at each ReLU. A plain ReLU stack as deep as
VGG or GoogLeNet then starts with vanishing signals and, in a short run, stays at chance.
He et al. (2015) double the variance for ReLUs, which is what lets plain VGG-style networks
train from scratch without pre-training.

Batch normalization makes each convolution's output independent of its kernel's scale, so
there the initializer only sets the effective step size (smaller for larger kernels). Measured
on the digits, He's larger kernels slowed the deep CIFAR ResNets' start (ResNet-56: 0.49 test
accuracy after 5 epochs, against 0.96 after 3 with Glorot), so `init='auto'` keeps Keras's
Glorot for batch-normalized models and for squashing activations (sigmoid, tanh), and picks
He's normal initializer for plain ReLU-family networks. The other choices name a Keras
initializer for every kernel, and 'keras' keeps each layer's own; 'normal:<std>' draws every
kernel from a Gaussian of that std whatever its fan-in: the notes' `weight_scale` (0.01), the
small random numbers whose signals vanish in a deep network (`make bench-init` shows it). Only
kernels are redrawn: biases, batch-norm parameters and PReLU slopes keep their own initializers.
"""

import keras

from cnnlab.choices import check_init, normal_std

SQUASHING = ("sigmoid", "tanh")


def resolve_init(init: str, model: keras.Model) -> str:
    """The initializer `init` names; 'auto' decides by the model's layers."""
    check_init(init)
    if init != "auto":
        return init
    return "keras" if _squashes(model) or _normalizes(model) else "he_normal"


def initialize(model: keras.Model, init: str) -> None:
    """Redraw the kernel of every convolution and dense layer of `model` from `init`."""
    scheme = resolve_init(init, model)
    if scheme == "keras":
        return
    std = normal_std(scheme)
    initializer = (
        keras.initializers.get(scheme)
        if std is None
        else keras.initializers.RandomNormal(stddev=std)
    )
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        kernel.assign(_draw(initializer, tuple(kernel.shape), _is_depthwise(layer), kernel.dtype))


def _squashes(model: keras.Model) -> bool:
    return any(
        isinstance(layer, keras.layers.Activation)
        and getattr(layer.activation, "__name__", "") in SQUASHING
        for layer in model.layers
    )


def _normalizes(model: keras.Model) -> bool:
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def _is_depthwise(layer: keras.layers.Layer) -> bool:
    from cnnlab.layers import Im2ColDepthwiseConv2D

    return isinstance(layer, keras.layers.DepthwiseConv2D | Im2ColDepthwiseConv2D)


def _draw(initializer, shape: tuple[int, ...], depthwise: bool, dtype):
    """Draw a kernel; a depthwise kernel (kh, kw, C, m) has fan-in kh*kw, not kh*kw*C."""
    if not depthwise:
        return initializer(shape, dtype=dtype)
    kh, kw, channels, multiplier = shape
    grouped = initializer((kh, kw, 1, channels * multiplier), dtype=dtype)
    return keras.ops.reshape(grouped, shape)
