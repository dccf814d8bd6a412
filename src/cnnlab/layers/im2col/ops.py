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
Two exceptions on TensorFlow: dW of deep matrices (kh*kw*C/g >= 256) multiplies each compiled
chunk with TensorFlow's own matmul (`_gemm_kernel_gradient`), and pools whose windows tile the
input unfold by a reshape (`_tiles`).
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
    single_chunk,
    split_bands,
    split_batch,
    sum_batch,
)
from cnnlab.layers.im2col.geometry import ConvGeometry
from cnnlab.layers.im2col.unfold import crop_padding, fold, pad_input, unfold

BACKWARDS = ("col2im", "autodiff")
# The stride-1 dX as a conv of dY multiplies by C/groups columns: with fewer, the product is
# too thin to pay for itself, and col2im is faster.
TRANSPOSED_MIN_CHANNELS = 8
POOL_MODES = ("max", "avg")
# dW by TensorFlow's matrix product outside XLA (`_gemm_kernel_gradient`) from this depth
# kh*kw*C/g on: below it the product is too small to repay leaving the compiled op.
GEMM_MIN_DEPTH = 256
# Pools whose windows tile the input unfold by a reshape from this many channels on (`_tiled`).
TILED_MIN_CHANNELS = 16


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


def _groups_of(t, groups: int) -> list:
    """t split into `groups` equal parts along its last axis."""
    return ops.split(t, groups, axis=-1) if groups > 1 else [t]


def _channels_joined(parts: list):
    return ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def _one_channel_per_group(w, groups: int) -> bool:
    """A depthwise conv (C/g = 1): each output is a k-term dot product, computed as an
    elementwise product and sum that XLA fuses with the unfold (no matrix is written)."""
    return groups > 1 and w.shape[1] == 1


