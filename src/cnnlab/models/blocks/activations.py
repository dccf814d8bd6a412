"""The activation choice of a model (`model.activation`) and the layer it makes."""

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import keras

from cnnlab.checks import require_choice
from cnnlab.choices import ACTIVATIONS, LEAKY_SLOPE
from cnnlab.errors import ConfigError
from cnnlab.layers import Maxout, RReLU

MAXOUT_PIECES = 2  # Goodfellow et al. (2013) use 2-5 pieces; each maxout unit doubles its layer
_leaky_slope = contextvars.ContextVar("leaky_slope", default=LEAKY_SLOPE)


@contextlib.contextmanager
def leaky_slope(slope: float) -> Iterator[None]:
    """Build the layers of `model.activation=leaky_relu` with this slope inside the block
    (the registry wraps a builder with it, as it applies `model.init` after it)."""
    if not (isinstance(slope, int | float) and 0 <= slope < 1):
        raise ConfigError(f"model.leaky_slope={slope!r} is invalid: expected a number in [0, 1)")
    token = _leaky_slope.set(float(slope))
    try:
        yield
    finally:
        _leaky_slope.reset(token)


@dataclass(frozen=True)
class Activation:
    """A named activation; maxout needs `width(units)` outputs from the layer before it."""

    name: str = "relu"

    def __post_init__(self) -> None:
        require_choice("model.activation", self.name, ACTIVATIONS)

    @classmethod
    def keeping_width(cls, name: str, model: str, reason: str) -> "Activation":
        """An activation for a model whose widths are fixed (residual sums, depthwise convs)."""
        if name == "maxout":
            allowed = ", ".join(a for a in ACTIVATIONS if a != "maxout")
            raise ConfigError(
                f"model.activation='maxout' is not available for model={model} ({reason}); "
                f"available: {allowed}"
            )
        return cls(name)

    def width(self, units: int) -> int:
        """How many outputs the layer before must produce for `units` activations."""
        return units * MAXOUT_PIECES if self.name == "maxout" else units

    def __call__(self, x, name: str):
        return self.layer(x.shape, name)(x)

    def layer(self, input_shape: tuple, name: str) -> keras.layers.Layer:
        if self.name == "leaky_relu":
            return keras.layers.LeakyReLU(negative_slope=_leaky_slope.get(), name=name)
        if self.name == "prelu":
            # One slope per channel, shared over positions, starting at 0.25 (He et al., 2015,
            # Sec. 2.1-2.2).
            return keras.layers.PReLU(
                alpha_initializer=keras.initializers.Constant(0.25),
                shared_axes=list(range(1, len(input_shape) - 1)),
                name=name,
            )
        if self.name == "rrelu":
            return RReLU(name=name)
        if self.name == "maxout":
            return Maxout(input_shape[-1] // MAXOUT_PIECES, name=name)
        return keras.layers.Activation(self.name, name=name)
