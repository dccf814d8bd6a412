"""Per-layer parameters, multiply-adds, activation memory and receptive field of a Keras model.

Multiply-adds (MACs) follow the papers' convention: those of convolutions and fully connected
layers (what VGG, ResNet and GoogLeNet tabulate; He et al. call them FLOPs), nothing for
pools, normalizations, activations, sums or biases. A layer with a `kernel` weight performs
size(kernel) multiply-adds per output position, whatever its kind: kh*kw*(C_in/groups)*C_out
for a (grouped) convolution, kh*kw*C*multiplier for a depthwise one, C_in*C_out for a dense;
a locally connected layer's kernel holds one matrix per position, so it makes size(kernel).

Activation memory is the number of values a layer's output holds per image, times the bytes
of its dtype, as in the notes' VGG-16 walk-through (INPUT 224x224x3 = 150K values, CONV3-64
224x224x64 = 3.2M, ...). Element-wise activations, dropout and reshapes are counted as in place
(no new values): the walk-through counts a ReLU with its convolution.

Receptive fields (size, jump, start) follow `cnnlab.analysis.receptive`.
"""

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import keras
import numpy as np
from keras.src.backend.common import global_state

from cnnlab.analysis.receptive import Field, receptive_fields
from cnnlab.layers import LocallyConnected2D, RReLU

IN_PLACE = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Dropout,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Rescaling,
    RReLU,
)


@dataclass(frozen=True)
class LayerProfile:
    """One row of the table; shapes and counts are per image (no batch axis)."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    activations: int  # output values stored per image (0 for in-place layers)
    bytes_per_value: int
    receptive_field: Field | None = None  # None: a layer the arithmetic does not know

    @property
    def activation_bytes(self) -> int:
        return self.activations * self.bytes_per_value


@dataclass(frozen=True)
class ModelProfile:
    """The per-layer rows of one model and their totals."""

    model: str
    input_shape: tuple[int, ...]
    rows: tuple[LayerProfile, ...]

    @property
    def params(self) -> int:
        return sum(row.params for row in self.rows)

    @property
    def macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def activations(self) -> int:
        return sum(row.activations for row in self.rows)

    @property
    def activation_bytes(self) -> int:
        return sum(row.activation_bytes for row in self.rows)

    def row(self, name: str) -> LayerProfile:
        return next(row for row in self.rows if row.name == name)

    def totals(self) -> dict[str, int]:
        return {
            "params": self.params,
            "macs": self.macs,
            "activations_per_image": self.activations,
            "activation_bytes_per_image": self.activation_bytes,
        }

    def table(self) -> str:
        """The rows as a fixed-width text table, with a totals line."""
        header = (
            "layer",
            "type",
            "output shape",
            "field",
            "jump",
            "start",
            "params",
            "mult-adds",
            "activations/image",
        )
        lines = [
            (
                row.name,
                row.kind,
                "x".join(map(str, row.output_shape)),
                *_field_cells(row.receptive_field),
                f"{row.params:,}",
                f"{row.macs:,}",
                _bytes(row.activation_bytes) if row.activations else "-",
            )
            for row in self.rows
        ]
        total = (
            "total",
            "",
            "",
            "",
            "",
            "",
            f"{self.params:,}",
            f"{self.macs:,}",
            _bytes(self.activation_bytes),
        )
        widths = [max(len(r[i]) for r in (header, *lines, total)) for i in range(len(header))]
        rule = "  ".join("-" * w for w in widths)

        def fmt(r):
            left = [r[i].ljust(widths[i]) for i in range(3)]
            right = [r[i].rjust(widths[i]) for i in range(3, len(r))]  # numbers
            return "  ".join(left + right).rstrip()

        summary = (
            f"{self.model} on {'x'.join(map(str, self.input_shape))}: {self.params:,} parameters, "
            f"{_count(self.macs)} multiply-adds, {_bytes(self.activation_bytes)} of "
            f"activations per image (forward; about twice that to train)"
        )
        return "\n".join([fmt(header), rule, *map(fmt, lines), rule, fmt(total), summary])


def _field_cells(field: Field | None) -> tuple[str, str, str]:
    """Field size, jump and start as table cells: one number when both axes agree."""
    if field is None:
        return ("?", "?", "?")

    def cell(pair: tuple[int, int]) -> str:
        return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"

    return cell(field.size), cell(field.jump), cell(field.start)


def _count(n: int) -> str:
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _layer_macs(layer: keras.layers.Layer, output_shape: tuple[int, ...]) -> int:
    kernels = [w for w in layer.weights if w.path.split("/")[-1] == "kernel"]
    if not kernels or not output_shape:
        return 0
    if isinstance(layer, LocallyConnected2D):  # one weight matrix per position: each used once
        return math.prod(kernels[0].shape)
    positions = math.prod(output_shape[:-1])  # output values per output channel
    return sum(math.prod(k.shape) for k in kernels) * positions


def _output_shapes(layer: keras.layers.Layer) -> list[tuple[int, ...]]:
    return [tuple(t.shape[1:]) for t in keras.tree.flatten(layer.output)]


def _layer_profile(layer: keras.layers.Layer, field: Field | None) -> LayerProfile:
    outputs = keras.tree.flatten(layer.output)
    shapes = _output_shapes(layer)
    values = 0 if isinstance(layer, IN_PLACE) else sum(math.prod(s) for s in shapes)
    dtype = np.dtype(keras.backend.standardize_dtype(outputs[0].dtype))
    return LayerProfile(
        name=layer.name,
        kind=type(layer).__name__,
        output_shape=shapes[0],
        params=layer.count_params(),
        macs=_layer_macs(layer, shapes[0]),
        activations=values,
        bytes_per_value=dtype.itemsize,
        receptive_field=field,
    )


@contextlib.contextmanager
def shapes_only() -> Iterator[None]:
    """Build models inside to profile them: their weights get shapes but no values. Keras's
    stateless scope defers drawing them (VGG-16's 138M take seconds), and they are never
    drawn: Keras lists deferred variables to draw at the next scope's end, and this one
    forgets them again. Such a model can be profiled, not run."""
    with keras.StatelessScope(initialize_variables=False):
        yield
    global_state.set_global_attribute("uninitialized_variables", [])


def profile(model: keras.Model) -> ModelProfile:
    """The per-layer profile of a built functional model, in graph order."""
    fields = receptive_fields(model)
    return ModelProfile(
        model=model.name,
        input_shape=tuple(model.inputs[0].shape[1:]),
        rows=tuple(_layer_profile(layer, fields[layer.name]) for layer in model.layers),
    )
