"""A locally connected layer: a convolution's windows with unshared weights.

The notes contrast local connectivity with weight sharing: on a 1000x1000 image, 10^6 hidden
units that each see a 10x10 window need 10^8 weights when every unit has its own (locally
connected), and 10^2 when they share one filter (a convolution). DeepFace (Taigman et al.,
2014) used such layers where a face's parts sit at fixed places. Keras 2 had
`LocallyConnected2D`; Keras 3 dropped it. This one keeps Keras 2's weight layout, so its
weights carry over: kernel (OH*OW, kh*kw*C, F), one (kh*kw*C, F) matrix per output position,
a patch ordered (kh, kw, C) as `keras.ops.image.extract_patches` gives it, and bias (OH, OW, F).
"""

import math

import keras

from cnnlab.errors import GeometryError
from cnnlab.layers.im2col.geometry import resolve

PADDINGS = ("valid", "same")


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


@keras.saving.register_keras_serializable(package="cnnlab")
class LocallyConnected2D(keras.layers.Layer):
    """`Conv2D`'s geometry (kernel_size, strides, 'valid' or 'same' padding), but every output
    position has its own filters: output[n, y, x] = patch(y, x) @ kernel[y*OW + x] + bias[y, x]."""

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=(1, 1),
        padding: str = "valid",
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters < 1:
            raise GeometryError(
                f"LocallyConnected2D: filters={filters!r} is invalid: expected an integer >= 1"
            )
        if padding not in PADDINGS:
            raise GeometryError(
                f"LocallyConnected2D: padding={padding!r} is invalid: expected one of {', '.join(PADDINGS)}"
            )
        self.filters = filters
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def output_sides(self, input_shape) -> tuple[int, int]:
        geometry = resolve(
            f"LocallyConnected2D {self.name!r}",
            tuple(input_shape[1:3]),
            self.kernel_size,
            self.strides,
            (1, 1),
            self.padding,
            exact_fit=False,
        )
        return geometry.output

    def kernel_shape(self, input_shape) -> tuple[int, int, int]:
        """(OH*OW, kh*kw*C, F): one weight matrix per output position."""
        positions = math.prod(self.output_sides(input_shape))
        return positions, math.prod(self.kernel_size) * int(input_shape[-1]), self.filters

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_shape(input_shape), initializer=self.kernel_initializer
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(*self.output_sides(input_shape), self.filters),
                initializer=self.bias_initializer,
            )

    def call(self, inputs):
        patches = keras.ops.image.extract_patches(
            inputs, size=self.kernel_size, strides=self.strides, padding=self.padding
        )  # (N, OH, OW, kh*kw*C)
        _, out_h, out_w, entries = patches.shape
        rows = keras.ops.reshape(patches, (-1, out_h * out_w, entries))
        out = keras.ops.einsum("npk,pkf->npf", rows, self.kernel)
        out = keras.ops.reshape(out, (-1, out_h, out_w, self.filters))
        if self.use_bias:
            out = out + self.bias
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_sides(input_shape), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
