"""Activations Keras does not ship: RReLU (Xu et al., 2015), Maxout (Goodfellow et al., 2013)."""

import keras
from keras import ops

from cnnlab.errors import ConfigError


@keras.saving.register_keras_serializable(package="cnnlab")
class RReLU(keras.layers.Layer):
    """Randomized leaky ReLU: `x` for x >= 0, `a * x` below, with `a ~ U(lower, upper)` per element
    in training and the mean slope `(lower + upper) / 2` at inference.

    Xu et al. (2015, "Empirical Evaluation of Rectified Activations", Sec. 2.4) draw a divisor
    from U(3, 8); the defaults 1/8 and 1/3 are the matching slopes (PyTorch's convention).
    """

    def __init__(
        self, lower: float = 1 / 8, upper: float = 1 / 3, seed: int | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        if not 0 <= lower < upper < 1:
            raise ConfigError(
                f"RReLU(lower={lower}, upper={upper}) is invalid: expected 0 <= lower < upper < 1 "
                "(the slope is drawn from U(lower, upper), Xu et al. 2015)"
            )
        self.lower = float(lower)
        self.upper = float(upper)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if training:
            slope = keras.random.uniform(
                ops.shape(inputs),
                minval=self.lower,
                maxval=self.upper,
                dtype=inputs.dtype,
                seed=self.seed_generator,
            )
        else:
            slope = ops.cast((self.lower + self.upper) / 2, inputs.dtype)
        return ops.where(inputs >= 0, inputs, inputs * slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "lower": self.lower, "upper": self.upper, "seed": self.seed}


@keras.saving.register_keras_serializable(package="cnnlab")
class Maxout(keras.layers.Layer):
    """The maximum over groups of channels: C inputs -> `num_units` outputs, each the max of
    C / num_units consecutive channels (Goodfellow et al., 2013, Eq. 1, with the affine maps
    done by the layer before).
    """

    def __init__(self, num_units: int, **kwargs):
        super().__init__(**kwargs)
        self.num_units = int(num_units)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.num_units:
            raise ValueError(
                f"Maxout(num_units={self.num_units}) needs a channel count divisible by "
                f"{self.num_units}, got {channels}"
            )
        self.pieces = channels // self.num_units

    def call(self, inputs):
        shape = ops.shape(inputs)
        grouped = ops.reshape(inputs, (*shape[:-1], self.num_units, self.pieces))
        return ops.max(grouped, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_units)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_units": self.num_units}
