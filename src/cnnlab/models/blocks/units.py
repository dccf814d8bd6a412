"""The units the classics stack: conv -> [batch norm] -> activation, and dense -> activation."""

from dataclasses import dataclass

import keras

from cnnlab.layers import FusedBatchNormalization
from cnnlab.models.blocks.activations import Activation
from cnnlab.models.blocks.conv import ConvLayers

BN_MOMENTUM = 0.9


@dataclass(frozen=True)
class ConvUnit:
    """Makes conv (or depthwise conv) -> [batch norm] -> activation units for one model.

    With batch norm the convolution has no bias: BN's beta replaces it (Ioffe & Szegedy, 2015,
    Sec. 3.2). `bn_scale=False` drops BN's gamma, as keras.applications' Inception models do.
    The moving statistics use momentum 0.9 (PyTorch's default): with Keras's 0.99 they still
    remember their initial values after the ~100 steps of a short run, and evaluation suffers.
    Batch norm is `FusedBatchNormalization`: Keras's layer, trained on TensorFlow's fused kernel,
    which does each pass in one sweep over the activations (`cnnlab.layers.batch_norm`).
    """

    layers: ConvLayers
    activation: Activation
    batch_norm: bool = False
    bn_scale: bool = True

    def __call__(
        self, x, filters: int, kernel_size, strides=1, padding="same", *, name: str, **kwargs
    ):
        """conv -> [batch norm] -> activation; maxout gets the doubled width it reduces."""
        width = self.activation.width(filters)
        x = self.linear(x, width, kernel_size, strides, padding, name=name, **kwargs)
        return self.activation(x, name=f"{name}_{self.activation.name}")

    def linear(
        self, x, filters: int, kernel_size, strides=1, padding="same", *, name: str, **kwargs
    ):
        """conv -> [batch norm] without an activation (a residual branch's last layer)."""
        x = self.layers.conv2d(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            use_bias=not self.batch_norm,
            name=name,
            **kwargs,
        )(x)
        return self.batch_normalization(x, name)

    def depthwise(self, x, kernel_size, strides=1, padding="same", *, name: str):
        """depthwise conv -> [batch norm] -> activation (MobileNet's Fig. 3)."""
        x = self.layers.depthwise_conv2d(
            kernel_size, strides=strides, padding=padding, use_bias=not self.batch_norm, name=name
        )(x)
        x = self.batch_normalization(x, name)
        return self.activation(x, name=f"{name}_{self.activation.name}")

    def batch_normalization(self, x, name: str):
        if not self.batch_norm:
            return x
        return FusedBatchNormalization(
            momentum=BN_MOMENTUM, scale=self.bn_scale, name=f"{name}_bn"
        )(x)


def dense_unit(x, units: int, activation: Activation, name: str, dropout: float = 0.0):
    """Dense -> activation -> dropout: a fully connected layer of the classic heads."""
    x = keras.layers.Dense(activation.width(units), name=name)(x)
    x = activation(x, name=f"{name}_{activation.name}")
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x
