"""Training curves: one panel per metric, train and validation side by side."""

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers and CI
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def plot_history(history: dict[str, list[float]], title: str = "") -> Figure:
    """Plot Keras `History.history` ({'loss': [...], 'val_loss': [...], ...}) per epoch."""
    names = [k for k in history if not k.startswith("val_") and k not in ("lr", "learning_rate")]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
