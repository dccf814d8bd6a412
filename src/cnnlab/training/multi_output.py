"""Training a model with auxiliary classifiers (GoogLeNet, Inception v2 and v3): a label for
every output, and the main output's metrics under the names every other model's have."""

import keras

from cnnlab import models


def compile_arguments(model: keras.Model, loss, metric) -> dict:
    """`compile`'s loss, loss weights and metrics: a model with auxiliary classifiers has the loss
    on every output, weighted (`models.loss_weights`), and the metric on its main output."""
    weights = models.loss_weights(model)
    if not weights:
        return {"loss": loss, "loss_weights": None, "metrics": [metric]}
    return {
        "loss": dict.fromkeys(weights, loss),
        "loss_weights": weights,
        "metrics": {models.MAIN_OUTPUT: [metric]},
    }


def label_every_output(dataset, model: keras.Model):
    """(images, labels) -> (images, {output: labels}) for a model with auxiliary classifiers."""
    outputs = list(models.loss_weights(model))
    if dataset is None or not outputs:
        return dataset
    return dataset.map(lambda images, labels: (images, dict.fromkeys(outputs, labels)))


def main_output_names(logs: dict) -> dict:
    """Name the main output's accuracy of a multi-output model `accuracy`, like every model's
    (Keras calls it `predictions_accuracy`); the auxiliary losses keep their `aux1_loss` names."""
    prefixed = f"{models.MAIN_OUTPUT}_accuracy"
    for key in [k for k in logs if k.endswith(prefixed)]:
        logs[key.replace(prefixed, "accuracy")] = logs.pop(key)
    return logs


class MainOutputMetricNames(keras.callbacks.Callback):
    """Renames the epoch logs in place, before the callbacks after it (tracking, History) see them."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs:
            main_output_names(logs)
