"""Activations of a deep plain network at initialization, layer by layer (`make bench-init`).

The notes' experiment: ten fully connected layers of 500 units on unit-Gaussian inputs. With
the small Gaussian `weight_scale` 0.01 (`model.init=normal:0.01`) each tanh layer multiplies
the spread by about 0.01 * sqrt(500) = 0.22, so by layer 10 every activation is ~0 and so is
every gradient; with std 1 the tanh units saturate at +-1 (zero gradient too). Glorot's
variance 1/fan_in (2/(fan_in + fan_out)) keeps a tanh network's spread; a ReLU zeroes half its
inputs and halves the variance at each layer, which He's 2/fan_in restores.
"""

import keras
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from cnnlab.models.init import initialize


def plain_network(depth: int, width: int, activation: str, inputs: int, init: str) -> keras.Model:
    """`depth` dense layers of `width` units (biases start at zero), no normalization, their
    kernels drawn by `cnnlab.models.init` with `init` (any `model.init` value)."""
    x = image = keras.Input((inputs,))
    for i in range(1, depth + 1):
        x = keras.layers.Dense(width, activation=activation, name=f"layer{i}")(x)
    model = keras.Model(image, x, name=f"plain{depth}_{activation}")
    initialize(model, init)
    return model


def layer_activations(model: keras.Model, inputs: np.ndarray) -> list[np.ndarray]:
    """The output of every layer of `model` (after its activation) on `inputs`."""
    probe = keras.Model(model.inputs[0], [layer.output for layer in model.layers[1:]])
    return [np.asarray(values) for values in probe(inputs)]


def plot_histograms(activations: dict[str, list[np.ndarray]], title: str) -> Figure:
    """One row per network (its label), one histogram per layer, each titled with its
    activations' std (a ReLU's exact zeros, half its units, are left out of the bars); the
    last column plots the std against depth on one log scale for all rows."""
    depth = max(len(layers) for layers in activations.values())
    stds = {
        label: [max(float(v.std()), 1e-30) for v in layers] for label, layers in activations.items()
    }
    low = min(min(values) for values in stds.values()) / 3
    high = max(max(values) for values in stds.values()) * 3
    figure = Figure(figsize=(1.5 * (depth + 2), 1.3 * len(activations) + 0.8))
    axes = figure.subplots(len(activations), depth + 1, squeeze=False)
    for r, (label, layers) in enumerate(activations.items()):
        squashed = label.startswith("tanh")
        for c, values in enumerate(layers):
            axis = axes[r][c]
            shown = values.ravel() if squashed else values[values != 0]
            axis.hist(shown, bins=np.linspace(-1, 1, 41) if squashed else 40, color="tab:blue")
            axis.set_yticks([])
            axis.tick_params(labelsize=5)
            axis.xaxis.get_offset_text().set_fontsize(5)
            axis.set_title(f"layer {c + 1}: std {values.std():.2g}", fontsize=6)
        axes[r][0].set_ylabel(label, fontsize=7)
        spread = axes[r][depth]
        spread.semilogy(range(1, len(layers) + 1), stds[label], "o-", markersize=3)
        spread.axhline(1.0, color="grey", linewidth=0.5)
        spread.set_ylim(low, high)
        spread.yaxis.set_minor_formatter(NullFormatter())
        spread.set_title("std by layer", fontsize=6)
        spread.tick_params(labelsize=5)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_curves(curves: dict[str, list[float]], title: str) -> Figure:
    """Training loss per epoch, one line per network."""
    figure = Figure(figsize=(6, 3.5))
    axis = figure.subplots()
    for label, losses in curves.items():
        style = "-" if label.startswith("tanh") else "--"
        axis.plot(range(1, len(losses) + 1), losses, style, label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel("training loss")
    axis.legend(fontsize=6, ncol=2)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure
