"""Image grids on matplotlib's object API (a plain Figure: no pyplot state, no backend switch)."""

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def stretch(image: np.ndarray) -> np.ndarray:
    """Min-max scale one image to [0, 1] for display (a constant image becomes 0)."""
    image = np.asarray(image, dtype=np.float32)
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def show(axis, image: np.ndarray, title: str = "", cmap: str = "gray", **imshow) -> None:
    """An image (H, W), (H, W, 1) or (H, W, 3) on an axis without ticks; 1 channel in `cmap`."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    axis.imshow(image, cmap=cmap if image.ndim == 2 else None, **imshow)
    axis.set_xticks([])
    axis.set_yticks([])
    if title:
        axis.set_title(title, fontsize=7)


def image_grid(
    rows: Sequence[Sequence[np.ndarray]],
    title: str,
    row_labels: Sequence[str] = (),
    column_labels: Sequence[str] = (),
    cmap: str = "gray",
    tile: float = 1.1,
    **imshow,
) -> Figure:
    """A grid of tiles, one list of images per row, with row labels on the left (y axis) and
    column labels on top."""
    columns = max(len(row) for row in rows)
    figure = Figure(figsize=(0.6 + tile * columns, 0.7 + tile * len(rows)))
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for r, row in enumerate(rows):
        for c in range(columns):
            axis = axes[r][c]
            if c >= len(row):
                axis.set_axis_off()
                continue
            label = column_labels[c] if r == 0 and c < len(column_labels) else ""
            show(axis, row[c], label, cmap=cmap, **imshow)
        if r < len(row_labels):
            axes[r][0].set_ylabel(row_labels[r], fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def chunks(items: Sequence, size: int) -> list[Sequence]:
    """Split a flat list of tiles into rows of `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]
