"""Im2ColConv2D and Im2ColDepthwiseConv2D: Keras's Conv2D and DepthwiseConv2D built from im2col.

Same arguments and weight layout as the Keras layers (kernel (kh, kw, C / groups, F), resp.
(kh, kw, C, depth_multiplier), then bias), so weights move between them with
`set_weights(other.get_weights())`. A depthwise conv is a grouped conv with one group per
input channel: its kernel reshaped to (kh, kw, 1, C * depth_multiplier) is the grouped
kernel, and its output channel c * depth_multiplier + m is the grouped conv's.
"""

import keras
from keras import ops

from cnnlab.errors import GeometryError
from cnnlab.layers.im2col.layer import DEFAULT_MAX_UNFOLD_BYTES, Im2ColLayer
from cnnlab.layers.im2col.ops import conv_op


class _Im2ColConv(Im2ColLayer):
    """Shared by both convolutions: Keras's convolution arguments, weights, the im2col op,
    bias, activation and weight checks. See `Im2ColLayer` for exact_fit, backward,
    max_unfold_bytes and jit_compile."""

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        *,
        data_format=None,
        dilation_rate=(1, 1),
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        exact_fit: bool = True,
        backward: str = "col2im",
        max_unfold_bytes: int | None = DEFAULT_MAX_UNFOLD_BYTES,
        jit_compile: bool | str = "auto",
        **kwargs,
    ):
        super().__init__(
            kernel_size,
            strides,
            padding,
            dilation_rate,
            data_format=data_format,
            exact_fit=exact_fit,
            backward=backward,
            max_unfold_bytes=max_unfold_bytes,
            jit_compile=jit_compile,
            **kwargs,
        )
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def groups_for(self, channels: int) -> int:
        raise NotImplementedError

    def kernel_shape(self, channels: int) -> tuple[int, ...]:
        raise NotImplementedError

    def build(self, input_shape):
        channels = input_shape[-1]
        self.geometry(input_shape)  # a bad geometry fails when the model is built
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_shape(channels),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.output_channels(channels),),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs):
        channels = inputs.shape[-1]
        groups = self.groups_for(channels)
        kh, kw = self.window_size
        # The grouped kernel (kh*kw, C / groups, F): a row-major reshape keeps Keras's order.
        kernel = ops.reshape(
            ops.cast(self.kernel, self.compute_dtype),
            (kh * kw, channels // groups, self.output_channels(channels)),
        )
        y = conv_op(self.op_spec(inputs.shape, groups), self.backward)(inputs, kernel)
        if self.use_bias:
            y = y + ops.cast(self.bias, self.compute_dtype)
        return self.activation(y)

    def check_kernel_shape(self, shape) -> None:
        """Loading a kernel made for another channel count fails naming both counts."""
        expected = tuple(self.kernel.shape)
        if tuple(shape) != expected:
            raise GeometryError(
                f"{self.owner}: the loaded kernel has shape {tuple(shape)} but this layer, "
                f"built for {self.input_spec.axes[-1]} input channel(s), needs {expected} "
                f"{self.kernel_axes}"
            )

    kernel_axes = ""

    def set_weights(self, weights):
        if weights:
            self.check_kernel_shape(weights[0].shape)
        super().set_weights(weights)

    def load_own_variables(self, store):
        if "0" in store:
            self.check_kernel_shape(store["0"].shape)
        super().load_own_variables(store)

    def get_config(self) -> dict:
        s = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "dilation_rate": self.dilation_rate,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": s(self.bias_initializer),
            "bias_regularizer": s(self.bias_regularizer),
            "bias_constraint": s(self.bias_constraint),
        }


@keras.saving.register_keras_serializable(package="cnnlab")
class Im2ColConv2D(_Im2ColConv):
    """`keras.layers.Conv2D` as im2col + one matrix product (per group), with a col2im backward.

    Padding is 'valid', 'same' (TensorFlow's, so outputs equal Conv2D's) or the notes' P
    (an int or (P_h, P_w)). See `Im2ColLayer` for exact_fit, backward, max_unfold_bytes
    and jit_compile.
    """

    kernel_axes = "(kh, kw, input channels / groups, filters)"

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        *,
        groups: int = 1,
        **kwargs,
    ):
        """Conv2D's other arguments (data_format, dilation_rate, activation, use_bias, the
        kernel_/bias_ initializers, regularizers and constraints) go by keyword."""
        super().__init__(kernel_size, strides, padding, **kwargs)
        for key, value in (("filters", filters), ("groups", groups)):
            if not isinstance(value, int) or value < 1:
                raise GeometryError(
                    f"{self.owner}: {key}={value!r} is invalid: expected an integer >= 1"
                )
        if filters % groups:
            raise GeometryError(
                f"{self.owner}: filters={filters} is not divisible by groups={groups}"
            )
        self.filters = filters
        self.groups = groups

    def groups_for(self, channels: int) -> int:
        return self.groups

    def kernel_shape(self, channels: int) -> tuple[int, ...]:
        if channels % self.groups:
            raise GeometryError(
                f"{self.owner}: the input's {channels} channels are not divisible by "
                f"groups={self.groups}"
            )
        return (*self.window_size, channels // self.groups, self.filters)

    def output_channels(self, input_channels: int) -> int:
        return self.filters

    def get_config(self) -> dict:
        s = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "filters": self.filters,
            "groups": self.groups,
            "kernel_initializer": s(self.kernel_initializer),
            "kernel_regularizer": s(self.kernel_regularizer),
            "kernel_constraint": s(self.kernel_constraint),
        }


@keras.saving.register_keras_serializable(package="cnnlab")
class Im2ColDepthwiseConv2D(_Im2ColConv):
    """`keras.layers.DepthwiseConv2D` (MobileNet) as a grouped im2col conv, one group per channel."""

    kernel_axes = "(kh, kw, input channels, depth_multiplier)"

    def __init__(
        self,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        depth_multiplier: int = 1,
        *,
        depthwise_initializer="glorot_uniform",
        depthwise_regularizer=None,
        depthwise_constraint=None,
        **kwargs,
    ):
        """DepthwiseConv2D's other arguments go by keyword, as for Im2ColConv2D."""
        super().__init__(
            kernel_size,
            strides,
            padding,
            kernel_initializer=depthwise_initializer,
            kernel_regularizer=depthwise_regularizer,
            kernel_constraint=depthwise_constraint,
            **kwargs,
        )
        if not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise GeometryError(
                f"{self.owner}: depth_multiplier={depth_multiplier!r} is invalid: "
                f"expected an integer >= 1"
            )
        self.depth_multiplier = depth_multiplier

    def groups_for(self, channels: int) -> int:
        return channels

    def kernel_shape(self, channels: int) -> tuple[int, ...]:
        return (*self.window_size, channels, self.depth_multiplier)

    def output_channels(self, input_channels: int) -> int:
        return input_channels * self.depth_multiplier

    def get_config(self) -> dict:
        s = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": s(self.kernel_initializer),
            "depthwise_regularizer": s(self.kernel_regularizer),
            "depthwise_constraint": s(self.kernel_constraint),
        }
