"""Convolution and pooling layers from the chosen implementation (`model.conv_impl`).

Every architecture asks a `ConvLayers` for its conv and pool layers instead of calling
`keras.layers` directly, so any classic runs on Keras's native ops or on cnnlab's own
im2col layers with the same weights.
"""

from dataclasses import dataclass

import keras

from cnnlab.checks import require_choice
from cnnlab.choices import CONV_IMPLS


@dataclass(frozen=True)
class ConvLayers:
    """A factory of conv/pool layers for one implementation: 'native', 'im2col' or 'auto'
    (native layers, for the autotuner to choose from)."""

    impl: str = "native"

    def __post_init__(self) -> None:
        require_choice("model.conv_impl", self.impl, CONV_IMPLS)

    def conv2d(
        self, filters: int, kernel_size, strides=1, padding="valid", **kwargs
    ) -> keras.layers.Layer:
        if self.impl == "im2col":
            from cnnlab.layers import Im2ColConv2D

            return Im2ColConv2D(
                filters, kernel_size, strides=strides, padding=padding, exact_fit=False, **kwargs
            )
        return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, **kwargs)

    def depthwise_conv2d(
        self, kernel_size, strides=1, padding="valid", **kwargs
    ) -> keras.layers.Layer:
        if self.impl == "im2col":
            from cnnlab.layers import Im2ColDepthwiseConv2D

            return Im2ColDepthwiseConv2D(
                kernel_size, strides=strides, padding=padding, exact_fit=False, **kwargs
            )
        return keras.layers.DepthwiseConv2D(kernel_size, strides=strides, padding=padding, **kwargs)

    def max_pool2d(
        self, pool_size=2, strides=None, padding="valid", **kwargs
    ) -> keras.layers.Layer:
        return self._pool("max", pool_size, strides, padding, **kwargs)

    def avg_pool2d(
        self, pool_size=2, strides=None, padding="valid", **kwargs
    ) -> keras.layers.Layer:
        return self._pool("avg", pool_size, strides, padding, **kwargs)

    def _pool(self, mode: str, pool_size, strides, padding, **kwargs) -> keras.layers.Layer:
        if self.impl == "im2col":
            from cnnlab.layers import Im2ColPool2D

            return Im2ColPool2D(
                pool_size, strides=strides, padding=padding, mode=mode, exact_fit=False, **kwargs
            )
        native = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
        return native(pool_size, strides=strides, padding=padding, **kwargs)
