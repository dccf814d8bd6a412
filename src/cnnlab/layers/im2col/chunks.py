"""Bounding the unfolded matrix's memory: the batch goes through a loop in chunks of whole images,
and an image whose matrix alone is too big is cut into bands of output rows.

The unfolded matrix is kh*kw/(sh*sw) times the input. Small chunks also keep it in cache between
the unfold and the matrix product, which is what makes im2col fast on a CPU.
"""

from collections.abc import Callable
from dataclasses import dataclass

from keras import ops

from cnnlab.layers.im2col.geometry import ConvGeometry


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
    geometry: ConvGeometry  # one band: `height` unpadded rows, the full (padded) width

    @classmethod
    def of(cls, g: ConvGeometry, rows: int) -> "Bands":
        (kh, _), (sh, _), (dh, _) = g.size, g.stride, g.dilation
        height = (rows - 1) * sh + dh * (kh - 1) + 1
        band = ConvGeometry(
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


def images_per_chunk(
    image_bytes: int, target_bytes: int | None, max_bytes: int | None
) -> int | None:
    """Images (or bands) per chunk: the power of two nearest to `target_bytes` of unfolded
    matrix, at most `max_bytes` (at least one).

    A power of two divides the usual batch sizes, so the batch splits into whole chunks: a
    last partial chunk would cost zero-padding copies of the whole input and output.
    """
    if target_bytes is None or max_bytes is None:
        return None
    fit = max(1, target_bytes // image_bytes)
    below = 1 << (fit.bit_length() - 1)
    above = 2 * below
    nearer = above if above * below < fit * fit else below  # nearer in log scale: < 1.42 fit
    return nearer if nearer * image_bytes <= max_bytes else below


def split_batch(tensors, chunk: int):
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


def single_chunk(tensors, chunk: int | None) -> bool:
    n = tensors[0].shape[0]
    return chunk is None or (n is not None and n <= chunk)


def map_batch(fn: Callable, tensors: tuple, chunk: int | None):
    """fn(*tensors) computed `chunk` images at a time; outputs joined along the batch."""
    if single_chunk(tensors, chunk):
        return fn(*tensors)
    split, n = split_batch(tensors, chunk)
    out = ops.map(lambda parts: fn(*parts), tuple(split))
    return ops.reshape(out, (-1, *out.shape[2:]))[:n]


def sum_batch(fn: Callable, tensors: tuple, chunk: int | None, init):
    """init + the sum of fn(*tensors) over chunks of the batch (a loop-carried accumulator)."""
    if single_chunk(tensors, chunk):
        return init + fn(*tensors)
    split, _ = split_batch(tensors, chunk)
    return ops.fori_loop(
        0, ops.shape(split[0])[0], lambda i, acc: acc + fn(*(t[i] for t in split)), init
    )


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
