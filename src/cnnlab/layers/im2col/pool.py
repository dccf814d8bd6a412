"""Im2ColPool2D: max or average pooling as im2col per channel and a row max or mean."""

import keras

from cnnlab.checks import require_choice
from cnnlab.errors import GeometryError
from cnnlab.layers.im2col.layer import DEFAULT_MAX_UNFOLD_BYTES, Im2ColLayer
from cnnlab.layers.im2col.ops import POOL_MODES, pool_op


@keras.saving.register_keras_serializable(package="cnnlab")
class Im2ColPool2D(Im2ColLayer):
    """`MaxPooling2D` (mode='max') or `AveragePooling2D` (mode='avg') from im2col.

    Padding never wins or counts: 'same' or an explicit P pads a max pool with -inf and an
    average divides by the real inputs in its window (TensorFlow's rule). The max gradient
    goes to each window's first maximum in row-major order, as `tf.nn.max_pool2d` does
    when a window ties (common after a ReLU). strides=None means strides=pool_size.
    """

    def __init__(
        self,
        pool_size=(2, 2),
        strides=None,
        padding="valid",
        mode: str = "max",
        data_format=None,
        exact_fit: bool = True,
        backward: str = "col2im",
        max_unfold_bytes: int | None = DEFAULT_MAX_UNFOLD_BYTES,
        jit_compile: bool | str = "auto",
        **kwargs,
    ):
        super().__init__(
            pool_size,
            pool_size if strides is None else strides,
            padding,
            data_format=data_format,
            exact_fit=exact_fit,
            backward=backward,
            max_unfold_bytes=max_unfold_bytes,
            jit_compile=jit_compile,
            size_key="pool_size",
            **kwargs,
        )
        require_choice(f"{self.owner} mode", mode, POOL_MODES)
        self.mode = mode
        if not isinstance(self.padding, str):
            for size, pad in zip(self.window_size, self.padding, strict=True):
                if pad >= size:
                    raise GeometryError(
                        f"{self.owner}: padding={pad} must be smaller than pool_size={size}, "
                        f"or some windows would hold only padding"
                    )

    def build(self, input_shape):
        self.geometry(input_shape)  # a bad geometry fails when the model is built
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, inputs):
        return pool_op(self.op_spec(inputs.shape, mode=self.mode), self.backward)(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}
