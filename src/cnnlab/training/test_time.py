"""Test-time augmentation: average the softmax over several views of each test image.

AlexNet (Krizhevsky et al. 2012, §4.1) averages the predictions of ten crops; the views
come from `Datasets.test_views` as (V * B images, B labels), view-major.
"""

import keras
import numpy as np
import tensorflow as tf


def tta_metrics(model: keras.Model, views: tf.data.Dataset | None) -> dict[str, float]:
    """`test_tta_accuracy` and `test_tta_loss` of the averaged predictions; {} without views."""
    if views is None:
        return {}
    correct, loss, count = 0, 0.0, 0
    for images, labels in views:
        labels = labels.numpy()
        outputs = keras.tree.flatten(model.predict_on_batch(images))[0]  # main output first
        probabilities = np.asarray(outputs, np.float64).reshape(-1, *labels.shape).mean(axis=0)
        correct += int(np.sum(probabilities.argmax(axis=1) == labels.argmax(axis=1)))
        clipped = np.clip(probabilities, keras.config.epsilon(), 1.0)  # as Keras's loss clips
        loss -= float(np.sum(labels * np.log(clipped)))
        count += len(labels)
    return {"test_tta_accuracy": correct / count, "test_tta_loss": loss / count}
