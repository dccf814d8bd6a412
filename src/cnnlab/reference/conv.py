"""Convolution forward and backward: explicit loops, and the im2col matrix product.

Like Keras's `Conv2D`, cuDNN's and every framework's "convolution", these are cross-correlations:
the kernel slides over the input as it is, unflipped. `convolve` is the mathematical
convolution (the kernel flipped in both axes); a learned kernel does not care which of the two
a layer computes, a hand-designed one does (Sobel's sign, an off-centre kernel's shift).

`groups` splits the input channels and the filters into that many independent
convolutions (AlexNet's two-GPU layers); the kernel is (kh, kw, C / groups, F).
"""

import numpy as np

from cnnlab.reference.im2col import Padding, Pair, Window, col2im, im2col, pad_nhwc


def _groups(x: np.ndarray, w: np.ndarray, groups: int):
    """Yield (input channel slice, filter slice) of each group."""
    cin, f = w.shape[2], w.shape[3]
    if x.shape[-1] != cin * groups or f % groups:
        raise ValueError(f"input {x.shape} and kernel {w.shape} do not fit groups={groups}")
    fg = f // groups
    for g in range(groups):
        yield slice(g * cin, (g + 1) * cin), slice(g * fg, (g + 1) * fg)


def conv_forward_naive(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Pair = 1,
    pad: Padding = 0,
    dilation: Pair = 1,
    groups: int = 1,
) -> np.ndarray:
    """out[n, y, x, f] = b[f] + sum over (i, j, c) of xpad[n, y*S + i*D, x*S + j*D, c] * w[i, j, c, f]."""
    window = Window.of(w.shape[:2], stride, pad, dilation)
    n, height, width, _ = x.shape
    oh, ow = window.output_shape(height, width)
    xp = pad_nhwc(x, window)
    (kh, kw), (sh, sw), (dh, dw) = window.size, window.stride, window.dilation
    out = np.zeros((n, oh, ow, w.shape[3]), dtype=np.result_type(x, w))
    for cs, fs in _groups(x, w, groups):
        for y in range(oh):
            for xx in range(ow):
                for i in range(kh):
                    for j in range(kw):
                        patch = xp[:, y * sh + i * dh, xx * sw + j * dw, cs]  # (N, C/g)
                        out[:, y, xx, fs] += patch @ w[i, j, :, fs]
    return out if b is None else out + b


def conv_backward_naive(
    dout: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    stride: Pair = 1,
    pad: Padding = 0,
    dilation: Pair = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dw, db): every output gradient flows back along the products that made it."""
    window = Window.of(w.shape[:2], stride, pad, dilation)
    _, height, width, _ = x.shape
    oh, ow = window.output_shape(height, width)
    xp = pad_nhwc(x, window)
    dxp = np.zeros_like(xp, dtype=np.result_type(dout, x))
    dw = np.zeros_like(w, dtype=np.result_type(dout, w))
    (kh, kw), (sh, sw), (dh, ddw) = window.size, window.stride, window.dilation
    for cs, fs in _groups(x, w, groups):
        for y in range(oh):
            for xx in range(ow):
                g = dout[:, y, xx, fs]  # (N, F/g)
                for i in range(kh):
                    for j in range(kw):
                        r, c = y * sh + i * dh, xx * sw + j * ddw
                        dw[i, j, :, fs] += xp[:, r, c, cs].T @ g
                        dxp[:, r, c, cs] += g @ w[i, j, :, fs].T
    (top, _), (left, _) = window.pad
    dx = dxp[:, top : top + height, left : left + width, :]
    return dx, dw, dout.sum(axis=(0, 1, 2))


def conv_forward_im2col(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Pair = 1,
    pad: Padding = 0,
    dilation: Pair = 1,
    groups: int = 1,
) -> np.ndarray:
    """Unfold, then one matrix product per group: (N*OH*OW, kh*kw*C) @ (kh*kw*C, F)."""
    window = Window.of(w.shape[:2], stride, pad, dilation)
    n, height, width, _ = x.shape
    oh, ow = window.output_shape(height, width)
    out = np.concatenate(
        [
            im2col(x[..., cs], window) @ w[..., fs].reshape(-1, fs.stop - fs.start)
            for cs, fs in _groups(x, w, groups)
        ],
        axis=1,
    ).reshape(n, oh, ow, w.shape[3])
    return out if b is None else out + b


def conv_backward_im2col(
    dout: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    stride: Pair = 1,
    pad: Padding = 0,
    dilation: Pair = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dW = cols^T @ dY and dX = col2im(dY @ W^T), per group."""
    window = Window.of(w.shape[:2], stride, pad, dilation)
    dx = np.zeros_like(x, dtype=np.result_type(dout, x))
    dw = np.zeros_like(w, dtype=np.result_type(dout, w))
    for cs, fs in _groups(x, w, groups):
        dy = dout[..., fs].reshape(-1, fs.stop - fs.start)
        wg = w[..., fs].reshape(-1, fs.stop - fs.start)
        dw[..., fs] = (im2col(x[..., cs], window).T @ dy).reshape(dw[..., fs].shape)
        dx[..., cs] = col2im(dy @ wg.T, x[..., cs].shape, window)
    return dx, dw, dout.sum(axis=(0, 1, 2))


def correlate(
    image: np.ndarray, kernel: np.ndarray, stride: Pair = 1, pad: Padding = 0
) -> np.ndarray:
    """2-D cross-correlation: out[y, x] = sum over (i, j) of image[y*S + i, x*S + j] * kernel[i, j],
    what every conv layer computes (here through `conv_forward_naive`)."""
    image, kernel = np.asarray(image), np.asarray(kernel)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(
            f"correlate takes a 2-D image and kernel, got {image.shape} and {kernel.shape}"
        )
    out = conv_forward_naive(
        image[None, :, :, None], kernel[:, :, None, None], stride=stride, pad=pad
    )
    return out[0, :, :, 0]


def convolve(
    image: np.ndarray, kernel: np.ndarray, stride: Pair = 1, pad: Padding = 0
) -> np.ndarray:
    """2-D convolution as mathematics defines it: the kernel flipped in both axes, then
    correlated. Equal to `correlate` for a kernel symmetric under the flip (box, Gaussian)."""
    return correlate(image, np.asarray(kernel)[::-1, ::-1], stride, pad)


def locally_connected_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    kernel_size: Pair,
    stride: Pair = 1,
    pad: Padding = 0,
) -> np.ndarray:
    """Unshared weights: out[n, y, x] = patch(y, x) . w[y*OW + x] (+ b[y, x]), the patch
    xpad[n, y*S : y*S + kh, x*S : x*S + kw, :] flattened (kh, kw, C); w is (OH*OW, kh*kw*C, F)."""
    window = Window.of(kernel_size, stride, pad)
    n, height, width, _ = x.shape
    oh, ow = window.output_shape(height, width)
    xp = pad_nhwc(x, window)
    (kh, kw), (sh, sw) = window.size, window.stride
    out = np.zeros((n, oh, ow, w.shape[2]), dtype=np.result_type(x, w))
    for y in range(oh):
        for xx in range(ow):
            patch = xp[:, y * sh : y * sh + kh, xx * sw : xx * sw + kw, :].reshape(n, -1)
            out[:, y, xx, :] = patch @ w[y * ow + xx]
    return out if b is None else out + b
