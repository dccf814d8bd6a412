"""im2col and col2im: unfold every receptive field of a padded batch into a row, and fold rows back.

`unfold` builds the matrix from kh + kw strided slab copies (not OH*OW window copies), and
`fold` is its exact adjoint, so overlapping receptive fields add up in the backward pass.
"""

import numpy as np
from keras import ops

from cnnlab.layers.im2col.geometry import ConvGeometry

# Inputs with 2-7 channels are unfolded by one gather of whole pixels (`_gathered`): the
# strided slab copies move too few contiguous values each. With more channels the slabs are
# long enough, and with one channel a gather of single values gains nothing over them.
GATHER_CHANNELS = range(2, 8)


def pad_input(x, g: ConvGeometry, value: float = 0.0):
    if not any(any(p) for p in g.pads):
        return x
    return ops.pad(x, ((0, 0), *g.pads, (0, 0)), constant_values=value)


def crop_padding(xp, g: ConvGeometry):
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


def _gathered(xp, g: ConvGeometry):
    """im2col as one gather of pixels (C values each) from the flattened padded image."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = g.size, g.stride, g.dilation, g.output
    _, hp, wp, c = xp.shape
    rows = np.arange(oh)[:, None, None, None] * sh + np.arange(kh)[None, None, :, None] * dh
    cols = np.arange(ow)[None, :, None, None] * sw + np.arange(kw)[None, None, None, :] * dw
    pixels = ops.take(ops.reshape(xp, (-1, hp * wp, c)), (rows * wp + cols).reshape(-1), axis=1)
    return ops.reshape(pixels, (-1, oh, ow, kh * kw, c))


def unfold(xp, g: ConvGeometry):
    """im2col: padded (n, Hp, Wp, C) -> (n, OH, OW, kh*kw, C).

    A 2-D window is a window of rows of 1-D windows, so the matrix is built in two passes of
    strided slab copies: kw slabs along the width, then kh slabs of those along the height
    (kh + kw copies instead of OH*OW window copies; XLA fuses each pass into one loop).
    """
    if xp.shape[-1] in GATHER_CHANNELS:
        return _gathered(xp, g)
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = g.size, g.stride, g.dilation, g.output
    rows_of_windows = _unfold_axis(xp, 2, kw, sw, dw, ow)  # (n, Hp, OW, kw, C)
    cols = _unfold_axis(rows_of_windows, 1, kh, sh, dh, oh)  # (n, OH, OW, kh, kw, C)
    return ops.reshape(cols, (-1, oh, ow, kh * kw, xp.shape[-1]))


def fold(cols, g: ConvGeometry):
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
