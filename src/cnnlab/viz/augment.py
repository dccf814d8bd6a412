"""A picture of augmentation: a few train images as loaded (top) and augmented (bottom)."""

import numpy as np
from matplotlib.figure import Figure

from cnnlab.data import AugmentationSample


def label_text(label: np.ndarray, class_names: list[str]) -> str:
    """The class of a one-hot label, or the two largest shares of a mixed one (mixup, CutMix)."""
    order = np.argsort(label)[::-1]
    if label[order[0]] > 0.999:
        return class_names[order[0]]
    return " / ".join(f"{class_names[k]} {label[k]:.2f}" for k in order[:2])


def plot_augmentation(sample: AugmentationSample, class_names: list[str]) -> Figure:
    """Two rows of images in [0, 1]; titles give each image's label before and after."""
    count = len(sample.before)
    # A plain Figure (not pyplot): nothing to close, nothing kept alive after logging.
    figure = Figure(figsize=(1.6 * count, 3.8))
    axes = figure.subplots(2, count, squeeze=False)
    rows = [
        ("as loaded", sample.before, sample.labels_before),
        ("augmented", sample.after, sample.labels_after),
    ]
    for row, (title, images, labels) in zip(axes, rows, strict=True):
        for axis, image, label in zip(row, images, labels, strict=True):
            gray = image.shape[-1] == 1
            axis.imshow(
                np.clip(image[..., 0] if gray else image, 0, 1),
                cmap="gray" if gray else None,
                vmin=0,
                vmax=1,
            )
            axis.set_title(label_text(label, class_names), fontsize=7)
            axis.set_xticks([])
            axis.set_yticks([])
        row[0].set_ylabel(title)
    figure.tight_layout()
    return figure
