"""im2col / col2im convolution and pooling ops with explicit backward passes (`keras.ops`).

Forward: pad, unfold every receptive field into a row (`unfold`), one matrix product with
the filters. Backward (`backward="col2im"`): dW = cols^T @ dY, and dX = col2im(dY @ W^T):
the rows of dY @ W^T are folded back (`fold`), adding up where receptive fields overlap.
Pooling unfolds the same way and reduces each row per channel.

The unfolded matrix is kh*kw/(sh*sw) times the input, so it is never made for the whole
batch at once: the batch goes through a loop in chunks of whole images, and an image whose
matrix alone is too big is cut into bands of output rows (`Bands`). Small chunks also keep
the matrix in cache between the unfold and the product, which is what makes this fast on a
CPU. On the TensorFlow backend each forward and backward op is compiled with XLA
(`jit_compile`), which fuses the strided copies of the unfold and the sums of the fold into
single loops; on other backends the same `keras.ops` code runs under the backend's own jit.
"""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from cnnlab.layers.im2col.chunks import (
    Bands,
    bands_of_rows,
    join_bands,
    map_batch,
    rows_of_bands,
    split_bands,
    sum_batch,
)
from cnnlab.layers.im2col.geometry import ConvGeometry
from cnnlab.layers.im2col.unfold import crop_padding, fold, pad_input, unfold

BACKWARDS = ("col2im", "autodiff")
POOL_MODES = ("max", "avg")


@dataclass(frozen=True)
class OpSpec:
    """Everything static about one op: its hashable key in the compiled-op cache."""

    geometry: ConvGeometry
    groups: int = 1  # conv only; a depthwise conv is groups == channels
    mode: str = "conv"  # conv | max | avg
    chunk: int | None = None  # images (or bands) per chunk; None: the whole batch at once
    jit: bool = True
    bands: Bands | None = None

    @property
    def unit(self) -> ConvGeometry:
        """The geometry that the chunk loops see: a whole image's, or one band's."""
        return self.bands.geometry if self.bands else self.geometry


# ---------------------------------------------------------------- convolution


