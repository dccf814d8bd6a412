"""Training curves: one panel per metric, train and validation side by side."""

from matplotlib.figure import Figure


def plot_history(history: dict[str, list[float]], title: str = "") -> Figure:
    """Plot Keras `History.history` ({'loss': [...], 'val_loss': [...], ...}) per epoch.

    A plain Figure (matplotlib's object API): no pyplot state and no backend switch, so
    importing cnnlab.viz leaves the user's matplotlib as it was.
    """
    names = [k for k in history if not k.startswith("val_") and k not in ("lr", "learning_rate")]
    figure = Figure(figsize=(5 * len(names), 3.6))
    axes = figure.subplots(1, len(names), squeeze=False)
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
