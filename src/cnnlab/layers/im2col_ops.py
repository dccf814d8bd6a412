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

from cnnlab.layers.im2col_geometry import Geometry

BACKWARDS = ("col2im", "autodiff")
POOL_MODES = ("max", "avg")


@dataclass(frozen=True)
class Bands:
    """Output rows cut into bands of `rows`, for images whose unfolded matrix alone is too big.

    Band b computes output rows [b*rows, (b+1)*rows) from padded input rows
    [b*step, b*step + height), step = rows*S: neighbouring bands share a halo of
    height - step rows. Each band is then convolved as an image of its own (`geometry`).
    """

    rows: int
    count: int
    step: int
    height: int
    top: int  # padding rows above the input
    geometry: Geometry  # one band: `height` unpadded rows, the full (padded) width

    @classmethod
    def of(cls, g: Geometry, rows: int) -> "Bands":
        (kh, _), (sh, _), (dh, _) = g.size, g.stride, g.dilation
        height = (rows - 1) * sh + dh * (kh - 1) + 1
        band = Geometry(
            g.size,
            g.stride,
            g.dilation,
            ((0, 0), g.pads[1]),
            (height, g.input[1]),
            (rows, g.output[1]),
        )
        return cls(rows, -(-g.output[0] // rows), rows * sh, height, g.pads[0][0], band)

    @property
    def span(self) -> int:
        """Padded input rows that the bands cover."""
        return (self.count - 1) * self.step + self.height


@dataclass(frozen=True)
class OpSpec:
    """Everything static about one op: its hashable key in the compiled-op cache."""

    geometry: Geometry
    groups: int = 1  # conv only; a depthwise conv is groups == channels
    mode: str = "conv"  # conv | max | avg
    chunk: int | None = None  # images (or bands) per chunk; None: the whole batch at once
    jit: bool = True
    bands: Bands | None = None

    @property
    def unit(self) -> Geometry:
        """The geometry that the chunk loops see: a whole image's, or one band's."""
        return self.bands.geometry if self.bands else self.geometry


def images_per_chunk(image_bytes: int, max_unfold_bytes: int | None) -> int | None:
    """The most images (or bands) whose unfolded matrices fit in `max_unfold_bytes`, at least one."""
    if max_unfold_bytes is None:
        return None
    return max(1, max_unfold_bytes // image_bytes)


# ---------------------------------------------------------------- unfold / fold


def pad_input(x, g: Geometry, value: float = 0.0):
    if not any(any(p) for p in g.pads):
        return x
    return ops.pad(x, ((0, 0), *g.pads, (0, 0)), constant_values=value)


def crop_padding(xp, g: Geometry):
    (top, _), (left, _) = g.pads
    height, width = g.input
    return xp[:, top : top + height, left : left + width, :]


def _along(axis: int, index) -> tuple:
    """An indexing tuple that applies `index` (an int or a slice) to `axis`."""
    return (slice(None),) * axis + (index,)


def _unfold_axis(x, axis: int, k: int, s: int, d: int, out: int):
    """Stack the k strided slabs that window entries 0..k-1 visit along `axis` (at axis 3)."""
    return ops.stack(
        [x[_along(axis, slice(t * d, t * d + (out - 1) * s + 1, s))] for t in range(k)], axis=3
    )


def _fold_axis(cols, axis: int, k: int, s: int, d: int, out: int, padded: int):
    """The adjoint of `_unfold_axis`: add slab t (axis 3 of `cols`) back at rows t*d + s*o.

    Along a stride-s axis the padded input is s phases of ceil(padded/s) blocks (row
    r = s * block + phase): slab t lands whole in phase t*d % s, shifted t*d // s blocks,
    and the phases are interleaved once at the end.
    """
    blocks = -(-padded // s)
    phases = {}
    for t in range(k):
        shift, phase = divmod(t * d, s)
        slab = cols[_along(3, t)]
        widths = [(0, 0)] * len(slab.shape)
        widths[axis] = (shift, blocks - shift - out)
        slab = ops.pad(slab, widths)
        phases[phase] = slab if phase not in phases else phases[phase] + slab
    if s == 1:
        return phases[0]
    zeros = ops.zeros_like(next(iter(phases.values())))
    grid = ops.stack([phases.get(phase, zeros) for phase in range(s)], axis=axis + 1)
    shape = list(grid.shape)
    merged = ops.reshape(grid, (-1, *shape[1:axis], blocks * s, *shape[axis + 2 :]))
    return merged[_along(axis, slice(0, padded))]


def unfold(xp, g: Geometry):
    """im2col: padded (n, Hp, Wp, C) -> (n, OH, OW, kh*kw, C).

    A 2-D window is a window of rows of 1-D windows, so the matrix is built in two passes of
    strided slab copies: kw slabs along the width, then kh slabs of those along the height
    (kh + kw copies instead of OH*OW window copies; XLA fuses each pass into one loop).
    """
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = g.size, g.stride, g.dilation, g.output
    rows_of_windows = _unfold_axis(xp, 2, kw, sw, dw, ow)  # (n, Hp, OW, kw, C)
    cols = _unfold_axis(rows_of_windows, 1, kh, sh, dh, oh)  # (n, OH, OW, kh, kw, C)
    return ops.reshape(cols, (-1, oh, ow, kh * kw, xp.shape[-1]))


def fold(cols, g: Geometry):
    """col2im, the adjoint of `unfold`: (n, OH, OW, kh*kw, C) -> padded (n, Hp, Wp, C).

    Every entry is added back where `unfold` copied it from, so overlapping receptive
    fields sum: the two passes of `unfold` undone in reverse order.
    """
    (kh, kw), (sh, sw), (dh, dw), (oh, ow), (hp, wp) = (
        g.size,
        g.stride,
        g.dilation,
        g.output,
        g.padded,
    )
    cols = ops.reshape(cols, (-1, oh, ow, kh, kw, cols.shape[-1]))
    rows_of_windows = _fold_axis(cols, 1, kh, sh, dh, oh, hp)  # (n, Hp, OW, kw, C)
    return _fold_axis(rows_of_windows, 2, kw, sw, dw, ow, wp)  # (n, Hp, Wp, C)


# ---------------------------------------------------------------- batch chunks


def _split_batch(tensors, chunk: int):
    """Pad the batch to whole chunks and reshape each tensor to (chunks, per_chunk, ...)."""
    n = tensors[0].shape[0]
    if n is not None:  # static: chunks as even as possible
        per = -(-n // -(-n // chunk))
        missing = -n % per
    else:
        per = chunk
        n = ops.shape(tensors[0])[0]
        missing = (per - n % per) % per
    split = []
    for t in tensors:
        if not isinstance(missing, int) or missing:
            t = ops.concatenate([t, ops.zeros((missing, *t.shape[1:]), t.dtype)], axis=0)
        split.append(ops.reshape(t, (-1, per, *t.shape[1:])))
    return split, n


def _single_chunk(tensors, chunk: int | None) -> bool:
    n = tensors[0].shape[0]
    return chunk is None or (n is not None and n <= chunk)


def map_batch(fn: Callable, tensors: tuple, chunk: int | None):
    """fn(*tensors) computed `chunk` images at a time; outputs joined along the batch."""
    if _single_chunk(tensors, chunk):
        return fn(*tensors)
    split, n = _split_batch(tensors, chunk)
    out = ops.map(lambda parts: fn(*parts), tuple(split))
    return ops.reshape(out, (-1, *out.shape[2:]))[:n]


def sum_batch(fn: Callable, tensors: tuple, chunk: int | None, init):
    """init + the sum of fn(*tensors) over chunks of the batch (a loop-carried accumulator)."""
    if _single_chunk(tensors, chunk):
        return init + fn(*tensors)
    split, _ = _split_batch(tensors, chunk)
    return ops.fori_loop(
        0, ops.shape(split[0])[0], lambda i, acc: acc + fn(*(t[i] for t in split)), init
    )


# ---------------------------------------------------------------- bands of rows


def split_bands(x, bands: Bands | None, value: float = 0.0):
    """(n, H, W, C) -> (n * count, height, W, C): the row-padded input's overlapping bands."""
    if bands is None:
        return x
    height = x.shape[1]
    below = max(bands.span - bands.top - height, 0)
    xp = ops.pad(x, ((0, 0), (bands.top, below), (0, 0), (0, 0)), constant_values=value)
    parts = [xp[:, b * bands.step : b * bands.step + bands.height] for b in range(bands.count)]
    return ops.reshape(ops.stack(parts, axis=1), (-1, bands.height, *x.shape[2:]))


def join_bands(dxb, bands: Bands | None, height: int):
    """The adjoint of `split_bands`: add each band's gradient back, halos summing."""
    if bands is None:
        return dxb
    dxb = ops.reshape(dxb, (-1, bands.count, bands.height, *dxb.shape[2:]))
    rows = max(bands.span, bands.top + height)
    total = None
    for b in range(bands.count):
        start = b * bands.step
        band = ops.pad(dxb[:, b], ((0, 0), (start, rows - start - bands.height), (0, 0), (0, 0)))
        total = band if total is None else total + band
    return total[:, bands.top : bands.top + height]


def rows_of_bands(yb, bands: Bands | None, out_rows: int):
    """(n * count, rows, OW, F) -> (n, OH, OW, F)."""
    if bands is None:
        return yb
    return ops.reshape(yb, (-1, bands.count * bands.rows, *yb.shape[2:]))[:, :out_rows]


def bands_of_rows(dy, bands: Bands | None):
    """The adjoint of `rows_of_bands`: (n, OH, OW, F) -> (n * count, rows, OW, F)."""
    if bands is None:
        return dy
    missing = bands.count * bands.rows - dy.shape[1]
    dy = ops.pad(dy, ((0, 0), (0, missing), (0, 0), (0, 0)))
    return ops.reshape(dy, (-1, bands.rows, *dy.shape[2:]))


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
    """cols^T @ dY per group, in float32: (kk, C/g, F)."""
    kk, c, f = cols.shape[3], cols.shape[4], dy.shape[-1]
    cols = ops.cast(ops.reshape(cols, (-1, kk, groups, c // groups)), "float32")
    dy = ops.cast(ops.reshape(dy, (-1, groups, f // groups)), "float32")
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


def conv_backward(x, w, dy, spec: OpSpec):
    """(dX, dW): dX = col2im(dY @ W^T), dW = sum over chunks of cols^T @ dY."""
    g = spec.unit
    xb, dyb = split_bands(x, spec.bands), bands_of_rows(dy, spec.bands)
    dx = map_batch(
        lambda dyc: crop_padding(fold(_conv_dcols(dyc, w, spec.groups, g.entries), g), g),
        (dyb,),
        spec.chunk,
    )
    dw = sum_batch(
        lambda xc, dyc: _conv_dw(unfold(pad_input(xc, g), g), dyc, spec.groups),
        (xb, dyb),
        spec.chunk,
        ops.zeros(w.shape, "float32"),
    )
    return join_bands(dx, spec.bands, spec.geometry.input[0]), ops.cast(dw, w.dtype)


# ---------------------------------------------------------------- pooling


def _pool_counts(g: Geometry) -> np.ndarray:
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


def _with_gradient(forward: Callable, backward: Callable) -> Callable:
    """forward(*inputs) whose gradient is backward(*inputs, upstream), not autodiff's."""

    @ops.custom_gradient
    def op(*inputs):
        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return backward(*inputs, upstream)

        # Unwatched inputs: TensorFlow must not trace the compiled forward for its own gradient.
        return forward(*map(ops.stop_gradient, inputs)), grad

    return op


def _tf_autodiff(forward: Callable) -> Callable:
    """backward(*inputs, upstream) by TensorFlow's autodiff of `forward`, so it compiles too."""
    import tensorflow as tf

    def backward(*inputs_and_upstream):
        *inputs, upstream = inputs_and_upstream
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = forward(*inputs)
        return tuple(tape.gradient(y, inputs, output_gradients=upstream))

    return backward


def _differentiable(forward: Callable, backward: Callable, jit: bool, mode: str) -> Callable:
    """The compiled forward with the explicit (col2im) or the autodiff gradient."""
    tensorflow = keras.backend.backend() == "tensorflow"
    if mode == "autodiff":
        if not tensorflow:
            return forward  # the backend differentiates the keras.ops code itself
        backward = _tf_autodiff(forward)
    return _with_gradient(_compiled(forward, jit), _compiled(backward, jit))


@functools.cache
def conv_op(spec: OpSpec, backward: str = "col2im") -> Callable:
    """op(x, w) -> y for kernels shaped (kh*kw, C/groups, F); shared by every layer with `spec`."""
    return _differentiable(
        functools.partial(conv_forward, spec=spec),
        functools.partial(conv_backward, spec=spec),
        spec.jit,
        backward,
    )


@functools.cache
def pool_op(spec: OpSpec, backward: str = "col2im") -> Callable:
    """op(x) -> y for a max or average pool described by `spec`."""
    return _differentiable(
        functools.partial(pool_forward, spec=spec),
        lambda x, dy: (pool_backward(x, dy, spec),),
        spec.jit,
        backward,
    )
