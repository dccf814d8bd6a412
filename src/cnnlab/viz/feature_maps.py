"""What each layer computes for an image: its activation maps, one grid per layer."""

import keras
import numpy as np
from matplotlib.figure import Figure

from cnnlab.config.viz import STAGES
from cnnlab.errors import ConfigError
from cnnlab.viz.figures import image_grid, stretch
from cnnlab.viz.taps import find_layer, stage_layers, tap_model


def chosen_layers(model: keras.Model, names: list[str]) -> list[keras.layers.Layer]:
    """Layers by name; `stages` stands for the last layer of every spatial resolution."""
    layers: list[keras.layers.Layer] = []
    for name in names:
        found = stage_layers(model) if name == STAGES else [find_layer(model, name, "viz.layers")]
        for layer in found:
            if len(layer.output.shape) != 4:
                raise ConfigError(
                    f"viz.layers={name!r} has no feature maps (output {layer.output.shape}); "
                    f"layers with maps: {', '.join(s.name for s in model.layers if len(s.output.shape) == 4)}"
                )
            if layer not in layers:
                layers.append(layer)
    return layers


def feature_maps(
    model: keras.Model, layers: list[keras.layers.Layer], images: np.ndarray
) -> list[np.ndarray]:
    """Each layer's activations (N, H, W, C) for the images."""
    outputs = tap_model(model, layers)(images)
    return [keras.ops.convert_to_numpy(o) for o in outputs]


def plot_feature_maps(
    layer: str, maps: np.ndarray, images: np.ndarray, names: list[str], max_channels: int
) -> Figure:
    """One row per image: the input, then its first channels, each scaled to its own range."""
    channels = min(maps.shape[-1], max_channels)
    rows = [
        [stretch(image)] + [stretch(m[..., c]) for c in range(channels)]
        for image, m in zip(images, maps, strict=True)
    ]
    return image_grid(
        rows,
        f"{layer}: {channels} of {maps.shape[-1]} channels, {maps.shape[1]}x{maps.shape[2]}",
        row_labels=names,
        column_labels=["input", *[f"channel {c}" for c in range(channels)]],
        cmap="viridis",
    )
