"""Starting a model from weights someone already trained, layer by layer.

A source's weights arrive as `LayerWeights`, {layer name: arrays}, in the names of the model
that receives them. `transfer_weights` copies every layer whose name and shapes match, leaves
the classifier new when the class count differs, and refuses any other layer that does not
fit. A model family may map its layers onto another's where the papers do (VGG's stage-wise
initialization, `cnnlab.models.vgg.STAGEWISE_LAYERS`).
"""

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import keras
import numpy as np

from cnnlab.errors import ConfigError
from cnnlab.models.vgg import stagewise_mapping

LayerWeights = dict[str, list[np.ndarray]]
CLASSIFIER_SUFFIX = "_logits"  # `softmax_classifier`'s Dense layers, main and auxiliary
LISTED_NEW = 6  # the log line names the first few layers left new


@dataclass(frozen=True)
class Transfer:
    """Which of the model's weight-bearing layers took the source's weights, which stayed new."""

    loaded: tuple[str, ...]
    new: tuple[str, ...]

    def summary(self) -> str:
        if not self.new:
            return f"all {len(self.loaded)} layers with weights loaded"
        shown = ", ".join(self.new[:LISTED_NEW]) + (", ..." if len(self.new) > LISTED_NEW else "")
        return f"{len(self.loaded)} layers loaded, {len(self.new)} left new ({shown})"


def weight_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if layer.weights]


def layer_weights(model: keras.Model) -> LayerWeights:
    """A model's weights by layer name (a `.keras` file's, a run's), looking into the models
    it nests (a logged model wraps the network in its preprocessing)."""
    weights: LayerWeights = {}
    for layer in weight_layers(model):
        if isinstance(layer, keras.Model):
            weights |= layer_weights(layer)
        else:
            weights[layer.name] = layer.get_weights()
    return weights


def is_classifier(layer: keras.layers.Layer) -> bool:
    return layer.name.endswith(CLASSIFIER_SUFFIX)


def layer_mapping(source: str, target: str) -> dict[str, str] | None:
    """{layer: source layer} where a model family maps another model onto its own (VGG's
    stage-wise initialization); None: by name."""
    return stagewise_mapping(source, target)


def transfer_weights(
    source: LayerWeights,
    model: keras.Model,
    key: str,
    mapping: Mapping[str, str] | None = None,
) -> Transfer:
    """Copy `source` into `model`: each layer from the source layer of its name, or with a
    `mapping` {model layer: source layer} from the layer it names (layers it omits stay new).

    `key` names the source in errors (`model.init_from='...'`). A classifier whose shapes differ
    (another class count) stays new; any other mismatch, or a source that fits no layer at
    all, raises ConfigError before training starts.
    """
    loaded, new = [], []
    for layer in weight_layers(model):
        name = mapping.get(layer.name) if mapping is not None else layer.name
        arrays = source.get(name) if name else None
        if arrays is None:
            new.append(layer.name)
            continue
        theirs = [tuple(a.shape) for a in arrays]
        ours = [tuple(w.shape) for w in layer.weights]
        if theirs != ours:
            if is_classifier(layer):
                new.append(layer.name)
                continue
            raise ConfigError(
                f"{key} is invalid: its layer {name} has weights of shapes {theirs}, "
                f"model={model.name}'s {layer.name} needs {ours} (expected a source of the same "
                "architecture and input channels)"
            )
        layer.set_weights(arrays)
        loaded.append(layer.name)
    if not loaded:
        raise ConfigError(
            f"{key} is invalid: none of its layers matches a layer of model={model.name} "
            "by name and shape (expected weights of this architecture)"
        )
    return Transfer(tuple(loaded), tuple(new))


def weights_file_layers(path: Path, model: keras.Model) -> LayerWeights:
    """A Keras 3 `.weights.h5` file's weights under `model`'s layer names.

    Keras names a layer in that file by its class and rank among the model's layers of that
    class (`layers/conv2d_1/vars/0`), not by its name, so the file fits the architecture that
    wrote it. Batch norm may be cnnlab's fused training layer or, in an exported model, Keras's.
    """
    with h5py.File(path, "r") as file:
        if "layers" not in file:
            raise ConfigError(
                f"model.init_from={str(path)!r} is invalid: expected a Keras 3 .weights.h5 file "
                "(Model.save_weights), it has no 'layers' group"
            )
        stored = file["layers"]
        fused = any(k.startswith("fused_batch_normalization") for k in stored)
        weights: LayerWeights = {}
        for layer, entry in saved_names(model, fused_batch_norm=fused).items():
            if entry in stored and len(stored[entry]["vars"]):
                variables = stored[entry]["vars"]
                weights[layer] = [np.asarray(variables[str(i)]) for i in range(len(variables))]
    return weights


def saved_names(model: keras.Model, fused_batch_norm: bool) -> dict[str, str]:
    """{layer name: its entry in a `.weights.h5` file}, numbered as Keras's saving_lib does."""
    seen: Counter[str] = Counter()
    names = {}
    for layer in model.layers:
        kind = snake_case(type(layer).__name__)
        if kind == "fused_batch_normalization" and not fused_batch_norm:
            kind = "batch_normalization"
        names[layer.name] = f"{kind}_{seen[kind]}" if seen[kind] else kind
        seen[kind] += 1
    return names


def snake_case(name: str) -> str:
    """`FusedBatchNormalization` -> `fused_batch_normalization` (keras.src.utils.naming's rule)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