def _depthwise(w, groups: int):
    """(kk, 1, C * m) -> (kk, C, m): channel c's m filters."""
    return ops.reshape(w, (w.shape[0], groups, w.shape[-1] // groups))


def _unfold_chunk(xc, g: ConvGeometry):
    return unfold(pad_input(xc, g), g)


def _conv_chunk(xc, w, groups: int, g: ConvGeometry):
    """One chunk's output (n, OH, OW, F): per group, unfold its channels and multiply by its
    filters as one (n*OH*OW, kk*C/g) x (kk*C/g, F/g) product."""
    if _one_channel_per_group(w, groups):
        cols = _unfold_chunk(xc, g)  # (n, OH, OW, kk, C)
        y = ops.sum(cols[..., None] * _depthwise(w, groups), axis=3)
        return ops.reshape(y, (*y.shape[:3], -1))
    parts = []
    for xg, wg in zip(_groups_of(xc, groups), _groups_of(w, groups), strict=True):
        cols = _unfold_chunk(xg, g)
        _, oh, ow, kk, c = cols.shape
        y = ops.matmul(ops.reshape(cols, (-1, kk * c)), ops.reshape(wg, (kk * c, -1)))
        parts.append(ops.reshape(y, (-1, oh, ow, wg.shape[-1])))
    return _channels_joined(parts)


def _conv_chunk_dx(dyc, w, groups: int, g: ConvGeometry):
    """One chunk's input gradient: per group, col2im(dY @ W^T)."""
    if _one_channel_per_group(w, groups):
        dy = ops.reshape(dyc, (*dyc.shape[:3], 1, groups, -1))
        dcols = ops.sum(dy * _depthwise(w, groups), axis=-1)  # (n, OH, OW, kk, C)
        return crop_padding(fold(dcols, g), g)
    parts = []
    for dyg, wg in zip(_groups_of(dyc, groups), _groups_of(w, groups), strict=True):
        kk, c, f = wg.shape
        dcols = ops.matmul(ops.reshape(dyg, (-1, f)), ops.transpose(ops.reshape(wg, (kk * c, f))))
        dcols = ops.reshape(dcols, (-1, *dyg.shape[1:3], kk, c))
        parts.append(crop_padding(fold(dcols, g), g))
    return _channels_joined(parts)


def _conv_chunk_dw(xc, dyc, w, groups: int, g: ConvGeometry):
    """One chunk's kernel gradient in float32: per group, cols^T @ dY (kk, C/g, F/g)."""
    if _one_channel_per_group(w, groups):
        cols = ops.cast(_unfold_chunk(xc, g), "float32")[..., None]  # (n, OH, OW, kk, C, 1)
        dy = ops.reshape(ops.cast(dyc, "float32"), (*dyc.shape[:3], 1, groups, -1))
        return ops.reshape(ops.sum(cols * dy, axis=(0, 1, 2)), w.shape)
    parts = []
    for xg, dyg, wg in zip(
        _groups_of(xc, groups), _groups_of(dyc, groups), _groups_of(w, groups), strict=True
    ):
        kk, c, f = wg.shape
        cols = ops.reshape(ops.cast(_unfold_chunk(xg, g), "float32"), (-1, kk * c))
        dy = ops.reshape(ops.cast(dyg, "float32"), (-1, f))
        parts.append(ops.reshape(ops.matmul(ops.transpose(cols), dy), (kk, c, f)))
    return _channels_joined(parts)


def conv_forward(x, w, spec: OpSpec):
    """x (n, H, W, C), w (kh*kw, C/g, F) -> (n, OH, OW, F)."""
    y = map_batch(
        lambda xc: _conv_chunk(xc, w, spec.groups, spec.unit),
        (split_bands(x, spec.bands),),
        spec.chunk,
    )
    return rows_of_bands(y, spec.bands, spec.geometry.output[0])


def _transposed(g: ConvGeometry) -> ConvGeometry | None:
    """For a stride-1 conv, dX's geometry as a conv of dY: dY padded by (k-1)*d - P per side,
    giving the input's size. None for strides, or a pad over (k-1)*d (col2im then)."""
    if g.stride != (1, 1):
        return None
    pads = tuple(
        ((k - 1) * d - lo, (k - 1) * d - hi)
        for k, d, (lo, hi) in zip(g.size, g.dilation, g.pads, strict=True)
    )
    if min(min(pair) for pair in pads) < 0:
        return None
    return ConvGeometry(g.size, g.stride, g.dilation, pads, g.output, g.input)


def _flipped_transposed(w, groups: int):
    """(kk, C/g, F) -> (kk, F/g, C): the window reversed, each group's in and out swapped."""
    w = ops.flip(w, axis=0)
    return _channels_joined([ops.transpose(wg, (0, 2, 1)) for wg in _groups_of(w, groups)])


def _transposed_chunk(spec: OpSpec, w) -> int | None:
    """Images per chunk of dY's unfolded matrix (H*W*kk*F per image) within the forward's
    budget (OH*OW*kk*C per image), rounded down to a power of two; 0 if one image is over."""
    if spec.chunk is None:
        return None
    (oh, ow), (h, wd) = spec.geometry.output, spec.geometry.input
    fit = spec.chunk * oh * ow * w.shape[1] // (h * wd * w.shape[2] // spec.groups)
    return 1 << (fit.bit_length() - 1) if fit else 0


def conv_input_gradient(x, w, dy, spec: OpSpec):
    """dX = col2im(dY @ W^T); for stride 1, the same im2col conv of dY with the flipped,
    transposed kernel (no fold: one unfold and one product with a deep K = kk*F)."""
    gt = _transposed(spec.geometry) if spec.bands is None else None
    chunk = _transposed_chunk(spec, w)
    depthwise = _one_channel_per_group(w, spec.groups) and w.shape[2] == spec.groups
    if gt is not None and (w.shape[1] >= TRANSPOSED_MIN_CHANNELS or depthwise) and chunk != 0:
        # A depthwise conv's (multiplier 1) is a depthwise conv of dY with the flipped kernel.
        wt = ops.flip(w, axis=0) if depthwise else _flipped_transposed(w, spec.groups)
        return map_batch(lambda dyc: _conv_chunk(dyc, wt, spec.groups, gt), (dy,), chunk)
    dx = map_batch(
        lambda dyc: _conv_chunk_dx(dyc, w, spec.groups, spec.unit),
        (bands_of_rows(dy, spec.bands),),
        spec.chunk,
    )
    return join_bands(dx, spec.bands, spec.geometry.input[0])


def conv_kernel_gradient(x, w, dy, spec: OpSpec):
    """dW = the sum over chunks of cols^T @ dY (all in one compiled op: the reference, and the
    path of other backends and of depthwise convs)."""
    dw = sum_batch(
        lambda xc, dyc: _conv_chunk_dw(xc, dyc, w, spec.groups, spec.unit),
        (split_bands(x, spec.bands), bands_of_rows(dy, spec.bands)),
        spec.chunk,
        ops.zeros(w.shape, "float32"),
    )
    return ops.cast(dw, w.dtype)


def _chunk_matrices(xc, groups: int, g: ConvGeometry) -> list:
    """One chunk's unfolded matrix per group, (rows, kk*C/g) in float32 (compiled with XLA)."""
    matrices = []
    for xg in _groups_of(ops.cast(xc, "float32"), groups):
        cols = _unfold_chunk(xg, g)
        matrices.append(ops.reshape(cols, (-1, cols.shape[3] * cols.shape[4])))
    return matrices


def _gemm_kernel_gradient(spec: OpSpec) -> Callable:
    """dW on TensorFlow: each chunk unfolded by a compiled op, cols^T @ dY by TensorFlow's own
    matrix product (oneDNN), outside XLA, whose CPU dot with a transposed operand is the
    slower kernel for these products."""
    import tensorflow as tf

    matrices = tf.function(
        functools.partial(_chunk_matrices, groups=spec.groups, g=spec.unit),
        jit_compile=True,
        autograph=False,
    )
    in_xla = _compiled(functools.partial(conv_kernel_gradient, spec=spec), True)

    def kernel_gradient(x, w, dy):
        kk, c, _ = w.shape
        if _one_channel_per_group(w, spec.groups) or kk * c < GEMM_MIN_DEPTH:
            return in_xla(x, w, dy)

        def chunk(xc, dyc):
            dy2 = ops.reshape(ops.cast(dyc, "float32"), (-1, dyc.shape[-1]))
            parts = [
                ops.reshape(tf.linalg.matmul(cols, dyg, transpose_a=True), (kk, c, -1))
                for cols, dyg in zip(matrices(xc), _groups_of(dy2, spec.groups), strict=True)
            ]
            return _channels_joined(parts)

        tensors = (split_bands(x, spec.bands), bands_of_rows(dy, spec.bands))
        if single_chunk(tensors, spec.chunk):
            return ops.cast(chunk(*tensors), w.dtype)
        (xs, dys), _ = split_batch(tensors, spec.chunk)
        # One chunk at a time: TensorFlow's loop would run 10 at once, each with its own
        # unfolded matrix, and undo the memory bound that the chunks exist for.
        _, dw = tf.while_loop(
            lambda i, _: i < ops.shape(xs)[0],
            lambda i, acc: (i + 1, acc + chunk(xs[i], dys[i])),
            (0, ops.zeros(w.shape, "float32")),
            parallel_iterations=1,
        )
        return ops.cast(dw, w.dtype)

    kernel_gradient.compiles_itself = True
    return kernel_gradient


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


def _tiled(x, g: ConvGeometry) -> bool:
    """Windows that tile the padded input (stride = window, no dilation), as in 2x2 pooling,
    on enough channels: on few channels the strided unfold moves the data faster."""
    return g.stride == g.size and g.dilation == (1, 1) and x.shape[-1] >= TILED_MIN_CHANNELS


def _tiles(x, spec: OpSpec):
    """The unfold of tiling windows, a reshape: (n, OH, kh, OW, kw, C), no copy and no chunks
    (the matrix is the input itself)."""
    g = spec.geometry
    (kh, kw), (oh, ow) = g.size, g.output
    xp = pad_input(x, g, _fill(spec))[:, : oh * kh, : ow * kw]  # exact_fit=False drops the rest
    return ops.reshape(xp, (-1, oh, kh, ow, kw, x.shape[-1]))


def _untiled(dt, spec: OpSpec):
    """The adjoint of `_tiles`: (n, OH, kh, OW, kw, C) -> (n, H, W, C)."""
    g = spec.geometry
    (kh, kw), (oh, ow), (hp, wp) = g.size, g.output, g.padded
    dxp = ops.reshape(dt, (-1, oh * kh, ow * kw, dt.shape[-1]))
    if (hp, wp) != (oh * kh, ow * kw):
        dxp = ops.pad(dxp, ((0, 0), (0, hp - oh * kh), (0, wp - ow * kw), (0, 0)))
    return crop_padding(dxp, g)


def _first_maxima(tiles):
    """True at each window's first maximum in row-major order (`tf.nn.max_pool2d`'s tie rule)."""
    hit = tiles == ops.max(tiles, axis=(2, 4), keepdims=True)
    found, rows = None, []
    for i in range(tiles.shape[2]):
        row = []
        for j in range(tiles.shape[4]):
            h = hit[:, :, i : i + 1, :, j : j + 1, :]
            row.append(h if found is None else ops.logical_and(h, ops.logical_not(found)))
            found = h if found is None else ops.logical_or(found, h)
        rows.append(ops.concatenate(row, axis=4))
    return ops.concatenate(rows, axis=2)


def pool_forward(x, spec: OpSpec):
    """Max, or sum / real inputs, of each window row, per channel."""
    g = spec.unit
    if _tiled(x, spec.geometry):
        reduce = ops.max if spec.mode == "max" else ops.sum
        y = reduce(_tiles(x, spec), axis=(2, 4))
        return y if spec.mode == "max" else y / ops.cast(_pool_counts(spec.geometry), y.dtype)

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
    if _tiled(x, spec.geometry):
        (kh, kw), dyt = g.size, dy[:, :, None, :, None, :]
        if spec.mode == "avg":
            return _untiled(ops.tile(dyt, (1, 1, kh, 1, kw, 1)), spec)
        return _untiled(ops.where(_first_maxima(_tiles(x, spec)), dyt, 0), spec)

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


def _float32_inside(fn: Callable) -> Callable:
    """fn on 16-bit inputs (mixed precision) computed in float32, its outputs in the inputs' dtype.

    XLA's CPU backend has no fast 16-bit kernels: its matrix products and even the unfold's
    copies run slower in bfloat16 than in float32. The inputs are converted inside the compiled
    op (fused into the unfold's first pass), so what goes between layers, and the policy's
    dtype, stay 16-bit.
    """

    def op(*inputs):
        dtype = inputs[0].dtype
        if dtype in ("float32", "float64"):
            return fn(*inputs)
        out = fn(*(ops.cast(t, "float32") for t in inputs))
        return keras.tree.map_structure(lambda t: ops.cast(t, dtype), out)

    return op


def _compiled(fn: Callable, jit: bool) -> Callable:
    """XLA-compile `fn` on the TensorFlow backend (fuses the unfold's copies and the fold's sums)."""
    fn = _float32_inside(fn)
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
        _compiled(forward, jit),
        tuple(b if getattr(b, "compiles_itself", False) else _compiled(b, jit) for b in backwards),
    )


@functools.cache
def conv_op(spec: OpSpec, backward: str = "col2im") -> Callable:
    """op(x, w) -> y for kernels shaped (kh*kw, C/groups, F); shared by every layer with `spec`."""
    gemm = spec.jit and backward == "col2im" and keras.backend.backend() == "tensorflow"
    return _differentiable(
        functools.partial(conv_forward, spec=spec),
        (
            functools.partial(conv_input_gradient, spec=spec),
            _gemm_kernel_gradient(spec)
            if gemm
            else functools.partial(conv_kernel_gradient, spec=spec),
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