def _conv_apply(cols, w, groups: int):
    """(n, OH, OW, kk, C) x (kk, C/g, F) -> (n, OH, OW, F): one matrix product per group."""
    _, oh, ow, kk, c = cols.shape
    f = w.shape[-1]
    if groups == 1:
        y = ops.matmul(ops.reshape(cols, (-1, kk * c)), ops.reshape(w, (kk * c, f)))
    else:
        cols = ops.reshape(cols, (-1, kk, groups, c // groups))
        w = ops.reshape(w, (kk, c // groups, groups, f // groups))
        y = ops.einsum("mkgc,kcgf->mgf", cols, w)
    return ops.reshape(y, (-1, oh, ow, f))


def _conv_dcols(dy, w, groups: int, kk: int):
    """dY @ W^T per group: (n, OH, OW, F) -> (n, OH, OW, kk, C)."""
    _, oh, ow, f = dy.shape
    cg = w.shape[1]
    if groups == 1:
        dcols = ops.matmul(ops.reshape(dy, (-1, f)), ops.transpose(ops.reshape(w, (kk * cg, f))))
    else:
        dy = ops.reshape(dy, (-1, groups, f // groups))
        w = ops.reshape(w, (kk, cg, groups, f // groups))
        dcols = ops.einsum("mgf,kcgf->mkgc", dy, w)
    return ops.reshape(dcols, (-1, oh, ow, kk, cg * groups))


def _conv_dw(cols, dy, groups: int):
    """cols^T @ dY per group, accumulated in float32: (kk, C/g, F)."""
    kk, c, f = cols.shape[3], cols.shape[4], dy.shape[-1]
    cols = ops.cast(cols, "float32")
    dy = ops.cast(dy, "float32")
    if groups == 1:  # one transposed matrix product: XLA contracts the rows in place
        dw = ops.matmul(ops.transpose(ops.reshape(cols, (-1, kk * c))), ops.reshape(dy, (-1, f)))
        return ops.reshape(dw, (kk, c, f))
    cols = ops.reshape(cols, (-1, kk, groups, c // groups))
    dy = ops.reshape(dy, (-1, groups, f // groups))
    dw = ops.einsum("mkgc,mgf->kcgf", cols, dy)
    return ops.reshape(dw, (kk, c // groups, f))


def conv_forward(x, w, spec: OpSpec):
    """x (n, H, W, C), w (kh*kw, C/g, F) -> (n, OH, OW, F)."""
    g = spec.unit
    y = map_batch(
        lambda xc: _conv_apply(unfold(pad_input(xc, g), g), w, spec.groups),
        (split_bands(x, spec.bands),),
        spec.chunk,
    )
    return rows_of_bands(y, spec.bands, spec.geometry.output[0])


def conv_input_gradient(x, w, dy, spec: OpSpec):
    """dX = col2im(dY @ W^T)."""
    g = spec.unit
    dx = map_batch(
        lambda dyc: crop_padding(fold(_conv_dcols(dyc, w, spec.groups, g.entries), g), g),
        (bands_of_rows(dy, spec.bands),),
        spec.chunk,
    )
    return join_bands(dx, spec.bands, spec.geometry.input[0])


def conv_kernel_gradient(x, w, dy, spec: OpSpec):
    """dW = the sum over chunks of cols^T @ dY."""
    g = spec.unit
    dw = sum_batch(
        lambda xc, dyc: _conv_dw(unfold(pad_input(xc, g), g), dyc, spec.groups),
        (split_bands(x, spec.bands), bands_of_rows(dy, spec.bands)),
        spec.chunk,
        ops.zeros(w.shape, "float32"),
    )
    return ops.cast(dw, w.dtype)


# ---------------------------------------------------------------- pooling


def _pool_counts(g: ConvGeometry) -> np.ndarray:
    """Real (unpadded) inputs in each window, (1, OH, OW, 1): an average ignores padding."""
    per_axis = []
    for a in (0, 1):
        starts = np.arange(g.output[a]) * g.stride[a] - g.pads[a][0]
        stops = starts + g.size[a]
        per_axis.append(np.minimum(stops, g.input[a]) - np.maximum(starts, 0))
    return np.outer(*per_axis)[None, :, :, None]


def _fill(spec: OpSpec) -> float:
    """Padding never wins a max (-inf) and adds nothing to a sum (0)."""
    return -math.inf if spec.mode == "max" else 0.0


def pool_forward(x, spec: OpSpec):
    """Max, or sum / real inputs, of each window row, per channel."""
    g = spec.unit

    def chunk_forward(xc):
        windows = unfold(pad_input(xc, g, _fill(spec)), g)
        return ops.max(windows, axis=3) if spec.mode == "max" else ops.sum(windows, axis=3)

    xb = split_bands(x, spec.bands, _fill(spec))
    y = rows_of_bands(
        map_batch(chunk_forward, (xb,), spec.chunk), spec.bands, spec.geometry.output[0]
    )
    if spec.mode == "max":
        return y
    return y / ops.cast(_pool_counts(spec.geometry), y.dtype)


def pool_backward(x, dy, spec: OpSpec):
    """Max: each window's gradient to its first arg-max (row-major), like `tf.nn.max_pool2d`.
    Average: spread evenly over the window's real inputs. Then col2im."""
    g = spec.unit
    if spec.mode == "avg":
        dy = dy / ops.cast(_pool_counts(spec.geometry), dy.dtype)

    def chunk_backward(xc, dyc):
        if spec.mode == "max":
            first_max = ops.argmax(unfold(pad_input(xc, g, _fill(spec)), g), axis=3)
            dcols = ops.one_hot(first_max, g.entries, axis=3, dtype=dyc.dtype) * dyc[:, :, :, None]
        else:
            dcols = ops.repeat(dyc[:, :, :, None], g.entries, axis=3)
        return crop_padding(fold(dcols, g), g)

    xb, dyb = split_bands(x, spec.bands, _fill(spec)), bands_of_rows(dy, spec.bands)
    dx = map_batch(chunk_backward, (xb, dyb), spec.chunk)
    return join_bands(dx, spec.bands, spec.geometry.input[0])


# ---------------------------------------------------------------- compiled ops with gradients


def _compiled(fn: Callable, jit: bool) -> Callable:
    """XLA-compile `fn` on the TensorFlow backend (fuses the unfold's copies and the fold's sums)."""
    if jit and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True, autograph=False)
    return fn


def _with_gradient(forward: Callable, backwards: tuple[Callable, ...]) -> Callable:
    """forward(*inputs) whose gradient for input i is backwards[i](*inputs, upstream).

    One op per input's gradient, not one for all: TensorFlow prunes an op whose output nothing
    uses, so a model's first layer never computes the input gradient that nothing needs.
    """

    @ops.custom_gradient
    def op(*inputs):
        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return tuple(backward(*inputs, upstream) for backward in backwards)

        # Unwatched inputs: TensorFlow must not trace the compiled forward for its own gradient.
        return forward(*map(ops.stop_gradient, inputs)), grad

    return op


def _tf_autodiff(forward: Callable, index: int) -> Callable:
    """The gradient for input `index` by TensorFlow's autodiff of `forward`, so it compiles too."""
    import tensorflow as tf

    def backward(*inputs_and_upstream):
        *inputs, upstream = inputs_and_upstream
        with tf.GradientTape() as tape:
            tape.watch(inputs[index])
            y = forward(*inputs)
        return tape.gradient(y, inputs[index], output_gradients=upstream)

    return backward


def _differentiable(
    forward: Callable, backwards: tuple[Callable, ...], jit: bool, mode: str
) -> Callable:
    """The compiled forward with the explicit (col2im) or the autodiff gradients."""
    tensorflow = keras.backend.backend() == "tensorflow"
    if mode == "autodiff":
        if not tensorflow:
            return forward  # the backend differentiates the keras.ops code itself
        backwards = tuple(_tf_autodiff(forward, i) for i in range(len(backwards)))
    return _with_gradient(
        _compiled(forward, jit), tuple(_compiled(backward, jit) for backward in backwards)
    )


@functools.cache
def conv_op(spec: OpSpec, backward: str = "col2im") -> Callable:
    """op(x, w) -> y for kernels shaped (kh*kw, C/groups, F); shared by every layer with `spec`."""
    return _differentiable(
        functools.partial(conv_forward, spec=spec),
        (
            functools.partial(conv_input_gradient, spec=spec),
            functools.partial(conv_kernel_gradient, spec=spec),
        ),
        spec.jit,
        backward,
    )


@functools.cache
def pool_op(spec: OpSpec, backward: str = "col2im") -> Callable:
    """op(x) -> y for a max or average pool described by `spec`."""
    return _differentiable(
        functools.partial(pool_forward, spec=spec),
        (functools.partial(pool_backward, spec=spec),),
        spec.jit,
        backward,
    )
