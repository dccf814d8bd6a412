"""Receptive fields of every layer of a Keras model: size, jump and start, per axis.

The standard arithmetic (Araujo, Norris & Sim, "Computing receptive fields of convolutional
neural networks", Distill 2019), one window op at a time, with the input as layer 0 (r = 1,
j = 1, u = 0) and each op's window f = d(k - 1) + 1, stride s and left padding p:

    r_out = r_in + (f - 1) * j_in      the field's side in input pixels
    j_out = j_in * s                   the jump: input pixels between neighbouring units
    u_out = u_in - p * j_in            the start: the first unit's field begins at input u
                                       (negative: it reaches into the padding)

so output unit i sees input pixels u + i*j .. u + i*j + r - 1. Layers that keep the spatial
size (activations, normalizations, 1x1 windows) keep the field; a flatten or global pooling
layer sees its whole input. Where paths meet (a sum, a concatenation), a unit sees the union
of its inputs' fields, whose size is the largest over the paths when they are centred alike,
as the paper defines it for branching networks.
"""

from dataclasses import dataclass

import keras

from cnnlab.layers.im2col.geometry import resolve
from cnnlab.layers.im2col.layer import Im2ColLayer

AXES = (0, 1)
WHOLE_INPUT = (
    keras.layers.Flatten,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
)


@dataclass(frozen=True)
class Field:
    """The receptive field of a layer's units, (height, width) each: unit (y, x) sees input
    rows start[0] + y*jump[0] .. + size[0] - 1 and the same for columns."""

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]

    def span(self, unit: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """(first, last) input row and column that unit (y, x) sees, padding included."""
        firsts = [self.start[a] + unit[a] * self.jump[a] for a in AXES]
        return tuple((first, first + self.size[a] - 1) for a, first in enumerate(firsts))


INPUT_FIELD = Field((1, 1), (1, 1), (0, 0))


def receptive_fields(model: keras.Model) -> dict[str, Field | None]:
    """The field of each layer of a functional model, by layer name; None where a layer's
    geometry is unknown to this arithmetic (and after it)."""
    # A Sequential model's layers leave out its input layer: start from the inputs.
    fields: dict[str, Field | None] = {
        t._keras_history.operation.name: INPUT_FIELD for t in model.inputs
    }
    for layer in model.layers:
        inputs = [fields.get(name) for name in _inbound_layer_names(layer)]
        if not inputs:
            fields[layer.name] = INPUT_FIELD
        elif any(field is None for field in inputs):
            fields[layer.name] = None
        else:
            fields[layer.name] = _through(layer, _union(inputs))
    return fields


def _inbound_layer_names(layer: keras.layers.Layer) -> list[str]:
    if not layer._inbound_nodes:
        return []
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation.name for t in node.input_tensors]


def _union(fields: list[Field]) -> Field:
    """The field of a unit that sees all of `fields` (the inputs of a merge)."""
    if len(fields) == 1:
        return fields[0]
    first = tuple(min(f.start[a] for f in fields) for a in AXES)
    last = tuple(max(f.start[a] + f.size[a] - 1 for f in fields) for a in AXES)
    jump = tuple(max(f.jump[a] for f in fields) for a in AXES)
    return Field(tuple(last[a] - first[a] + 1 for a in AXES), jump, first)


def _window(layer: keras.layers.Layer):
    """(size, stride, dilation, padding) of a sliding-window layer, or None."""
    if isinstance(layer, Im2ColLayer):
        return layer.window_size, layer.strides, layer.dilation_rate, layer.padding
    size = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if size is None or not hasattr(layer, "strides") or len(size) != 2:
        return None
    dilation = getattr(layer, "dilation_rate", (1, 1))
    return tuple(size), tuple(layer.strides), tuple(dilation), layer.padding


def _spatial(shape) -> tuple[int, int] | None:
    return tuple(shape[1:3]) if len(shape) == 4 else None


def _through(layer: keras.layers.Layer, field: Field) -> Field | None:
    """The field of `layer`'s units, given the field of its input's units."""
    inputs = keras.tree.flatten(layer.input)
    sides = _spatial(inputs[0].shape)
    if isinstance(layer, WHOLE_INPUT) and sides is not None:
        return _apply(field, sides, (1, 1), (0, 0))  # one window as large as the input
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, _), (left, _) = layer.padding
        return _apply(field, (1, 1), (1, 1), (top, left))
    window = _window(layer)
    if window is not None and sides is not None:
        size, stride, dilation, padding = window
        geometry = resolve(layer.name, sides, size, stride, dilation, padding, exact_fit=False)
        extent = tuple(dilation[a] * (size[a] - 1) + 1 for a in AXES)
        return _apply(field, extent, stride, tuple(p[0] for p in geometry.pads))
    outputs = keras.tree.flatten(layer.output)
    if sides is None or _spatial(outputs[0].shape) == sides:
        return field  # element-wise, per channel, or past the spatial layers: the same units
    return None


def _apply(field: Field, extent, stride, pad_before) -> Field:
    """One window op of side `extent`, `stride` and `pad_before` rows/columns of padding."""
    return Field(
        size=tuple(field.size[a] + (extent[a] - 1) * field.jump[a] for a in AXES),
        jump=tuple(field.jump[a] * stride[a] for a in AXES),
        start=tuple(field.start[a] - pad_before[a] * field.jump[a] for a in AXES),
    )
