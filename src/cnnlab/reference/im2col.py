"""im2col / col2im: unfold every receptive field into a row, and fold rows back by summing.

A row of the unfolded matrix holds one receptive field ordered (kh, kw, C), so a Keras
kernel (kh, kw, C, F) reshaped to (kh*kw*C, F) multiplies it directly.
"""

from dataclasses import dataclass

import numpy as np

from cnnlab.errors import GeometryError

Pair = int | tuple[int, int]
Padding = int | tuple[int, int] | tuple[tuple[int, int], tuple[int, int]]


def output_size(n: int, f: int, p: int, s: int, exact_fit: bool = True) -> int:
    """(N + 2P - F) / S + 1: the output side of a window F with padding P and stride S.

    Raises GeometryError when the division is not exact (unless `exact_fit=False`, which
    floors like the frameworks do) or when the window is larger than the padded input.
    """
    if min(n, f, s) < 1 or p < 0:
        raise GeometryError(f"sizes must be positive (N={n}, F={f}, S={s}) and P={p} >= 0")
    if f > n + 2 * p:
        raise GeometryError(f"window F={f} is larger than the padded input N + 2P = {n + 2 * p}")
    if exact_fit and (n + 2 * p - f) % s:
        raise GeometryError(
            f"(N + 2P - F) / S + 1 = ({n} + 2*{p} - {f}) / {s} + 1 = "
            f"{(n + 2 * p - f) / s + 1:g} is not a whole number"
        )
    return (n + 2 * p - f) // s + 1


def pair(value: Pair) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


@dataclass(frozen=True)
class Window:
    """A 2-D sliding window: kernel size, stride, dilation and (before, after) padding per axis."""

    size: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    pad: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    dilation: tuple[int, int] = (1, 1)

    @classmethod
    def of(cls, size: Pair, stride: Pair = 1, pad: Padding = 0, dilation: Pair = 1) -> "Window":
        """Accepts P as one int, (P_h, P_w), or ((top, bottom), (left, right))."""
        if isinstance(pad, int):
            pad = ((pad, pad), (pad, pad))
        elif all(isinstance(p, int) for p in pad):
            pad = ((pad[0], pad[0]), (pad[1], pad[1]))
        return cls(pair(size), pair(stride), tuple(map(tuple, pad)), pair(dilation))

    def extent(self, axis: int) -> int:
        """The dilated window side d*(k-1)+1."""
        return self.dilation[axis] * (self.size[axis] - 1) + 1

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """Output sides, flooring like the frameworks (the left-over rows are never visited)."""
        sides = (height, width)
        return tuple(
            (sides[a] + sum(self.pad[a]) - self.extent(a)) // self.stride[a] + 1 for a in (0, 1)
        )


def pad_nhwc(x: np.ndarray, window: Window, value: float = 0.0) -> np.ndarray:
    return np.pad(x, ((0, 0), *window.pad, (0, 0)), constant_values=value)


def im2col(x: np.ndarray, window: Window, pad_value: float = 0.0) -> np.ndarray:
    """(N, H, W, C) -> (N*OH*OW, kh*kw*C): row (n, oh, ow) is the receptive field at (oh, ow)."""
    n, height, width, channels = x.shape
    oh, ow = window.output_shape(height, width)
    xp = pad_nhwc(x, window, pad_value)
    (kh, kw), (sh, sw), (dh, dw) = window.size, window.stride, window.dilation
    cols = np.empty((n, oh, ow, kh, kw, channels), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
            columns = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
            cols[:, :, :, i, j, :] = xp[:, rows, columns, :]
    return cols.reshape(n * oh * ow, kh * kw * channels)


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], window: Window) -> np.ndarray:
    """The adjoint of im2col: add every row back onto the input positions it was copied from."""
    n, height, width, channels = x_shape
    oh, ow = window.output_shape(height, width)
    (kh, kw), (sh, sw), (dh, dw) = window.size, window.stride, window.dilation
    (top, bottom), (left, right) = window.pad
    cols = cols.reshape(n, oh, ow, kh, kw, channels)
    dxp = np.zeros((n, height + top + bottom, width + left + right, channels), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
            columns = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
            dxp[:, rows, columns, :] += cols[:, :, :, i, j, :]
    return dxp[:, top : top + height, left : left + width, :]
