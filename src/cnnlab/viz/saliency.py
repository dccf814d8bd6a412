"""Which pixels a class score depends on: vanilla gradients (Simonyan et al., 2014), SmoothGrad
(Smilkov et al., 2017) and Grad-CAM (Selvaraju et al., 2017). Every map has the input's H x W."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from matplotlib.figure import Figure

from cnnlab.viz.figures import show, stretch
from cnnlab.viz.taps import logits_model


def _score_gradient(model: keras.Model, images, classes) -> tf.Tensor:
    """d logit[class] / d image, per image."""
    x = tf.convert_to_tensor(images, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        score = ops.sum(logits * ops.one_hot(classes, logits.shape[-1]))
    return tape.gradient(score, x)


def vanilla(logits: keras.Model, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """|gradient|, the largest over channels: (N, H, W)."""
    return ops.convert_to_numpy(ops.max(ops.abs(_score_gradient(logits, images, classes)), axis=-1))


def smoothgrad(
    logits: keras.Model,
    images: np.ndarray,
    classes: np.ndarray,
    samples: int,
    noise: float,
    seed: int,
) -> np.ndarray:
    """The gradient averaged over noisy copies (std = noise x each image's value range)."""
    generator = np.random.default_rng(seed)
    spread = noise * (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3)))
    total = np.zeros(images.shape, dtype=np.float32)
    for _ in range(samples):
        jitter = (
            generator.standard_normal(images.shape).astype(np.float32) * spread[:, None, None, None]
        )
        total += ops.convert_to_numpy(_score_gradient(logits, images + jitter, classes))
    return np.abs(total / samples).max(axis=-1)


def gradcam(model: keras.Model, layer, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """ReLU(sum_k w_k A^k) with w_k the spatial mean of d score / d A^k, upsampled to H x W."""
    tap = logits_model(model, layer)
    x = tf.convert_to_tensor(images, dtype=tf.float32)
    with tf.GradientTape() as tape:
        logits, maps = tap(x, training=False)
        score = ops.sum(logits * ops.one_hot(classes, logits.shape[-1]))
    weights = ops.mean(tape.gradient(score, maps), axis=(1, 2), keepdims=True)
    cam = ops.relu(ops.sum(weights * maps, axis=-1, keepdims=True))
    return ops.convert_to_numpy(ops.image.resize(cam, images.shape[1:3]))[..., 0]


def plot_saliency(
    images: np.ndarray,
    maps: dict[str, np.ndarray],
    names: list[str],
    captions: list[str],
) -> Figure:
    """One row per image: the input, then each method's map (Grad-CAM over the image)."""
    columns = 1 + len(maps)
    figure = Figure(figsize=(0.6 + 1.5 * columns, 0.8 + 1.5 * len(images)))
    axes = figure.subplots(len(images), columns, squeeze=False)
    for i, image in enumerate(images):
        show(axes[i][0], stretch(image), captions[i] if i else f"input\n{captions[i]}")
        axes[i][0].set_ylabel(names[i], fontsize=7)
        for j, (method, values) in enumerate(maps.items(), start=1):
            if method == "gradcam":
                show(axes[i][j], stretch(image).mean(axis=-1), "gradcam" if i == 0 else "")
                axes[i][j].imshow(stretch(values[i]), cmap="jet", alpha=0.45)
            else:
                show(axes[i][j], stretch(values[i]), method if i == 0 else "", cmap="hot")
    figure.suptitle("saliency of the class score (logit)", fontsize=9)
    figure.tight_layout()
    return figure
