"""Style transfer (Gatys, Ecker & Bethge, 2016): L_total = alpha L_content + beta L_style.

Content: the squared error of one layer's features. Style: the squared error of the Gram
matrices G = F^T F / (H W) of several layers. Random, untrained filters already carry texture
statistics (Ustyuzhaninov et al., 2016), so this also works on a freshly initialized network.
"""

import logging
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from matplotlib.figure import Figure

from cnnlab.viz.figures import show, stretch
from cnnlab.viz.taps import tap_model

log = logging.getLogger(__name__)


def gram(features):
    """(N, H, W, C) -> (N, C, C), averaged over positions."""
    height, width = features.shape[1], features.shape[2]
    flat = ops.reshape(features, (-1, height * width, features.shape[-1]))
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / (height * width)


@dataclass
class StyleResult:
    image: np.ndarray
    losses: list[float]  # total loss per step, the start included


class StyleLoss:
    """Targets computed once; `__call__(image)` returns (total, content, style)."""

    def __init__(
        self, model: keras.Model, content_layer, style_layers, content, style, alpha, beta
    ):
        self.tap = tap_model(model, [content_layer, *style_layers])
        self.alpha, self.beta = alpha, beta
        self.content_target = self.tap(content[None])[0]
        self.style_targets = [gram(f) for f in self.tap(style[None])[1:]]

    def __call__(self, image):
        features = self.tap(image)
        content = ops.mean(ops.square(features[0] - self.content_target))
        style = sum(
            ops.mean(ops.square(gram(f) - target))
            for f, target in zip(features[1:], self.style_targets, strict=True)
        ) / len(self.style_targets)
        return self.alpha * content + self.beta * style, content, style


def transfer(
    loss: StyleLoss, content: np.ndarray, style: np.ndarray, steps: int, lr: float, seed: int
) -> StyleResult:
    """Adam on the image, from the content image plus a little noise, kept in the inputs' range."""
    low = float(min(content.min(), style.min()))
    high = float(max(content.max(), style.max()))
    noise = 0.02 * (high - low) * np.random.default_rng(seed).standard_normal(content.shape)
    image = tf.Variable(np.clip(content + noise, low, high)[None].astype("float32"))
    optimizer = keras.optimizers.Adam(lr * (high - low))
    losses: list[float] = []
    report = max(1, steps // 5)
    for step in range(1, steps + 1):
        with tf.GradientTape() as tape:
            total, content_loss, style_loss = loss(image)
        optimizer.apply_gradients([(tape.gradient(total, image), image)])
        image.assign(ops.clip(image, low, high))
        losses.append(float(total))
        if step % report == 0 or step == steps:
            log.info(
                "style_transfer: step %d/%d, loss %.4g (content %.4g, style %.4g)",
                step,
                steps,
                float(total),
                float(content_loss),
                float(style_loss),
            )
    losses.append(float(loss(image)[0]))
    return StyleResult(ops.convert_to_numpy(image[0]), losses)


def plot_style_transfer(
    content: np.ndarray, style: np.ndarray, result: StyleResult, title: str
) -> Figure:
    """Content, style, result, and the loss per step."""
    figure = Figure(figsize=(10, 2.8))
    axes = figure.subplots(1, 4)
    for axis, image, name in zip(
        axes[:3], (content, style, result.image), ("content", "style", "result"), strict=True
    ):
        show(axis, stretch(image), name)
    axes[3].plot(result.losses)
    axes[3].set_yscale("log")
    axes[3].set_xlabel("step")
    axes[3].set_ylabel("total loss")
    axes[3].grid(alpha=0.3)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure
