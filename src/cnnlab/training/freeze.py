"""`model.freeze` and `trainer.unfreeze_at_epoch`: the two phases of Keras's fine-tuning guide.

Frozen layers keep their weights, and a frozen batch norm runs in inference mode (Keras 3 runs
any BatchNormalization with `trainable=False` so), so its statistics do not drift while the new
head trains. `UnfreezeAt` starts the second phase in the same run: the frozen layers train
again, at the learning rate times `trainer.unfreeze_lr_factor`.
"""

import logging
from collections.abc import Sequence

import keras

from cnnlab.config.training import TrainerConfig
from cnnlab.errors import ConfigError
from cnnlab.models.transfer import is_classifier, weight_layers
from cnnlab.training.schedules import EpochSchedule

log = logging.getLogger(__name__)

FREEZE_WORDS = ("none", "backbone")
LISTED_STAGES = 8  # an error names the first few stages


def layers_to_freeze(
    model: keras.Model, freeze: str, loaded: Sequence[str] | None
) -> list[keras.layers.Layer]:
    """The layers with weights that `model.freeze` names: none; `backbone`, the layers a source
    loaded but the classifier (without a source, all but the classifier); or every layer up to
    and including a layer or the last layer of a stage (`block3`: up to `block3_pool`)."""
    layers = weight_layers(model)
    if freeze == "none":
        return []
    if freeze == "backbone":
        kept = set(loaded) if loaded is not None else {layer.name for layer in layers}
        return [layer for layer in layers if layer.name in kept and not is_classifier(layer)]
    named = [
        index
        for index, layer in enumerate(model.layers)
        if layer.name == freeze or layer.name.startswith(f"{freeze}_")
    ]
    if not named:
        stages = list(dict.fromkeys(layer.name.split("_")[0] for layer in layers))
        shown = ", ".join(stages[:LISTED_STAGES]) + (", ..." if len(stages) > LISTED_STAGES else "")
        raise ConfigError(
            f"model.freeze={freeze!r} is invalid: expected none, backbone, or a layer or stage "
            f"of model={model.name} (stages: {shown})"
        )
    return [layer for layer in model.layers[: named[-1] + 1] if layer.weights]


def freeze(model: keras.Model, layers: Sequence[keras.layers.Layer], unfreezes: bool) -> None:
    """Freeze `layers`. A model that `unfreezes` later has its optimizer built for every
    variable first: Keras's optimizers refuse variables they were not built with."""
    if unfreezes:
        model.optimizer.build(model.trainable_variables)
    for layer in layers:
        layer.trainable = False
    if layers:
        count = sum(int(w.numpy().size) for layer in layers for w in layer.weights)
        log.info(
            "model.freeze: %d layers frozen (%s weights), up to %s",
            len(layers),
            f"{count:,}",
            layers[-1].name,
        )


class UnfreezeAt(keras.callbacks.Callback):
    """At the start of epoch `epoch` (0-based: after `epoch` epochs of training the head),
    unfreeze `layers` and multiply the learning rate by `factor` (Keras's fine-tuning guide:
    the whole model, at a low rate). A resumed run past that epoch unfreezes at its first."""

    def __init__(
        self,
        layers: Sequence[keras.layers.Layer],
        epoch: int,
        factor: float,
        schedule: EpochSchedule,
    ):
        super().__init__()
        self.layers, self.epoch, self.factor, self.schedule = list(layers), epoch, factor, schedule
        self.done = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.done or epoch < self.epoch:
            return
        for layer in self.layers:
            layer.trainable = True
        self.schedule.scale.assign(float(self.schedule.scale.numpy()) * self.factor)
        self.model.make_train_function(force=True)  # retrace: the trainable variables changed
        self.done = True
        log.info(
            "epoch %d: %d layers unfrozen, learning rate x %g",
            epoch + 1,
            len(self.layers),
            self.factor,
        )


def freeze_for_fine_tuning(
    model: keras.Model,
    layers: Sequence[keras.layers.Layer],
    trainer: TrainerConfig,
    schedule: EpochSchedule,
) -> list[keras.callbacks.Callback]:
    """Freeze `layers`; return the callback that unfreezes them at `trainer.unfreeze_at_epoch`
    (none when it is null)."""
    epoch = trainer.unfreeze_at_epoch
    freeze(model, layers, unfreezes=epoch is not None)
    if epoch is None:
        return []
    return [UnfreezeAt(layers, epoch, trainer.unfreeze_lr_factor, schedule)]


def check_unfreeze(freeze_value: str, unfreeze_at_epoch: int | None, epochs: int) -> None:
    """`trainer.unfreeze_at_epoch` needs frozen layers and an epoch to unfreeze them at."""
    if unfreeze_at_epoch is None:
        return
    if freeze_value == "none":
        raise ConfigError(
            f"trainer.unfreeze_at_epoch={unfreeze_at_epoch} is invalid with model.freeze=none: "
            "expected model.freeze=backbone (or a layer or stage) to unfreeze"
        )
    if unfreeze_at_epoch >= epochs:
        raise ConfigError(
            f"trainer.unfreeze_at_epoch={unfreeze_at_epoch} is invalid: expected an epoch before "
            f"trainer.epochs={epochs}"
        )
