"""Local response normalization (Krizhevsky, Sutskever & Hinton, 2012, Sec. 3.3)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cnnlab")
class LRN(keras.layers.Layer):
    """b_i = a_i / (k + alpha * sum_j a_j^2) ** beta, the sum over the `size` channels centred on i.

    The defaults are AlexNet's (k=2, n=5, alpha=1e-4, beta=0.75). In
    `tf.nn.local_response_normalization` terms: depth_radius=(size-1)//2, bias=k, alpha=alpha
    (AlexNet does not divide alpha by n, unlike Caffe's LRN layer).
    The sum of squares runs in float32: under float16 it overflows for activations above ~100.
    """

    def __init__(
        self, size: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, **kwargs
    ):
        super().__init__(**kwargs)
        if size < 1 or size % 2 == 0:
            raise ValueError(f"LRN size must be a positive odd number of channels, got {size}")
        self.size = int(size)
        self.k = float(k)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        squares = ops.square(x)
        radius = self.size // 2
        channels = x.shape[-1]
        padded = ops.pad(squares, [(0, 0)] * (len(x.shape) - 1) + [(radius, radius)])
        window_sum = sum(padded[..., d : d + channels] for d in range(self.size))
        scale = ops.power(self.k + self.alpha * window_sum, -self.beta)
        return ops.cast(x * scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "size": self.size,
            "k": self.k,
            "alpha": self.alpha,
            "beta": self.beta,
        }
