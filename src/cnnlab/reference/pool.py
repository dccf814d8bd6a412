"""Pooling from im2col: unfold each channel's windows into rows, take the row max or mean.

Padding never wins or counts: a max pool pads with -inf and an average pool divides by the
number of real inputs in the window (TensorFlow's 'SAME' rule). Max routes each window's
gradient to its first maximum in row-major window order, as `tf.nn.max_pool2d` does on ties.
"""

import numpy as np

from cnnlab.checks import require_choice
from cnnlab.reference.im2col import Padding, Pair, Window, col2im, im2col

POOL_MODES = ("max", "avg")


def _windows(x: np.ndarray, window: Window, value: float) -> np.ndarray:
    """(N, H, W, C) -> (N*OH*OW, kh*kw, C): one row of window entries per output position."""
    channels = x.shape[-1]
    return im2col(x, window, pad_value=value).reshape(-1, np.prod(window.size), channels)


def _counts(x_shape: tuple[int, ...], window: Window) -> np.ndarray:
    """How many real (unpadded) inputs each window holds: (N*OH*OW, 1, 1)."""
    ones = np.ones((1, *x_shape[1:3], 1))
    per_position = _windows(ones, window, 0.0).sum(axis=1, keepdims=True)
    return np.tile(per_position, (x_shape[0], 1, 1))


def pool_forward(
    x: np.ndarray, pool_size: Pair, stride: Pair | None = None, pad: Padding = 0, mode="max"
) -> np.ndarray:
    require_choice("mode", mode, POOL_MODES)
    window = Window.of(pool_size, pool_size if stride is None else stride, pad)
    n, height, width, channels = x.shape
    oh, ow = window.output_shape(height, width)
    if mode == "max":
        out = _windows(x, window, -np.inf).max(axis=1)
    else:
        out = _windows(x, window, 0.0).sum(axis=1) / _counts(x.shape, window)[:, 0]
    return out.reshape(n, oh, ow, channels)


def pool_backward(
    dout: np.ndarray,
    x: np.ndarray,
    pool_size: Pair,
    stride: Pair | None = None,
    pad: Padding = 0,
    mode="max",
) -> np.ndarray:
    """Max: all of a window's gradient to its first arg-max. Average: spread evenly."""
    require_choice("mode", mode, POOL_MODES)
    window = Window.of(pool_size, pool_size if stride is None else stride, pad)
    channels = x.shape[-1]
    dy = dout.reshape(-1, 1, channels)
    if mode == "max":
        windows = _windows(x, window, -np.inf)
        first_max = windows.argmax(axis=1)[:, None, :]
        entries = np.arange(windows.shape[1])[None, :, None]
        dcols = np.where(entries == first_max, dy, 0.0)
    else:
        dcols = np.broadcast_to(
            dy / _counts(x.shape, window), (dy.shape[0], np.prod(window.size), channels)
        )
    return col2im(dcols.reshape(dcols.shape[0], -1), x.shape, window)
