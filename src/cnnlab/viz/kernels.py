"""Classic hand-designed filters on real photographs, through cnnlab's own convolution layer.

Before networks learned their kernels, image processing designed them: a box or Gaussian blur
averages a neighbourhood, Sobel and Prewitt take a smoothed derivative (an edge detector),
sharpen adds the image's difference from its neighbours back to it. The first layer of a
trained CNN learns filters much like these. Each kernel here runs as the weights of an
`Im2ColConv2D` with 'same' padding, which, like every framework's convolution, computes a
cross-correlation (`cnnlab.reference.correlate`): the tables below are written the way the
layer applies them, so Sobel-x responds positively where the image gets brighter to the right.
"""

import numpy as np
from matplotlib.figure import Figure

from cnnlab.layers import Im2ColConv2D
from cnnlab.viz.figures import show

_SOBEL = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
_PREWITT = np.array([[-1.0, 0, 1], [-1, 0, 1], [-1, 0, 1]])
_BINOMIAL = np.array([1.0, 4, 6, 4, 1])  # a 5-tap Gaussian approximation, sigma ~ 1

KERNELS: dict[str, np.ndarray] = {
    "box": np.full((3, 3), 1 / 9),
    "gaussian": np.outer(_BINOMIAL, _BINOMIAL) / 256,
    "sobel_x": _SOBEL,
    "sobel_y": _SOBEL.T,
    "prewitt_x": _PREWITT,
    "prewitt_y": _PREWITT.T,
    "vertical_edge": _PREWITT[:, ::-1],  # Andrew Ng's [[1, 0, -1]] x 3: bright-to-dark edges
    "sharpen": np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
}


def apply(kernel: np.ndarray, image: np.ndarray) -> np.ndarray:
    """A 2-D grey image (H, W) through an `Im2ColConv2D` whose one filter is `kernel`
    ('same' padding with zeros, so the output is (H, W) too)."""
    layer = Im2ColConv2D(1, kernel.shape, padding="same", use_bias=False)
    layer.build((None, *image.shape, 1))
    layer.kernel.assign(kernel[:, :, None, None].astype("float32"))
    out = layer(image[None, :, :, None].astype("float32"))
    return np.asarray(out)[0, :, :, 0]


def is_edge_detector(kernel: np.ndarray) -> bool:
    """A derivative kernel sums to 0 (no response to a flat image); a smoothing one to 1."""
    return abs(float(kernel.sum())) < 1e-6


def plot_kernels(
    photos: dict[str, np.ndarray], outputs: dict[str, dict[str, np.ndarray]], title: str
) -> Figure:
    """One row per kernel: the kernel's numbers, then its output on each photo; the photos on
    top. Edge outputs are signed (grey = 0, white = brighter to the right or below); the
    others are drawn on the photos' own 0-1 scale."""
    names = list(outputs)
    figure = Figure(figsize=(1.2 + 2.0 * len(photos), 0.8 + 2.0 * (len(names) + 1)))
    axes = figure.subplots(len(names) + 1, len(photos) + 1, squeeze=False)
    axes[0][0].set_axis_off()
    for c, (photo_name, photo) in enumerate(photos.items(), start=1):
        show(axes[0][c], photo, photo_name, vmin=0, vmax=1)
    for r, name in enumerate(names, start=1):
        kernel = KERNELS[name]
        _draw_kernel(axes[r][0], kernel, name)
        for c, photo_name in enumerate(photos, start=1):
            out = outputs[name][photo_name]
            if is_edge_detector(kernel):
                limit = float(np.percentile(np.abs(out), 99.5)) or 1.0  # a few edges saturate
                show(axes[r][c], out, cmap="gray", vmin=-limit, vmax=limit)
            else:
                show(axes[r][c], np.clip(out, 0, 1), vmin=0, vmax=1)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def _draw_kernel(axis, kernel: np.ndarray, name: str) -> None:
    limit = float(np.abs(kernel).max())
    axis.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fraction = not np.allclose(kernel, np.round(kernel))
    for (i, j), value in np.ndenumerate(kernel):
        text = f"{value * 256:.0f}" if fraction and name == "gaussian" else f"{value:.2g}"
        color = "white" if abs(value) > 0.6 * limit else "black"  # readable on the dark cells
        size = 6 if kernel.shape[0] > 3 else 8
        axis.text(j, i, text, ha="center", va="center", fontsize=size, color=color)
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_title(name + (" (x 1/256)" if name == "gaussian" else ""), fontsize=8)
