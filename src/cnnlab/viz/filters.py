"""The kernels of a convolution as pictures: first-layer filters look like edge and blob detectors."""

import keras
import numpy as np
from matplotlib.figure import Figure

from cnnlab.errors import ConfigError
from cnnlab.viz.figures import chunks, image_grid, stretch
from cnnlab.viz.taps import conv_layers, find_layer, is_conv


def conv_kernel(model: keras.Model, name: str | None) -> tuple[str, np.ndarray]:
    """(layer name, kernel (kh, kw, C, F)) of the named convolution, or of the first one.

    Keras's Conv2D and cnnlab's Im2ColConv2D keep the same kernel layout, so `conv_impl`
    native and im2col give the same pictures.
    """
    layer = find_layer(model, name, "viz.layer") if name else conv_layers(model)[0]
    if not is_conv(layer):
        available = ", ".join(c.name for c in conv_layers(model))
        raise ConfigError(f"viz.layer={name!r} is not a convolution; available: {available}")
    return layer.name, keras.ops.convert_to_numpy(layer.kernel)


def plot_filters(kernel: np.ndarray, layer: str, max_filters: int) -> Figure:
    """RGB tiles when the kernel reads 3 channels (each filter scaled to [0, 1]); otherwise one grey
    tile per input channel, on one symmetric scale for the layer (mid-grey is 0, white positive)."""
    height, width, channels, count = kernel.shape
    shown = min(count, max_filters)
    title = f"{layer}: {shown} of {count} filters, {height}x{width}x{channels}"
    if channels == 3:
        tiles = [stretch(kernel[..., f]) for f in range(shown)]
        columns = min(shown, 8)
        return image_grid(
            chunks(tiles, columns), title, column_labels=[f"filter {f}" for f in range(columns)]
        )
    bound = float(np.abs(kernel).max()) or 1.0
    shown_channels = min(channels, 8)
    if shown_channels == 1:
        tiles = [kernel[..., 0, f] for f in range(shown)]
        rows = chunks(tiles, min(shown, 8))
        labels = [f"filters {r * 8}-{min(r * 8 + 7, shown - 1)}" for r in range(len(rows))]
    else:
        rows = [[kernel[..., c, f] for c in range(shown_channels)] for f in range(shown)]
        labels = [f"filter {f}" for f in range(shown)]
        title += f" (input channels 0-{shown_channels - 1})"
    return image_grid(rows, title, row_labels=labels, vmin=-bound, vmax=bound)
