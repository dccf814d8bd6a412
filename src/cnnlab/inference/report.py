"""Pictures and tables of an evaluation: the confusion matrix, the most confidently wrong
examples, per-class accuracy."""

import numpy as np
from matplotlib.figure import Figure


def confusion_figure(confusion: np.ndarray, class_names: list[str]) -> Figure:
    """Counts, true class down, predicted class across; off-diagonal cells are the errors."""
    size = max(4.0, 0.45 * len(class_names))
    figure = Figure(figsize=(size + 1, size))
    axes = figure.subplots()
    image = axes.imshow(confusion, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=90, fontsize=7)
    axes.set_yticks(ticks, class_names, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(class_names) <= 20:
        for (row, col), count in np.ndenumerate(confusion):
            if count:
                colour = "white" if count > confusion.max() / 2 else "black"
                axes.text(col, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    figure.tight_layout()
    return figure


def most_confused_figure(
    pixels: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]
) -> Figure:
    """The wrong predictions made with the highest confidence: image, true and predicted class."""
    count = len(pixels)
    columns = min(8, count)
    rows = -(-count // columns)
    figure = Figure(figsize=(1.6 * columns, 1.9 * rows))
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
    for axis in axes:
        axis.set_axis_off()
    for axis, image, label, probs in zip(axes, pixels, labels, probabilities, strict=False):
        gray = image.shape[-1] == 1
        unit = np.clip(image / 255.0, 0.0, 1.0)
        axis.imshow(unit[..., 0] if gray else unit, cmap="gray" if gray else None, vmin=0, vmax=1)
        guess = int(np.argmax(probs))
        axis.set_title(
            f"true {class_names[label]}\npred {class_names[guess]} {probs[guess]:.2f}", fontsize=7
        )
    figure.tight_layout()
    return figure


def per_class_table(per_class: dict[str, float], confusion: np.ndarray) -> str:
    """Markdown: each class's accuracy, its count, and the class it is most mistaken for."""
    rows = [
        "| class | accuracy | examples | most often predicted instead |",
        "| --- | ---: | ---: | --- |",
    ]
    names = list(per_class)
    for k, (name, value) in enumerate(per_class.items()):
        errors = confusion[k].copy()
        errors[k] = 0
        instead = f"{names[int(errors.argmax())]} ({errors.max()})" if errors.max() else "-"
        rows.append(f"| {name} | {value:.4f} | {confusion[k].sum()} | {instead} |")
    return "\n".join(rows) + "\n"
