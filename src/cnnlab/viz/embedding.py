"""Where a network puts each image: 2-D projections of its penultimate features (PCA, and t-SNE,
van der Maaten & Hinton, 2008), coloured by class and scored by a k-NN on the 2-D points."""

import keras
import matplotlib
import numpy as np
from matplotlib.figure import Figure
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from cnnlab.viz.taps import find_layer, penultimate_output


def features(
    model: keras.Model, images: np.ndarray, layer: str | None, batch_size: int = 128
) -> np.ndarray:
    """(N, D) features: the named layer's output flattened, or the last Dense layer's input."""
    output = find_layer(model, layer, "viz.layer").output if layer else penultimate_output(model)
    tap = keras.Model(model.inputs[0], output)
    values = tap.predict(images, batch_size=batch_size, verbose=0)
    return values.reshape(len(values), -1)


def pca(points: np.ndarray, dimensions: int = 2) -> np.ndarray:
    """Projection on the leading principal axes (SVD of the centred data)."""
    centred = points - points.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:dimensions].T


def tsne(points: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """One OpenMP thread: for the few hundred points shown, the threads of scikit-learn's
    Barnes-Hut t-SNE spend more CPU spin-waiting for each other than computing, the more so
    on a busy machine."""
    perplexity = min(perplexity, (len(points) - 1) / 3)  # scikit-learn requires perplexity < n
    with threadpool_limits(1):
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)


def knn_accuracy(points: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Leave-one-out k-NN accuracy (majority of the k nearest other points): 1/classes at chance."""
    distances = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1)[:, :k]
    votes = np.stack([np.bincount(row, minlength=labels.max() + 1) for row in labels[nearest]])
    return float((votes.argmax(axis=1) == labels).mean())


def plot_embedding(
    projections: dict[str, np.ndarray],
    labels: np.ndarray,
    class_names: list[str],
    scores: dict[str, float],
    k: int,
    title: str,
) -> Figure:
    """One scatter panel per projection, one colour per class."""
    figure = Figure(figsize=(0.8 + 4.4 * len(projections), 4.2))
    axes = figure.subplots(1, len(projections), squeeze=False)[0]
    colours = matplotlib.colormaps["tab10" if len(class_names) <= 10 else "tab20"]
    for axis, (method, points) in zip(axes, projections.items(), strict=True):
        for label in np.unique(labels):
            chosen = labels == label
            axis.scatter(
                points[chosen, 0],
                points[chosen, 1],
                s=8,
                label=class_names[label],
                color=colours(label % colours.N),
            )
        axis.set_title(f"{method.upper()}: {k}-NN accuracy {scores[method]:.2f}", fontsize=9)
        axis.set_xlabel(f"{method} 1")
        axis.set_ylabel(f"{method} 2")
    axes[-1].legend(fontsize=6, markerscale=1.5, loc="center left", bbox_to_anchor=(1, 0.5))
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
