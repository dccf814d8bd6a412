"""Style transfer (Gatys, Ecker & Bethge, 2016): L_total = alpha L_content + beta L_style.

The losses as the paper (and the notes) write them, so that their alpha/beta ratios (1e-3,
1e-4) mean what they say. With F the generated image's features at a layer (M = H*W positions
by N channels) and P, A the content image's features and the style image's Gram matrix:

    L_content = 1/2 sum (F - P)^2                         (eq. 1, one layer)
    G = F^T F, summed over the positions                  (eq. 3, N x N)
    E_l = 1 / (4 N^2 M^2) sum (G - A)^2                   (eq. 4, per style layer)
    L_style = sum_l w_l E_l, w_l = 1 / (number of layers) (eq. 5)

Random, untrained filters already carry texture statistics (Ustyuzhaninov et al., 2016), so
this also works on a freshly initialized network.
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
    """(N, H, W, C) -> (N, C, C): G = F^T F, the channels' inner products summed over positions."""
    height, width = features.shape[1], features.shape[2]
    flat = ops.reshape(features, (-1, height * width, features.shape[-1]))
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat)


def content_loss(features, target):
    """1/2 sum (F - P)^2 over one image's positions and channels (eq. 1)."""
    return 0.5 * ops.sum(ops.square(features - target))


def style_layer_loss(features, target_gram):
    """E_l = 1 / (4 N^2 M^2) sum (G - A)^2 with N channels and M = H*W positions (eq. 4)."""
    channels, positions = features.shape[-1], features.shape[1] * features.shape[2]
    return ops.sum(ops.square(gram(features) - target_gram)) / (4 * channels**2 * positions**2)


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
        content = content_loss(features[0], self.content_target)
        style = (
            sum(  # equal weights w_l = 1/L, as the paper's
                style_layer_loss(f, target)
                for f, target in zip(features[1:], self.style_targets, strict=True)
            )
            / len(self.style_targets)
        )
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
